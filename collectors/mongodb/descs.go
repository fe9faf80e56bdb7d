package mongodb

import "github.com/prometheus/client_golang/prometheus"

// descs are the collector's metric descriptors. Every label has a bounded
// set of values: target is a configured name, collector and feature are
// constants of this package, version is one per target.
type descs struct {
	up                 *prometheus.Desc
	versionInfo        *prometheus.Desc
	uptime             *prometheus.Desc
	connections        *prometheus.Desc
	connectionsCreated *prometheus.Desc
	opcounters         *prometheus.Desc
	duration           *prometheus.Desc
	lastSuccess        *prometheus.Desc
	errors             *prometheus.Desc
	featureSupported   *prometheus.Desc
}

func newDescs() *descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"target"}, labels...), nil)
	}
	return &descs{
		up:                 d("mongodb_up", "1 when the last pass reached the server and it answered ping."),
		versionInfo:        d("mongodb_version_info", "The server's version from buildInfo; server is mongodb or ferretdb.", "version", "server"),
		uptime:             d("mongodb_uptime_seconds", "Seconds since the server started (serverStatus uptime)."),
		connections:        d("mongodb_connections", "Incoming connections by state (serverStatus connections).", "state"),
		connectionsCreated: d("mongodb_connections_created_total", "Incoming connections accepted since the server started (serverStatus connections.totalCreated)."),
		opcounters:         d("mongodb_op_counters_total", "Operations since the server started, by type (serverStatus opcounters).", "type"),
		duration:           d("lookout_collector_duration_seconds", "How long the collector took in the last pass.", "collector"),
		lastSuccess:        d("lookout_collector_last_success_timestamp_seconds", "When the collector last finished without error.", "collector"),
		errors:             d("lookout_collector_errors_total", "Passes in which the collector failed.", "collector"),
		featureSupported: d("lookout_mongodb_feature_supported",
			"0 when the server lacks a command or field that a collector uses; its metrics are then left out.", "feature"),
	}
}

func (d *descs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{
		d.up, d.versionInfo, d.uptime, d.connections, d.connectionsCreated, d.opcounters,
		d.duration, d.lastSuccess, d.errors, d.featureSupported,
	} {
		ch <- x
	}
}
