package mongodb

import "github.com/prometheus/client_golang/prometheus"

// descs are the collector's metric descriptors. Every label has a bounded
// set of values: target is a configured name, collector and feature are
// constants of this package, version is one per target.
//
// The counters Lookout keeps for a target (errors, pool) exist at 0 from
// when the target does (see startingMetrics). The others are the server's
// own, counted since it started or since an index's accesses.since:
// connectionsCreated and opcounters (all six types together) are there
// whenever serverStatus has them, and indexAccesses for each index and
// member a pass finds. Lookout cannot put those at 0 first: the server
// counted before Lookout looked, and a 0 would make increase() count
// every operation since the server started.
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

	poolOpen             *prometheus.Desc
	poolCheckedOut       *prometheus.Desc
	poolCheckouts        *prometheus.Desc
	poolCheckoutFailures *prometheus.Desc
	poolCleared          *prometheus.Desc
	poolCheckoutWait     *prometheus.Desc

	replsetMemberState  *prometheus.Desc
	replsetMemberHealth *prometheus.Desc
	replsetMemberLag    *prometheus.Desc
	replsetTerm         *prometheus.Desc
	replsetOplogWindow  *prometheus.Desc

	collectionsSkipped *prometheus.Desc
	indexSize          *prometheus.Desc
	indexAccesses      *prometheus.Desc
	indexAccessesSince *prometheus.Desc
	indexUnused        *prometheus.Desc
	indexRedundant     *prometheus.Desc
	indexHidden        *prometheus.Desc
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

		poolOpen:             d("mongodb_pool_open_connections", "Connections open in Lookout's driver pool (created minus closed)."),
		poolCheckedOut:       d("mongodb_pool_checked_out_connections", "Connections of Lookout's driver pool in use (checked out minus checked in)."),
		poolCheckouts:        d("mongodb_pool_checkouts_total", "Successful connection checkouts from Lookout's driver pool."),
		poolCheckoutFailures: d("mongodb_pool_checkout_failures_total", "Connection checkouts from Lookout's driver pool that failed."),
		poolCleared:          d("mongodb_pool_cleared_total", "Times the driver cleared Lookout's pool (the server was marked unknown)."),
		poolCheckoutWait:     d("mongodb_pool_checkout_wait_seconds", "Time from the start of a successful checkout to the connection being handed out."),

		replsetMemberState:  d("mongodb_replset_member_state", "1 for the member's state (replSetGetStatus members.state), 0 for the other states.", "member", "state"),
		replsetMemberHealth: d("mongodb_replset_member_health", "1 when the member is up, 0 when down (replSetGetStatus members.health).", "member"),
		replsetMemberLag:    d("mongodb_replset_member_replication_lag_seconds", "The primary's optimeDate minus the member's; healthy members with an optime, when there is a primary.", "member"),
		replsetTerm:         d("mongodb_replset_term", "The election term (replSetGetStatus term)."),
		replsetOplogWindow:  d("mongodb_replset_oplog_window_seconds", "Time between the first and the last entry of local.oplog.rs."),

		collectionsSkipped: d("lookout_mongodb_collections_skipped", "Collections of the selected databases left out of the last pass because of max_collections."),
		indexSize:          d("mongodb_index_size_bytes", "Size of the index ($collStats storageStats.indexSizes).", "database", "collection", "index"),
		indexAccesses: d("mongodb_index_accesses_total",
			"Operations that used the index on the member since accesses.since ($indexStats accesses.ops).", "database", "collection", "index", "member"),
		indexAccessesSince: d("mongodb_index_accesses_since_timestamp_seconds",
			"When the member started counting accesses to the index: its start or the index's creation ($indexStats accesses.since).", "database", "collection", "index", "member"),
		indexUnused: d("mongodb_index_unused",
			"1 when no member counted an access to the index for unused_index_after; only where $indexStats is readable on every member.", "database", "collection", "index"),
		indexRedundant: d("mongodb_index_redundant",
			"1 when the index's key pattern is a prefix of another index's with the same options; never for unique or _id indexes.", "database", "collection", "index"),
		indexHidden: d("mongodb_index_hidden", "1 when the index is hidden from the query planner (listIndexes hidden).", "database", "collection", "index"),
	}
}

func (d *descs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{
		d.up, d.versionInfo, d.uptime, d.connections, d.connectionsCreated, d.opcounters,
		d.duration, d.lastSuccess, d.errors, d.featureSupported,
		d.poolOpen, d.poolCheckedOut, d.poolCheckouts, d.poolCheckoutFailures, d.poolCleared, d.poolCheckoutWait,
		d.replsetMemberState, d.replsetMemberHealth, d.replsetMemberLag, d.replsetTerm, d.replsetOplogWindow,
		d.collectionsSkipped, d.indexSize, d.indexAccesses, d.indexAccessesSince, d.indexUnused, d.indexRedundant, d.indexHidden,
	} {
		ch <- x
	}
}
