package icmpprobe_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/icmpprobe"
)

// onLockedThread runs setup, then fn, on a thread of their own that is
// thrown away after (its network namespace or capabilities changed). A
// setup error skips the test.
func onLockedThread(t *testing.T, setup func() error, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := setup(); err != nil {
			errc <- err
			return
		}
		defer close(errc)
		fn()
	}()
	if err := <-errc; err != nil {
		t.Skip(err)
	}
}

// ownLoopback moves the calling thread into a network namespace of its
// own with its loopback up, then sets sysctls of that namespace (names
// under /proc/sys/net/) to values: nothing leaves the namespace, and the
// machine's own sysctls stay as they are.
func ownLoopback(sysctls ...string) func() error {
	return func() error {
		before, _ := os.Readlink("/proc/thread-self/ns/net")
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			return fmt.Errorf("no network namespace of the test's own (needs CAP_SYS_ADMIN): unshare: %w", err)
		}
		if after, err := os.Readlink("/proc/thread-self/ns/net"); err != nil || after == before {
			return fmt.Errorf("unshare left the thread in network namespace %s (%v)", after, err)
		}
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
		if err != nil {
			return fmt.Errorf("socket for ioctl: %w", err)
		}
		defer syscall.Close(fd)
		var ifr [40]byte // struct ifreq: the name, then the flags
		copy(ifr[:], "lo")
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
			return fmt.Errorf("flags of lo: %w", e)
		}
		*(*uint16)(unsafe.Pointer(&ifr[16])) |= syscall.IFF_UP
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
			return fmt.Errorf("set lo up: %w", e)
		}
		for i := 0; i+1 < len(sysctls); i += 2 {
			if err := os.WriteFile("/proc/sys/net/"+sysctls[i], []byte(sysctls[i+1]), 0); err != nil {
				return fmt.Errorf("sysctl of the test's namespace: %w", err)
			}
		}
		return nil
	}
}

// TestDatagram: where net.ipv4.ping_group_range holds this process's
// group (a namespace of the test's own that says so), the probe pings
// over a datagram socket, though it may open raw ones too.
func TestDatagram(t *testing.T) {
	r := runner(t, "2s", `{host: 127.0.0.1, count: 3}`)
	var res probes.Result
	onLockedThread(t, ownLoopback("ipv4/ping_group_range", "0 2147483647"), func() { res = r.Probe(t.Context()) })
	f := factsOf(t, res)
	if res.State != probes.Up || f.Socket != icmpprobe.Datagram || f.Sent != 3 || f.Received != 3 || f.RTT.Avg <= 0 || f.HopLimit <= 0 {
		t.Errorf("state %s %q, facts %+v; want up over a datagram socket, 3 replies with their TTL", res.State, res.Reason, f)
	}
}

// TestNoReply: echo requests that get no reply within the timeout are
// down, naming the host and how many went unanswered; the families tell
// the loss and no round trip.
func TestNoReply(t *testing.T) {
	r := runner(t, "500ms", `{host: 127.0.0.1, count: 3, assert: ['loss < 1.0']}`)
	var res probes.Result
	// 127.0.0.1 gets the requests and never replies.
	onLockedThread(t, ownLoopback("ipv4/icmp_echo_ignore_all", "1"), func() { res = r.Probe(t.Context()) })
	f := factsOf(t, res)
	t.Logf("%s: %s", res.State, res.Reason)
	if res.State != probes.Down || !strings.HasPrefix(res.Reason, "no echo reply from 127.0.0.1 to 3 requests within ") || len(res.Checks) != 0 {
		t.Errorf("state %s, reason %q, checks %v; want down, no echo reply to 3 requests, before any assertion", res.State, res.Reason, res.Checks)
	}
	if f.Sent != 3 || f.Received != 0 || f.Loss() != 1 || f.HopLimit != 0 || f.RTT != (icmpprobe.RTT{}) {
		t.Errorf("facts %+v; want 3 sent, none received", f)
	}
	got := gather(t, r)
	if got["probe_success"] != 0 || got["lookout_probe_icmp_packet_loss_ratio"] != 1 || got["lookout_probe_icmp_packets_sent"] != 3 || got["probe_icmp_duration_seconds{rtt}"] != 0 {
		t.Errorf("metrics %v; want probe_success 0, loss 1, 3 sent, rtt phase 0", got)
	}
	for _, name := range []string{"lookout_probe_icmp_rtt_seconds{avg}", "probe_icmp_reply_hop_limit"} {
		if _, ok := got[name]; ok {
			t.Errorf("no reply, yet %s", name)
		}
	}
}

// withoutNetRaw drops CAP_NET_RAW from the calling thread's effective
// capabilities, as a process without it runs.
func withoutNetRaw() error {
	const capNetRaw = 13
	hdr := struct {
		version uint32
		pid     int32
	}{version: 0x20080522} // _LINUX_CAPABILITY_VERSION_3
	var data [2]struct{ effective, permitted, inheritable uint32 }
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capget: %w", e)
	}
	data[0].effective &^= 1 << capNetRaw
	if _, _, e := syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// TestWithoutNetRaw: without CAP_NET_RAW, a datagram socket when the
// kernel allows this process's group one, else down saying how to allow
// either.
func TestWithoutNetRaw(t *testing.T) {
	r := runner(t, "2s", `{host: 127.0.0.1, count: 2}`)
	var res probes.Result
	onLockedThread(t, withoutNetRaw, func() { res = r.Probe(t.Context()) })
	t.Logf("%s: %s", res.State, res.Reason)
	f := res.Facts.(*icmpprobe.Facts)
	rng, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	if allowsGroup(t, strings.Fields(string(rng))) {
		if res.State != probes.Up || f.Socket != icmpprobe.Datagram || f.Received != 2 {
			t.Errorf("state %s %q, facts %+v; want up over a datagram socket (ping_group_range %q)", res.State, res.Reason, f, rng)
		}
		return
	}
	want := fmt.Sprintf(`cannot open an ICMP socket: datagram sockets need the group id %d within net.ipv4.ping_group_range (now %q; sysctl -w net.ipv4.ping_group_range="0 2147483647"), raw sockets need root or CAP_NET_RAW`,
		os.Getegid(), strings.Join(strings.Fields(string(rng)), " "))
	if res.State != probes.Down || res.Reason != want || f.Socket != 0 || f.Sent != 0 {
		t.Errorf("state %s, reason %q, facts %+v; want down, %q", res.State, res.Reason, f, want)
	}
}

// allowsGroup is whether a ping_group_range holds one of this process's
// groups.
func allowsGroup(t *testing.T, rng []string) bool {
	t.Helper()
	if len(rng) != 2 {
		t.Fatalf("ping_group_range %q", rng)
	}
	lo, _ := strconv.Atoi(rng[0])
	hi, _ := strconv.Atoi(rng[1])
	groups, _ := os.Getgroups()
	for _, g := range append(groups, os.Getegid()) {
		if lo <= g && g <= hi {
			return true
		}
	}
	return false
}
