// Package icmpprobe is the ICMP probe (probes[].icmp): count echo requests
// to a host within the probe's deadline, and the replies' loss and round
// trip times checked, as blackbox_exporter's icmp prober does for one.
//
// It sends on an unprivileged datagram socket when the kernel allows one
// (the process's group within net.ipv4.ping_group_range), else on a raw
// socket (root or CAP_NET_RAW); a prober remembers which opened, and when
// neither does the reason says how to allow one.
package icmpprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"cel.dev/cel-go/cel"
	probing "github.com/prometheus-community/pro-bing"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/netaddr"
)

const (
	// minPayload is the smallest payload pro-bing sends: the send time
	// and a tracker that tells its replies apart.
	minPayload = 24
	// The interval between echo requests spreads them over half the time
	// left, within these bounds; past the deadline no more are sent.
	minInterval = 10 * time.Millisecond
	maxInterval = time.Second
	// noDeadline is the time a run without a deadline waits for replies
	// after its last request (the runner always sets one).
	noDeadline = time.Duration(config.DefaultTimeout)
)

// Prober pings one host.
type Prober struct {
	cfg      *config.ICMP
	resolver *net.Resolver
	words    netaddr.Wording
	sockets  sockets
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of cfg.
func New(cfg *config.ICMP) (*Prober, error) {
	words := netaddr.Wording{Literal: "host " + cfg.Host, Lookup: cfg.Host, Reason: lookupReason}
	return &Prober{cfg: cfg, resolver: net.DefaultResolver, words: words}, nil
}

// Facts are what an ICMP run found.
type Facts struct {
	Host string `json:"host"`
	// Address is the IP address pinged, once known.
	Address string `json:"address,omitempty"`
	// Socket is the kind of socket the requests went on, once one opened.
	Socket  Socket `json:"socket,omitempty"`
	Payload int    `json:"payload_bytes,omitempty"`
	// Count is the requests the probe asks for; Sent those sent before
	// the deadline; Received their replies.
	Count    int `json:"count"`
	Sent     int `json:"sent"`
	Received int `json:"received"`
	// Resolve is how long looking the host up took (zero for an IP
	// address); Setup opening the socket.
	Resolve time.Duration `json:"-"`
	Setup   time.Duration `json:"-"`
	RTT     RTT           `json:"-"`
	// HopLimit is the TTL (IPv4) or hop limit (IPv6) of the last reply,
	// or 0 when unknown.
	HopLimit int `json:"reply_hop_limit,omitempty"`
}

// RTT are the round trip times of the replies of a run.
type RTT struct {
	Min, Avg, Max, StdDev time.Duration
}

// Loss is the share of requests sent that got no reply, 0 to 1; 0 when
// none was sent.
func (f *Facts) Loss() float64 {
	if f.Sent == 0 {
		return 0
	}
	return float64(f.Sent-f.Received) / float64(f.Sent)
}

// Past keeps everything: a few numbers.
func (f *Facts) Past() probes.Facts {
	p := *f
	return &p
}

// MarshalJSON adds the loss and the timings in seconds.
func (f *Facts) MarshalJSON() ([]byte, error) {
	type plain Facts
	type rtt struct {
		Min    float64 `json:"min"`
		Avg    float64 `json:"avg"`
		Max    float64 `json:"max"`
		StdDev float64 `json:"stddev"`
	}
	out := struct {
		*plain
		Loss           float64 `json:"loss"`
		ResolveSeconds float64 `json:"resolve_seconds"`
		SetupSeconds   float64 `json:"setup_seconds"`
		RTTSeconds     *rtt    `json:"rtt_seconds,omitempty"`
	}{plain: (*plain)(f), Loss: f.Loss(), ResolveSeconds: f.Resolve.Seconds(), SetupSeconds: f.Setup.Seconds()}
	if f.Received > 0 {
		out.RTTSeconds = &rtt{f.RTT.Min.Seconds(), f.RTT.Avg.Seconds(), f.RTT.Max.Seconds(), f.RTT.StdDev.Seconds()}
	}
	return json.Marshal(out)
}

// Probe resolves the host, sends the echo requests and waits for their
// replies until all came or the deadline passed: down without any reply,
// else as the expressions say.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	f := &Facts{Host: p.cfg.Host, Count: p.cfg.Count, Payload: max(p.cfg.PayloadSize, minPayload)}
	res := probes.Result{Start: start, State: probes.Down, Facts: f}
	defer func() { res.Duration = time.Since(start) }()
	addr, err := p.resolve(ctx, f)
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	f.Address = addr.String()
	sock, err := p.sockets.get(addr.Is6())
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	if err := p.ping(ctx, f, addr, sock); err != nil {
		res.Reason = err.Error()
		return res
	}
	res.Duration = time.Since(start)
	if len(p.cfg.Assert) > 0 || len(p.cfg.DegradedIf) > 0 {
		res.Checks = exprcheck.Run(p.cfg.Assert, p.cfg.DegradedIf, vars(&res, f))
	}
	res.State, res.Reason = probes.Verdict(res.Checks)
	return res
}

// resolve returns the host's address of the probe's ip_protocol.
func (p *Prober) resolve(ctx context.Context, f *Facts) (netip.Addr, error) {
	h, err := netaddr.Resolve(ctx, p.resolver, p.cfg.IPProtocol, p.cfg.Host, p.words)
	f.Resolve = h.Lookup
	return h.IP, err
}

// lookupReason words a failed lookup without the resolver's address.
func lookupReason(ctx context.Context, err error) string {
	var de *net.DNSError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &de) && de.IsTimeout:
		return "timeout: no answer within the probe's timeout"
	case de != nil && de.IsNotFound:
		return "no such host"
	case de != nil:
		return de.Err
	}
	return err.Error()
}

// ping sends the requests on a socket of kind sock and records what came
// back in f; an error is a run that cannot be up.
func (p *Prober) ping(ctx context.Context, f *Facts, addr netip.Addr, sock Socket) error {
	budget := noDeadline + time.Duration(p.cfg.Count)*maxInterval
	if dl, ok := ctx.Deadline(); ok {
		budget = time.Until(dl)
	}
	if budget <= 0 || ctx.Err() != nil {
		return errors.New("timeout: the probe's timeout passed before the first echo request")
	}
	pg := probing.New(addr.String())
	pg.SetIPAddr(&net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()})
	pg.SetPrivileged(sock == Raw)
	pg.SetLogger(probing.NoopLogger{})
	pg.Count, pg.Size, pg.Timeout = p.cfg.Count, f.Payload, budget
	pg.Interval = interval(budget, p.cfg.Count)
	pg.RecordRtts, pg.RecordTTLs = false, false
	// OnSetup runs in this goroutine; the others in pro-bing's, which
	// RunWithContext waits for.
	var setup, first time.Time
	var sendErr error
	pg.OnSetup = func() { setup = time.Now() }
	pg.OnSend = func(*probing.Packet) {
		if first.IsZero() {
			first = time.Now()
		}
	}
	pg.OnSendError = func(_ *probing.Packet, err error) { sendErr = err }
	pg.OnRecv = func(pkt *probing.Packet) {
		if pkt.TTL > 0 {
			f.HopLimit = pkt.TTL
		}
	}
	begin := time.Now()
	err := pg.RunWithContext(ctx)
	end := time.Now()
	if setup.IsZero() {
		if denied(err) {
			p.sockets.forget(addr.Is6())
		}
		return fmt.Errorf("open a %s ICMP socket: %s", sock, sysReason(err))
	}
	f.Socket, f.Setup = sock, setup.Sub(begin)
	if first.IsZero() {
		first = setup
	}
	st := pg.Statistics()
	f.Sent, f.Received = st.PacketsSent, st.PacketsRecv
	f.RTT = RTT{Min: st.MinRtt, Avg: st.AvgRtt, Max: st.MaxRtt, StdDev: st.StdDevRtt}
	if err != nil && ctx.Err() == nil && sendErr == nil {
		sendErr = err
	}
	switch {
	case f.Sent == 0 && sendErr != nil:
		return fmt.Errorf("send an echo request to %s: %s", addr, sysReason(sendErr))
	case f.Received == 0:
		why := ""
		if sendErr != nil {
			why = " (" + sysReason(sendErr) + ")"
		}
		return fmt.Errorf("no echo reply from %s to %d request%s within %s%s",
			p.target(addr), f.Sent, probes.Plural(f.Sent), end.Sub(first).Round(time.Millisecond), why)
	}
	return nil
}

// interval spreads count requests over half the time left, within
// [minInterval, maxInterval].
func interval(budget time.Duration, count int) time.Duration {
	if count < 2 {
		return maxInterval
	}
	return min(maxInterval, max(minInterval, budget/2/time.Duration(count-1)))
}

// target is the host, and the address pinged when the host is a name.
func (p *Prober) target(addr netip.Addr) string {
	if p.cfg.Host == addr.String() {
		return p.cfg.Host
	}
	return p.cfg.Host + " (" + addr.String() + ")"
}

// vars are the variables of an ICMP probe's expressions.
func vars(res *probes.Result, f *Facts) cel.Activation {
	act, _ := cel.NewActivation(map[string]any{
		"duration": res.Duration, "sent": int64(f.Sent), "received": int64(f.Received), "loss": f.Loss(),
		"rtt": map[string]time.Duration{"min": f.RTT.Min, "avg": f.RTT.Avg, "max": f.RTT.Max, "stddev": f.RTT.StdDev},
	})
	return act
}
