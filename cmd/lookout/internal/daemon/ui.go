package daemon

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting/dispatch"
	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/alerting/maintenance"
	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/silences"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/ui"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// uiRoutes are the admin web UI's pages and assets (see package ui). A
// UI that cannot be built (its templates are embedded, so only a broken
// build) is logged, and the API still serves.
func (d *daemon) uiRoutes() []endpoint {
	u, err := ui.New(uiSource{d}, d.log)
	if err != nil {
		d.log.Error("the web UI is off", "err", err)
		return nil
	}
	var out []endpoint
	for _, r := range u.Routes() {
		out = append(out, endpoint{pattern: r.Pattern, handler: r.Handler, form: r.Form})
	}
	return out
}

// uiSource is the daemon as the UI reads and changes it.
type uiSource struct{ d *daemon }

var _ ui.Source = uiSource{}

func (s uiSource) Probes() []ui.ProbeBrief {
	runners := s.d.set.list()
	out := make([]ui.ProbeBrief, len(runners))
	for i, r := range runners {
		st, judged := r.Current()
		out[i] = ui.ProbeBrief{Name: r.Name(), Kind: r.Kind().Name, Labels: r.Config().Labels, State: st, Judged: judged}
	}
	return out
}

func (s uiSource) Probe(name string) (probes.Status, bool) {
	r := s.d.set.get(name)
	if r == nil {
		return probes.Status{}, false
	}
	return r.Status(), true
}

func (s uiSource) ProbeConfig(name string) string {
	if r := s.d.set.get(name); r != nil {
		return r.Config().Shown()
	}
	return ""
}

// Uptime sums hours over the last week, days beyond.
func (s uiSource) Uptime(probe string, since time.Time) (float64, bool) {
	step := uptime.Hour
	if time.Since(since) > 7*24*time.Hour {
		step = uptime.Day
	}
	periods, err := s.d.uptime.Periods(probe, step, since, time.Now())
	if err != nil {
		return 0, false
	}
	return uptime.Sum(periods).Uptime()
}

func (s uiSource) Evidence(probe string) []browserprobe.ArtifactRun {
	if b := s.d.opts.Browser; b != nil {
		runs, err := b.Artifacts().Runs(probe)
		if err != nil {
			s.d.log.Warn("list browser evidence", "probe", probe, "err", err)
		}
		return runs
	}
	return nil
}

func (s uiSource) TraceURL(probe string) string {
	return s.d.probeTraceURL(model.LabelSet{"probe": model.LabelValue(probe)})
}

func (s uiSource) RunNow(ctx context.Context, probe string) (probes.Result, bool) {
	r := s.d.set.get(probe)
	if r == nil {
		return probes.Result{}, false
	}
	return r.Probe(ctx), true
}

// Alerts are the rules' pending and firing alerts with what mutes them,
// firing first.
func (s uiSource) Alerts() []ui.Alert {
	muted := map[string]dispatch.AlertStatus{}
	for _, g := range s.d.alerting.dispatcher.Groups() {
		for _, a := range g.Alerts {
			muted[a.Fingerprint] = a
		}
	}
	var out []ui.Alert
	for _, g := range s.d.alerting.rules.Groups() {
		for _, r := range g.Rules {
			ar, ok := r.(*rules.AlertingRule)
			if !ok {
				continue
			}
			for _, a := range ar.Alerts() {
				if a.State != rules.StatePending && a.State != rules.StateFiring {
					continue
				}
				ua := ui.Alert{Name: ar.Name(), State: a.State.String(), Labels: a.Labels.Map(), Annotations: a.Annotations.Map(),
					ActiveAt: a.ActiveAt, FiredAt: a.FiredAt, Value: a.Value}
				if st, ok := muted[fingerprint(a)]; ok {
					ua.SilencedBy, ua.InhibitedBy = st.SilencedBy, st.InhibitedBy
				}
				out = append(out, ua)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b ui.Alert) int {
		if a.State != b.State {
			return strings.Compare(b.State, a.State) // firing before pending
		}
		return a.ActiveAt.Compare(b.ActiveAt)
	})
	return out
}

func (s uiSource) Rules() []ui.RuleGroup {
	var out []ui.RuleGroup
	for _, g := range s.d.alerting.rules.Groups() {
		ug := ui.RuleGroup{Name: g.Name, File: g.File, Interval: g.Interval}
		for _, r := range g.Rules {
			ar := describeRule(r)
			rule := ui.Rule{Name: ar.Name, Type: ar.Type, Query: ar.Query, Health: ar.Health, LastError: ar.LastError,
				LastEvaluation: ar.LastEvaluation, EvaluationTime: time.Duration(ar.EvaluationTime * float64(time.Second)), State: ar.State}
			if a, ok := r.(*rules.AlertingRule); ok {
				rule.For = a.For()
				for _, al := range ar.Alerts {
					if al.State == rules.StatePending || al.State == rules.StateFiring {
						rule.Alerts++
					}
				}
			}
			ug.Rules = append(ug.Rules, rule)
		}
		out = append(out, ug)
	}
	return out
}

func (s uiSource) Silences() []ui.Silence {
	now := time.Now()
	list := s.d.alerting.silences.List()
	out := make([]ui.Silence, 0, len(list))
	for _, sil := range list {
		out = append(out, uiSilence(silences.ToJSON(sil, now)))
	}
	return out
}

func uiSilence(j silences.JSON) ui.Silence {
	return ui.Silence{ID: j.ID, Matchers: j.Matchers, StartsAt: j.StartsAt, EndsAt: j.EndsAt, CreatedBy: j.CreatedBy, Comment: j.Comment, State: j.State}
}

// Preview is the active alerts the matchers select, muted or not.
func (s uiSource) Preview(matchers []string) ([]ui.Alert, error) {
	ms, err := dispatch.ParseMatchers(matchers)
	if err != nil {
		return nil, fmt.Errorf("Matchers: %v", err)
	}
	var out []ui.Alert
	for _, a := range s.Alerts() {
		if ms.Matches(model.LabelSet(labelSetOf(a.Labels))) {
			out = append(out, a)
		}
	}
	return out, nil
}

func labelSetOf(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

func (s uiSource) AddSilence(n ui.NewSilence) (ui.Silence, error) {
	now := time.Now()
	sil, err := silences.JSON{Matchers: n.Matchers, Duration: n.Duration.String(), CreatedBy: n.CreatedBy, Comment: n.Comment}.Silence(now)
	if err == nil {
		sil, err = s.d.alerting.silences.Add(sil)
	}
	if err != nil {
		return ui.Silence{}, err
	}
	return uiSilence(silences.ToJSON(sil, now)), nil
}

func (s uiSource) ExpireSilence(id string) error {
	_, err := s.d.alerting.silences.Expire(id)
	return err
}

// ExtendSilence replaces the silence with one that ends d later: the same
// matchers, author and comment, from now (or its start, if later); the
// old one expires only once the new one is kept.
func (s uiSource) ExtendSilence(id string, d time.Duration) (ui.Silence, error) {
	now := time.Now()
	i := slices.IndexFunc(s.d.alerting.silences.List(), func(sil dispatch.Silence) bool { return sil.ID == id })
	if i < 0 {
		return ui.Silence{}, fmt.Errorf("no silence %s", id)
	}
	old := s.d.alerting.silences.List()[i]
	if old.Expired(now) {
		return ui.Silence{}, fmt.Errorf("silence %s has expired; create a new one", id)
	}
	start := now
	if old.StartsAt.After(now) {
		start = old.StartsAt
	}
	next := dispatch.Silence{Matchers: old.Matchers, StartsAt: start, EndsAt: old.EndsAt.Add(d), CreatedBy: old.CreatedBy, Comment: old.Comment}
	next, err := s.d.alerting.silences.Add(next)
	if err != nil {
		return ui.Silence{}, err
	}
	if _, err := s.d.alerting.silences.Expire(id); err != nil {
		s.d.log.Warn("extend a silence: the old one could not be expired; both mute until it ends", "id", id, "err", err)
	}
	return uiSilence(silences.ToJSON(next, now)), nil
}

func (s uiSource) Incidents() []incidents.Incident {
	return s.d.pages.incidents.List(time.Now().Add(-30 * 24 * time.Hour))
}

func (s uiSource) PostIncident(id, probe, title, message, status, by string) (incidents.Incident, error) {
	return s.d.postIncident(incidentRequest{ID: id, Probe: probe, Title: title, Message: message, Status: status, By: by})
}

func (s uiSource) ResolveIncident(id, message, by string) (incidents.Incident, error) {
	return s.d.resolveIncident(id, message, by)
}

func (s uiSource) Maintenance() maintenance.Listing {
	return s.d.alerting.maintenance.List(time.Now())
}

func (s uiSource) StartMaintenance(r maintenance.Request) (maintenance.Window, error) {
	win, err := r.Window(time.Now())
	if err == nil {
		win, err = s.d.alerting.maintenance.Add(win)
	}
	if err == nil {
		s.d.log.Info("maintenance window created", "id", win.ID, "by", win.CreatedBy, "matchers", win.Matchers, "ends", win.End)
	}
	return win, err
}

func (s uiSource) EndMaintenance(id string) error {
	_, err := s.d.alerting.maintenance.End(id)
	return err
}

// MongoDB is each target's slow shapes and backups, and the indexes its
// last pass found unused or redundant (from its metrics).
func (s uiSource) MongoDB() []ui.MongoTarget {
	indexes := map[string]map[string][]string{} // target → family → db.coll.index
	if mfs, err := s.d.reg.Gather(); err == nil {
		for _, mf := range mfs {
			name := mf.GetName()
			if name != "mongodb_index_unused" && name != "mongodb_index_redundant" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetGauge().GetValue() != 1 {
					continue
				}
				l := labelsOf(m)
				if indexes[l["target"]] == nil {
					indexes[l["target"]] = map[string][]string{}
				}
				indexes[l["target"]][name] = append(indexes[l["target"]][name], l["database"]+"."+l["collection"]+"."+l["index"])
			}
		}
	}
	var out []ui.MongoTarget
	for _, m := range s.d.mongos.list() {
		out = append(out, ui.MongoTarget{Name: m.Name(), Shapes: m.SlowQueries(defaultSlowQueryShapes), Backups: m.Backups(),
			Unused: indexes[m.Name()]["mongodb_index_unused"], Redundant: indexes[m.Name()]["mongodb_index_redundant"]})
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// webVitals are the field histograms the UI shows, with their rating
// boundaries (good up to, poor above), in the histograms' unit.
var webVitals = []struct {
	family, name, unit string
	good, poor         float64
}{
	{"webvitals_lcp_seconds", "LCP", "s", 2.5, 4},
	{"webvitals_inp_seconds", "INP", "s", 0.2, 0.5},
	{"webvitals_cls", "CLS", "", 0.1, 0.25},
	{"webvitals_fcp_seconds", "FCP", "s", 1.8, 3},
	{"webvitals_ttfb_seconds", "TTFB", "s", 0.8, 1.8},
}

// WebVitals is the p75 of each vital per route and device since the
// start, from the beacon histograms' buckets (summed over navigation
// types), interpolated as histogram_quantile does.
func (s uiSource) WebVitals() []ui.VitalRoute {
	if s.d.vitals == nil {
		return nil
	}
	mfs, err := s.d.reg.Gather()
	if err != nil {
		return nil
	}
	type key struct{ route, device string }
	hists := map[string]map[key]*bucketSum{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			l := labelsOf(m)
			k := key{l["route"], l["device"]}
			if hists[mf.GetName()] == nil {
				hists[mf.GetName()] = map[key]*bucketSum{}
			}
			if hists[mf.GetName()][k] == nil {
				hists[mf.GetName()][k] = &bucketSum{}
			}
			hists[mf.GetName()][k].add(h)
		}
	}
	routes := map[key]bool{}
	for _, byKey := range hists {
		for k := range byKey {
			routes[k] = true
		}
	}
	var out []ui.VitalRoute
	for k := range routes {
		vr := ui.VitalRoute{Route: k.route, Device: k.device}
		for _, v := range webVitals {
			vital := ui.Vital{Name: v.name, Unit: v.unit}
			if b := hists[v.family][k]; b != nil && b.count > 0 {
				vital.P75, vital.Samples = b.quantile(0.75), b.count
				switch {
				case vital.P75 <= v.good:
					vital.Rating = "good"
				case vital.P75 <= v.poor:
					vital.Rating = "needs-improvement"
				default:
					vital.Rating = "poor"
				}
			}
			vr.Vitals = append(vr.Vitals, vital)
		}
		out = append(out, vr)
	}
	slices.SortFunc(out, func(a, b ui.VitalRoute) int {
		return strings.Compare(a.Route+"\x00"+a.Device, b.Route+"\x00"+b.Device)
	})
	return out
}

// bucketSum adds classic histograms of the same buckets.
type bucketSum struct {
	bounds []float64
	counts []uint64 // cumulative
	count  uint64
}

func (b *bucketSum) add(h *dto.Histogram) {
	if b.bounds == nil {
		for _, bk := range h.GetBucket() {
			b.bounds = append(b.bounds, bk.GetUpperBound())
		}
		b.counts = make([]uint64, len(b.bounds))
	}
	for i, bk := range h.GetBucket() {
		if i < len(b.counts) {
			b.counts[i] += bk.GetCumulativeCount()
		}
	}
	b.count += h.GetSampleCount()
}

// quantile interpolates linearly within the bucket the rank falls in;
// above the last bound it is that bound.
func (b *bucketSum) quantile(q float64) float64 {
	rank := q * float64(b.count)
	lower, below := 0.0, uint64(0)
	for i, c := range b.counts {
		if float64(c) >= rank {
			inBucket := c - below
			if inBucket == 0 {
				return b.bounds[i]
			}
			return lower + (b.bounds[i]-lower)*(rank-float64(below))/float64(inBucket)
		}
		lower, below = b.bounds[i], c
	}
	if len(b.bounds) == 0 {
		return math.NaN()
	}
	return b.bounds[len(b.bounds)-1]
}
