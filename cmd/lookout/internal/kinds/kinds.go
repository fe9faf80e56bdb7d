// Package kinds is the table of every kind of probe Lookout runs: one
// line per kind, built by main and handed to the daemon. Adding a kind is
// a package under probes/, a section of config.Probe and a line here.
package kinds

import (
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/dnsprobe"
	"github.com/lookout-dev/lookout/probes/flowprobe"
	"github.com/lookout-dev/lookout/probes/grpcprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/icmpprobe"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
	"github.com/lookout-dev/lookout/probes/tlsprobe"
	"github.com/lookout-dev/lookout/probes/wsprobe"
)

// All returns every kind, in the order their metric families appear on
// /metrics. HTTP probes share transports; heartbeats' check-ins are in
// beats; browser probes share browser (nil: they cannot be built).
func All(transports *httpprobe.Transports, beats *heartbeat.Store, browser *browserprobe.Browser) probes.Kinds {
	return probes.Kinds{
		httpprobe.Kind(transports),
		tcpprobe.Kind(),
		tlsprobe.Kind(),
		dnsprobe.Kind(),
		icmpprobe.Kind(),
		grpcprobe.Kind(),
		wsprobe.Kind(),
		heartbeat.Kind(beats),
		flowprobe.Kind(transports),
		browserprobe.Kind(browser),
	}
}
