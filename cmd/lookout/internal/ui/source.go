package ui

import (
	"context"
	"time"

	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/alerting/maintenance"
	"github.com/lookout-dev/lookout/collectors/mongodb"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// Source is what the UI shows and changes: the daemon's probes, alerts,
// silences, rules, MongoDB targets and Web Vitals. Reads are cheap enough
// for every page view; the UI filters and pages the probes itself, and
// asks for the details of the ones it shows only.
type Source interface {
	// Probes lists every probe, sorted by name, with what filtering
	// needs.
	Probes() []ProbeBrief
	// Probe is one probe's status with its recent results; false for an
	// unknown name.
	Probe(name string) (probes.Status, bool)
	// ProbeConfig is the probe's config as loaded, secrets masked.
	ProbeConfig(name string) string
	// Uptime is the probe's uptime since t, false when nobody watched it.
	Uptime(probe string, since time.Time) (float64, bool)
	// Evidence is a browser probe's kept runs, newest first.
	Evidence(probe string) []browserprobe.ArtifactRun
	// TraceURL links the trace of the probe's last failed run, or "".
	TraceURL(probe string) string
	// RunNow runs the probe once now, as the scheduler would, and
	// returns the result it recorded; false for an unknown name.
	RunNow(ctx context.Context, probe string) (probes.Result, bool)

	// Alerts are the pending and firing alerts, firing first.
	Alerts() []Alert
	// Rules are the rule groups with their rules' health.
	Rules() []RuleGroup
	// Silences are every silence, newest first.
	Silences() []Silence
	// Preview is the alerts the matchers would mute now, or why the
	// matchers are not valid.
	Preview(matchers []string) ([]Alert, error)
	// AddSilence creates a silence; its error says what is wrong.
	AddSilence(s NewSilence) (Silence, error)
	// ExpireSilence ends a silence now.
	ExpireSilence(id string) error
	// ExtendSilence makes a silence end d later than it does.
	ExtendSilence(id string, d time.Duration) (Silence, error)

	// Maintenance is the configured maintenance windows and the
	// one-offs.
	Maintenance() maintenance.Listing
	// StartMaintenance opens a one-off window; its error says what is
	// wrong.
	StartMaintenance(r maintenance.Request) (maintenance.Window, error)
	// EndMaintenance ends a one-off window now.
	EndMaintenance(id string) error

	// Incidents are the open incidents and those resolved in the last
	// 30 days, newest first.
	Incidents() []incidents.Incident
	// PostIncident opens an incident (no id) or adds an update to one;
	// an update without a status keeps the incident's.
	PostIncident(id, probe, title, message, status, by string) (incidents.Incident, error)
	// ResolveIncident resolves an open incident.
	ResolveIncident(id, message, by string) (incidents.Incident, error)

	// MongoDB is each MongoDB target's slow query shapes, unused and
	// redundant indexes and backups.
	MongoDB() []MongoTarget
	// WebVitals is the field p75 of each Web Vital per route.
	WebVitals() []VitalRoute
}

// ProbeBrief is what the overview filters on.
type ProbeBrief struct {
	Name   string
	Kind   string
	Labels map[string]string
	State  probes.State
	Judged bool
}

// Alert is a pending or firing alert.
type Alert struct {
	Name        string
	State       string // pending, firing
	Labels      map[string]string
	Annotations map[string]string
	ActiveAt    time.Time
	FiredAt     time.Time
	Value       float64
	// SilencedBy and InhibitedBy mute it, when set.
	SilencedBy  []string
	InhibitedBy []string
	// Source links the rule's expression, when alerting.external_url is
	// set.
	Source string
}

// RuleGroup is a rule file's group.
type RuleGroup struct {
	Name, File string
	Interval   time.Duration
	Rules      []Rule
}

// Rule is one rule with its health.
type Rule struct {
	Name, Type, Query string
	For               time.Duration
	Health            string // ok, err, unknown
	LastError         string
	LastEvaluation    time.Time
	EvaluationTime    time.Duration
	State             string // inactive, pending, firing (alerting rules)
	Alerts            int
}

// Silence is a silence as shown.
type Silence struct {
	ID        string
	Matchers  []string
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
	State     string // pending, active, expired
}

// NewSilence is the form's silence.
type NewSilence struct {
	Matchers  []string
	Duration  time.Duration
	CreatedBy string
	Comment   string
}

// MongoTarget is one MongoDB target's findings.
type MongoTarget struct {
	Name      string
	Shapes    []mongodb.SlowQueryShape
	Unused    []string // database.collection.index
	Redundant []string
	Backups   []mongodb.BackupSourceStatus
}

// VitalRoute is one route's field Web Vitals.
type VitalRoute struct {
	Route  string
	Device string
	Vitals []Vital
}

// Vital is one Web Vital's p75 with its rating.
type Vital struct {
	Name    string
	P75     float64 // seconds, or unitless for CLS
	Unit    string  // s or ""
	Rating  string  // good, needs-improvement, poor
	Samples uint64
}
