package icmpprobe

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Kind is the ICMP probe (probes[].icmp).
func Kind() *probes.Kind {
	return &probes.Kind{
		Name:     "icmp",
		New:      func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.ICMP)) },
		Families: families(),
		Pairs:    pairs,
		ReportTarget: func(r *probes.Report, pc config.Probe) {
			c := pc.ICMP
			family := ""
			if c.IPProtocol != config.IPAny {
				family = " over " + string(c.IPProtocol)
			}
			r.Line("target", "ping %s%s, %d echo request%s of %d bytes", c.Host, family, c.Count, probes.Plural(c.Count), max(c.PayloadSize, minPayload))
		},
		ReportFacts: report,
	}
}

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

// phaseNames are the phases of probe_icmp_duration_seconds, as
// blackbox_exporter names them; rtt is the average round trip.
var phaseNames = [...]string{"resolve", "setup", "rtt"}

// statNames are the stat label's values of lookout_probe_icmp_rtt_seconds.
var statNames = [...]string{"min", "avg", "max", "stddev"}

func (f *Facts) phases() [len(phaseNames)]float64 {
	return [...]float64{f.Resolve.Seconds(), f.Setup.Seconds(), f.RTT.Avg.Seconds()}
}

func (f *Facts) stats() [len(statNames)]float64 {
	return [...]float64{f.RTT.Min.Seconds(), f.RTT.Avg.Seconds(), f.RTT.Max.Seconds(), f.RTT.StdDev.Seconds()}
}

// labels are a probe's pairs plus phase, and plus stat, built once.
type labels struct {
	phase [len(phaseNames)][]*dto.LabelPair
	stat  [len(statNames)][]*dto.LabelPair
}

func pairs(base []*dto.LabelPair) any {
	var ls labels
	probes.WithEach(ls.phase[:], base, "phase", phaseNames[:])
	probes.WithEach(ls.stat[:], base, "stat", statNames[:])
	return &ls
}

// families are blackbox_exporter's ICMP families, then Lookout's of the
// packets and round trips of a run of several requests.
func families() []probes.Family {
	// gauge samples every run, or with replied only a run that got a
	// reply.
	gauge := func(name, help string, replied bool, v func(*Facts) float64) probes.Family {
		return probes.Family{Name: name, Help: help,
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && (f.Received > 0 || !replied) {
					add(lp.Base, v(f))
				}
			}}
	}
	return []probes.Family{
		{Name: "probe_icmp_duration_seconds", Help: "Duration of each phase of the last ICMP run: resolve (the host's name), setup (the socket), rtt (the average round trip; 0 without a reply).", PerProbe: len(phaseNames),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil {
					return
				}
				ls := lp.Kind.(*labels)
				for i, v := range f.phases() {
					add(ls.phase[i], v)
				}
			}},
		{Name: "probe_icmp_reply_hop_limit", Help: "TTL (IPv4) or hop limit (IPv6) of the last echo reply.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.HopLimit > 0 {
					add(lp.Base, float64(f.HopLimit))
				}
			}},
		gauge("lookout_probe_icmp_packets_sent", "Echo requests the last ICMP run sent.", false,
			func(f *Facts) float64 { return float64(f.Sent) }),
		gauge("lookout_probe_icmp_packets_received", "Echo replies the last ICMP run received.", false,
			func(f *Facts) float64 { return float64(f.Received) }),
		{Name: "lookout_probe_icmp_packet_loss_ratio", Help: "Share of the last ICMP run's echo requests that got no reply, 0 to 1.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Sent > 0 {
					add(lp.Base, f.Loss())
				}
			}},
		{Name: "lookout_probe_icmp_rtt_seconds", Help: "Round trip times of the last ICMP run's replies: min, avg, max and stddev.", PerProbe: len(statNames),
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				f := facts(pf)
				if f == nil || f.Received == 0 {
					return
				}
				ls := lp.Kind.(*labels)
				for i, v := range f.stats() {
					add(ls.stat[i], v)
				}
			}},
	}
}

// report writes the address, the socket, the packets and round trips.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil || f.Address == "" {
		return
	}
	if f.Address != f.Host {
		r.Line("address", "%s (resolved in %s)", f.Address, probes.Round(f.Resolve))
	}
	if f.Socket == 0 {
		return
	}
	r.Line("socket", "%s", socketText(f.Socket))
	sent := fmt.Sprint(f.Sent)
	if f.Sent < f.Count {
		sent = fmt.Sprintf("%d of %d (the timeout came first)", f.Sent, f.Count)
	}
	r.Line("packets", "%s sent, %d received, %s loss", sent, f.Received, percent(f.Loss()))
	if f.Received > 0 {
		r.Line("rtt", "min %s, avg %s, max %s, stddev %s", probes.Round(f.RTT.Min), probes.Round(f.RTT.Avg), probes.Round(f.RTT.Max), probes.Round(f.RTT.StdDev))
	}
	if f.HopLimit > 0 {
		r.Line("hop limit", "%d", f.HopLimit)
	}
}

func socketText(s Socket) string {
	if s == Datagram {
		return "datagram (unprivileged, allowed by net.ipv4.ping_group_range)"
	}
	return "raw (root or CAP_NET_RAW)"
}

// percent writes a ratio as a percentage, to one decimal when not whole.
func percent(ratio float64) string {
	p := ratio * 100
	if p == float64(int(p)) {
		return fmt.Sprintf("%d%%", int(p))
	}
	return fmt.Sprintf("%.1f%%", p)
}
