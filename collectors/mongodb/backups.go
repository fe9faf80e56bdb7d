package mongodb

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/lookout-dev/lookout/config"
)

// Backup freshness (mongodb[].backups): each source is a sub-collector of
// the pass, mongodb_backup_NAME, with its own duration, last success and
// errors, and its own timeout (the target's): a folder, a bucket or the
// Atlas API is read even while the server is down. A source that cannot be read keeps its last report, emitted
// again, so time keeps counting against its last backup and its alerts
// stay true. The mongodb_backups step after them sets what the config
// promises (the newest backup the schedule wants by now, the grace, the
// retention, the restore drills' age) and compares each copy with what
// it copies. Labels: target, source (a configured name), type (a fixed
// set per kind); never a backup's name.

// drillSource is the source label of the restore drills a heartbeat
// probe reports (restore_test.heartbeat).
const drillSource = "heartbeat"

// backupStuckAfter is how old a running backup's heartbeat may be: PBM's
// agents beat every few seconds.
const backupStuckAfter = 30 * time.Second

// backupReport is what one read of a source found.
type backupReport struct {
	types      []backupType
	restorable int
	oldest     time.Time // the oldest restorable backup's restore point; zero: none
	pitrEnd    time.Time // the newest PITR chunk's end; zero: no PITR
	restored   time.Time // the last successful restore's end; zero: none known
	// hasCopy says the source keeps its own off-site copy (Atlas's copy
	// to other regions), and copied is the newest backup in it (zero:
	// none yet).
	hasCopy bool
	copied  time.Time
	// recent are the newest backups, newest first, at most recentBackups,
	// and nextPlanned when the source's own schedule takes the next one
	// (Atlas's policy; zero: unknown), for the API.
	recent      []BackupEntry
	nextPlanned time.Time
}

// recentBackups is how many of a source's newest backups the API shows.
const recentBackups = 10

// BackupEntry is one backup as GET /api/v1/mongodb/backups shows it.
type BackupEntry struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	Status string    `json:"status"` // done, error, running, …; a dump file or object: done
	Start  time.Time `json:"start,omitzero"`
	End    time.Time `json:"end,omitzero"` // when it completed or failed (a dump: its modification time)
	Size   int64     `json:"size_bytes"`
	Error  string    `json:"error,omitempty"`
	// RestorePoint is the newest write a restore of it brings back (PBM's
	// last_write_ts).
	RestorePoint time.Time `json:"restore_point,omitzero"`
}

// BackupSourceStatus is one backup source of a target, as the API shows
// it: its last successful read's newest backups, and the last read's
// error.
type BackupSourceStatus struct {
	Source  string        `json:"source"`
	Kind    string        `json:"kind"`
	CopyOf  string        `json:"copy_of,omitempty"`
	ReadAt  time.Time     `json:"read_at,omitzero"` // the last successful read
	Error   string        `json:"error,omitempty"`  // the last read's, when it failed
	Backups []BackupEntry `json:"backups"`
	// NextPlanned is when the source's own schedule takes the next backup
	// (Atlas's backup policy).
	NextPlanned time.Time `json:"next_planned,omitzero"`
}

// backupType is a source's backups of one type (PBM's logical, physical,
// incremental; a dump).
type backupType struct {
	name        string
	lastSuccess time.Time // zero: none
	size        int64
	prevSize    int64 // the success before the last; -1: none
	duration    time.Duration
	hasDuration bool
	running     bool
	stuck       bool
	failures    int    // failed backups newer than the last success
	lastError   string // the newest failure's error
}

// newest is the newest success of any type.
func (r *backupReport) newest() time.Time {
	var t time.Time
	for _, bt := range r.types {
		if bt.lastSuccess.After(t) {
			t = bt.lastSuccess
		}
	}
	return t
}

// backupSource is one configured source and its last report.
type backupSource struct {
	cfg  config.BackupSource
	read func(ctx context.Context, client *mongo.Client, now time.Time) (*backupReport, error)
	last *backupReport // touched by the pass's goroutine only

	mu     sync.Mutex // guards the API's view
	status BackupSourceStatus
}

// record keeps a read's outcome for the API.
func (src *backupSource) record(rep *backupReport, err error, at time.Time, r redactor) {
	src.mu.Lock()
	defer src.mu.Unlock()
	src.status.Error = ""
	if err != nil {
		src.status.Error = r.err(err).Error()
		return
	}
	src.status.ReadAt = at
	src.status.Backups = rep.recent
	src.status.NextPlanned = rep.nextPlanned
}

// backupStep reads a target's backup sources.
type backupStep struct {
	cfg     *config.Backups
	sources []*backupSource
	descs   *backupDescs
	now     func() time.Time
	redact  redactor
	// drill is when the heartbeat probe named by restore_test.heartbeat
	// last succeeded; nil when no heartbeats are known.
	drill func(name string) (time.Time, bool)
}

// newBackupStep returns the step; the Collector sets its redactor.
func newBackupStep(cfg *config.Backups, now func() time.Time) *backupStep {
	s := &backupStep{cfg: cfg, descs: newBackupDescs(), now: now}
	for _, sc := range cfg.Sources {
		src := &backupSource{cfg: sc, status: BackupSourceStatus{Source: sc.Name, Kind: sc.Kind, CopyOf: sc.CopyOf(), Backups: []BackupEntry{}}}
		switch sc.Kind {
		case config.BackupPBM:
			src.read = readPBM
		case config.BackupAtlas:
			src.read = atlasReader(sc.Atlas)
		case config.BackupFiles:
			src.read = filesReader(sc.Files)
		case config.BackupS3:
			src.read = s3Reader(sc.S3)
		default:
			src.read = unsupportedSource(sc.Kind)
		}
		src.last = neverRead(sc.Kind)
		s.sources = append(s.sources, src)
	}
	return s
}

// subCollectors are the step's parts: one per source, then the
// comparison with the config.
func (s *backupStep) subCollectors() []subCollector {
	var subs []subCollector
	for _, src := range s.sources {
		subs = append(subs, subCollector{name: "mongodb_backup_" + src.cfg.Name, collect: func(ctx context.Context, client *mongo.Client, p *pass) error {
			rep, err := src.read(ctx, client, s.now())
			if err == nil {
				src.last = rep
			}
			src.record(rep, err, s.now(), s.redact)
			s.emit(p, src)
			return err
		}, own: true})
	}
	return append(subs, subCollector{name: "mongodb_backups", collect: s.expectations})
}

// status is each source's view for the API, in config order.
func (s *backupStep) status() []BackupSourceStatus {
	out := make([]BackupSourceStatus, len(s.sources))
	for i, src := range s.sources {
		src.mu.Lock()
		out[i] = src.status
		src.mu.Unlock()
	}
	return out
}

// neverRead is a source's report before its first successful read: no
// success of any of its kind's types, so MongoDBBackupStale fires for a
// source that was never read, as for one that has no backup.
func neverRead(kind string) *backupReport {
	types := []string{dumpType}
	switch kind {
	case config.BackupPBM:
		types = pbmTypes
	case config.BackupAtlas:
		types = []string{atlasSnapshotType}
	}
	r := &backupReport{}
	for _, t := range types {
		r.types = append(r.types, backupType{name: t, prevSize: -1})
	}
	return r
}

// emit adds src's last report to p.
func (s *backupStep) emit(p *pass, src *backupSource) {
	r, d, name := src.last, s.descs, src.cfg.Name
	for _, t := range r.types {
		p.gauge(d.lastSuccess, seconds(t.lastSuccess), name, t.name)
		p.gauge(d.running, boolValue(t.running), name, t.name)
		p.gauge(d.stuck, boolValue(t.stuck), name, t.name)
		p.gauge(d.failures, float64(t.failures), name, t.name)
		if t.lastSuccess.IsZero() {
			continue
		}
		p.gauge(d.lastSize, float64(t.size), name, t.name)
		if t.prevSize >= 0 {
			p.gauge(d.prevSize, float64(t.prevSize), name, t.name)
		}
		if t.hasDuration {
			p.gauge(d.lastDuration, t.duration.Seconds(), name, t.name)
		}
	}
	p.gauge(d.restorable, float64(r.restorable), name)
	if !r.oldest.IsZero() {
		p.gauge(d.oldest, seconds(r.oldest), name)
	}
	if !r.pitrEnd.IsZero() {
		p.gauge(d.pitrLag, max(0, s.now().Sub(r.pitrEnd).Seconds()), name)
	}
	if src.cfg.Kind == config.BackupPBM && s.cfg.RestoreTest != nil {
		p.gauge(d.lastRestoreTest, seconds(r.restored), name)
	}
}

// expectations adds what the config promises, and each copy's newest
// backup under the name of the source it copies.
func (s *backupStep) expectations(_ context.Context, _ *mongo.Client, p *pass) error {
	d, now := s.descs, s.now()
	p.gauge(d.expectedSince, seconds(expectedSince(s.cfg.Expect, now)))
	p.gauge(d.grace, s.cfg.Expect.Grace.Std().Seconds())
	if s.cfg.Retention > 0 {
		p.gauge(d.retention, s.cfg.Retention.Std().Seconds())
	}
	if rt := s.cfg.RestoreTest; rt != nil {
		p.gauge(d.restoreMaxAge, rt.Every.Std().Seconds())
		if rt.Heartbeat != "" && s.drill != nil {
			at, _ := s.drill(rt.Heartbeat)
			p.gauge(d.lastRestoreTest, seconds(at), drillSource)
		}
	}
	for _, src := range s.sources {
		p.gauge(d.sourceInfo, 1, src.cfg.Name, src.cfg.Kind, src.cfg.CopyOf())
		switch of := src.cfg.CopyOf(); {
		case of != "":
			p.gauge(d.copyLastSuccess, seconds(src.last.newest()), of)
		case src.last.hasCopy:
			p.gauge(d.copyLastSuccess, seconds(src.last.copied), src.cfg.Name)
		}
	}
	return nil
}

// expectedSince is the newest time a successful backup must be at least
// as new as at now: the latest scheduled time that grace has passed
// since, or now less every and grace. Zero when the schedule planned no
// run in the last year.
func expectedSince(e config.BackupExpect, now time.Time) time.Time {
	limit := now.Add(-e.Grace.Std())
	if e.Schedule == nil {
		return limit.Add(-e.Every.Std())
	}
	// robfig/cron plans forward only: walk from a while back up to limit,
	// looking further back for sparse schedules.
	for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
		var last time.Time
		t := e.Schedule.Next(limit.Add(-back))
		for i := 0; i < 2000 && !t.IsZero() && !t.After(limit); i++ {
			last, t = t, e.Schedule.Next(t)
		}
		if !last.IsZero() {
			return last
		}
	}
	return time.Time{}
}

func unsupportedSource(kind string) func(context.Context, *mongo.Client, time.Time) (*backupReport, error) {
	return func(context.Context, *mongo.Client, time.Time) (*backupReport, error) {
		return nil, errUnsupportedSource{kind}
	}
}

type errUnsupportedSource struct{ kind string }

func (e errUnsupportedSource) Error() string {
	return "backup source " + e.kind + ": this version of Lookout cannot read it yet"
}

// seconds is t as Unix seconds; 0 for the zero time.
func seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// backupDescs are the backup metrics' descriptors.
type backupDescs struct {
	lastSuccess, lastSize, prevSize, lastDuration, running, stuck, failures *prometheus.Desc
	oldest, restorable, pitrLag, copyLastSuccess, lastRestoreTest           *prometheus.Desc
	expectedSince, grace, retention, restoreMaxAge, sourceInfo              *prometheus.Desc
}

func newBackupDescs() *backupDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"target"}, labels...), nil)
	}
	return &backupDescs{
		lastSuccess:     d("mongodb_backup_last_success_timestamp_seconds", "When the newest successful backup of the type completed; 0 when the source has none.", "source", "type"),
		lastSize:        d("mongodb_backup_last_size_bytes", "The newest successful backup's size.", "source", "type"),
		prevSize:        d("mongodb_backup_previous_size_bytes", "The size of the successful backup before the newest.", "source", "type"),
		lastDuration:    d("mongodb_backup_last_duration_seconds", "How long the newest successful backup took.", "source", "type"),
		running:         d("mongodb_backup_running", "1 while a backup of the type runs.", "source", "type"),
		stuck:           d("mongodb_backup_stuck", "1 when a running backup's heartbeat is older than 30 s.", "source", "type"),
		failures:        d("mongodb_backup_failures_since_success", "Failed backups newer than the newest success.", "source", "type"),
		oldest:          d("mongodb_backup_oldest_timestamp_seconds", "The restore point of the oldest restorable backup.", "source"),
		restorable:      d("mongodb_backup_restorable", "How many restorable backups the source holds.", "source"),
		pitrLag:         d("mongodb_backup_pitr_lag_seconds", "Time since the end of the newest point-in-time-recovery oplog chunk.", "source"),
		copyLastSuccess: d("mongodb_backup_copy_last_success_timestamp_seconds", "The newest backup in the off-site copy of the source.", "source"),
		lastRestoreTest: d("mongodb_backup_last_restore_test_timestamp_seconds", "When the last successful restore drill ended; 0 when none is known.", "source"),
		expectedSince:   d("mongodb_backup_expected_since_timestamp_seconds", "The newest time the last successful backup must be at least as new as now: the schedule's latest run that the grace has passed since."),
		grace:           d("mongodb_backup_grace_seconds", "How long after its scheduled time a backup may complete (backups.expect.grace)."),
		retention:       d("mongodb_backup_retention_seconds", "How old the oldest restorable backup must be at least (backups.retention)."),
		restoreMaxAge:   d("mongodb_backup_restore_test_max_age_seconds", "How old the last successful restore drill may be (backups.restore_test.every)."),
		sourceInfo:      d("mongodb_backup_source_info", "1 for each backup source: its kind, and the source it is the off-site copy of (copy_of).", "source", "kind", "copy_of"),
	}
}

func (d *backupDescs) describe(ch chan<- *prometheus.Desc) {
	for _, x := range []*prometheus.Desc{
		d.lastSuccess, d.lastSize, d.prevSize, d.lastDuration, d.running, d.stuck, d.failures,
		d.oldest, d.restorable, d.pitrLag, d.copyLastSuccess, d.lastRestoreTest,
		d.expectedSince, d.grace, d.retention, d.restoreMaxAge, d.sourceInfo,
	} {
		ch <- x
	}
}
