package icmpprobe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/icmp"
)

// Socket is the kind of ICMP socket a run sends its echo requests on.
type Socket uint32

// Sockets, in the order a prober tries them.
const (
	// Datagram is the unprivileged ICMP socket (SOCK_DGRAM,
	// IPPROTO_ICMP) Linux allows to the groups within
	// net.ipv4.ping_group_range (for ICMPv6 too).
	Datagram Socket = iota + 1
	// Raw is the raw ICMP socket, for root or CAP_NET_RAW.
	Raw
)

// pingGroupRange is the sysctl that allows datagram ICMP sockets.
const pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

func (s Socket) String() string {
	switch s {
	case Datagram:
		return "datagram"
	case Raw:
		return "raw"
	}
	return "none"
}

// MarshalText writes the socket's name in JSON.
func (s Socket) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// network is the network of icmp.ListenPacket (and pro-bing's) for the
// socket over IPv4 or IPv6.
func (s Socket) network(v6 bool) string {
	switch {
	case s == Datagram && v6:
		return "udp6"
	case s == Datagram:
		return "udp4"
	case v6:
		return "ip6:ipv6-icmp"
	}
	return "ip4:icmp"
}

// sockets remembers, per address family, the socket a prober's runs use
// once one could be opened; until then (and after it stops working) each
// run tries datagram, then raw.
type sockets struct {
	chosen [2]atomic.Uint32 // IPv4, IPv6
}

// get returns the socket to send on for an address family, trying them
// when none is chosen yet.
func (s *sockets) get(v6 bool) (Socket, error) {
	c := &s.chosen[family(v6)]
	if k := Socket(c.Load()); k != 0 {
		return k, nil
	}
	k, err := choose(v6, tryOpen)
	if err == nil {
		c.Store(uint32(k))
	}
	return k, err
}

// forget drops the choice of an address family, so the next run tries
// again (the socket failed to open after all: a changed sysctl, a
// dropped capability).
func (s *sockets) forget(v6 bool) { s.chosen[family(v6)].Store(0) }

func family(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

// choose opens and closes a datagram socket, then a raw one, and returns
// the first that opened; open is tryOpen but for tests.
func choose(v6 bool, open func(Socket, bool) error) (Socket, error) {
	dgram := open(Datagram, v6)
	if dgram == nil {
		return Datagram, nil
	}
	raw := open(Raw, v6)
	if raw == nil {
		return Raw, nil
	}
	if denied(dgram) && denied(raw) {
		rng, err := os.ReadFile(pingGroupRange)
		return 0, errors.New(deniedReason(os.Getegid(), string(rng), err))
	}
	return 0, fmt.Errorf("cannot open an ICMP socket: datagram: %s; raw: %s", sysReason(dgram), sysReason(raw))
}

func tryOpen(s Socket, v6 bool) error {
	c, err := icmp.ListenPacket(s.network(v6), "")
	if err != nil {
		return err
	}
	return c.Close()
}

// denied is whether err is the kernel refusing a socket to this process.
func denied(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// deniedReason says why neither socket opened and how to allow one: gid
// is the process's group, rng the content of ping_group_range (or rngErr
// why it could not be read).
func deniedReason(gid int, rng string, rngErr error) string {
	if rngErr != nil {
		return fmt.Sprintf("cannot open an ICMP socket: datagram sockets need the group id %d within net.ipv4.ping_group_range (unreadable: %v), raw sockets need root or CAP_NET_RAW", gid, rngErr)
	}
	now := strings.Join(strings.Fields(rng), " ")
	if inRange(gid, now) {
		return fmt.Sprintf("cannot open an ICMP socket: datagram sockets were refused although the group id %d is within net.ipv4.ping_group_range (%q), raw sockets need root or CAP_NET_RAW", gid, now)
	}
	return fmt.Sprintf("cannot open an ICMP socket: datagram sockets need the group id %d within net.ipv4.ping_group_range (now %q; sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"), raw sockets need root or CAP_NET_RAW", gid, now)
}

// inRange is whether gid is within a ping_group_range of two numbers.
func inRange(gid int, rng string) bool {
	f := strings.Fields(rng)
	if len(f) != 2 {
		return false
	}
	lo, err1 := strconv.ParseInt(f[0], 10, 64)
	hi, err2 := strconv.ParseInt(f[1], 10, 64)
	return err1 == nil && err2 == nil && lo <= int64(gid) && int64(gid) <= hi
}

// sysReason words a socket error without the operation's address:
// "socket: address family not supported by protocol".
func sysReason(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
