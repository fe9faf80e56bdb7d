package wsprobe

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// Kind is the WebSocket probe (probes[].websocket).
func Kind() *probes.Kind {
	return &probes.Kind{
		Name:         "websocket",
		New:          func(pc config.Probe) (probes.Prober, error) { return probes.Built(New(pc.WebSocket)) },
		Families:     families(),
		ReportTarget: reportTarget,
		ReportFacts:  report,
	}
}

func facts(pf probes.Facts) *Facts {
	f, _ := pf.(*Facts)
	return f
}

func families() []probes.Family {
	fs := []probes.Family{
		tcpprobe.FailedRegexFamily(), // one family with tcp's
		{Name: "lookout_probe_websocket_handshake_seconds", Help: "How long the WebSocket handshake of the last run took: connect, TLS and the HTTP upgrade; absent when it failed.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Handshake > 0 {
					add(lp.Base, f.Handshake.Seconds())
				}
			}},
		{Name: "lookout_probe_websocket_status_code", Help: "HTTP status of the last WebSocket upgrade's response (101 when it upgraded); absent when none came.",
			Samples: func(pf probes.Facts, lp probes.Labels, add func([]*dto.LabelPair, float64)) {
				if f := facts(pf); f != nil && f.Status != 0 {
					add(lp.Base, float64(f.Status))
				}
			}},
	}
	return append(fs, tlsinfo.Families()...)
}

func reportTarget(r *probes.Report, pc config.Probe) {
	shown := "(an invalid URL)"
	if u, err := url.Parse(pc.WebSocket.URL); err == nil {
		shown = shownURL(u)
	}
	if sp := pc.WebSocket.Subprotocols; len(sp) > 0 {
		shown += ", subprotocols " + strings.Join(sp, ", ")
	}
	r.Line("target", "%s", shown)
}

// report writes the handshake, the upgrade's status, the first message
// and the TLS connection.
func report(r *probes.Report, pf probes.Facts) {
	f := facts(pf)
	if f == nil {
		return
	}
	if f.Handshake > 0 {
		r.Line("handshake", "%s", probes.Round(f.Handshake))
	}
	if f.Status != 0 {
		status := strconv.Itoa(f.Status)
		if f.Subprotocol != "" {
			status += ", subprotocol " + f.Subprotocol
		}
		r.Line("status", "%s", status)
	}
	if f.MessageBytes > 0 {
		size := fmt.Sprintf("%d bytes", f.MessageBytes)
		if f.Truncated {
			size = fmt.Sprintf("the first %d bytes of a longer one", f.MessageBytes)
		}
		r.Line("response", "%q (the first message: %s)", exprcheck.Truncate(f.Response, 120), size)
	}
	if f.TLS != nil {
		f.TLS.Report(r)
	}
}
