package dispatch

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/lookout-dev/lookout/alerting"
)

// InhibitRule mutes alerts that match TargetMatchers while an alert that
// matches SourceMatchers is firing with the same values of the Equal
// labels (a label missing on both sides counts as equal).
type InhibitRule struct {
	SourceMatchers Matchers
	TargetMatchers Matchers
	Equal          []model.LabelName
}

// inhibitor holds the firing alerts that match any rule's source side.
// It is guarded by the dispatcher's lock.
type inhibitor struct {
	rules   []InhibitRule
	sources map[model.Fingerprint]*alerting.Alert
}

func newInhibitor(rules []InhibitRule) *inhibitor {
	return &inhibitor{rules: rules, sources: map[model.Fingerprint]*alerting.Alert{}}
}

// observe records a as a possible source, or forgets it once resolved.
func (ih *inhibitor) observe(a *alerting.Alert, now time.Time) {
	fp := a.Fingerprint()
	if a.ResolvedAt(now) {
		delete(ih.sources, fp)
		return
	}
	for i := range ih.rules {
		if ih.rules[i].SourceMatchers.Matches(a.Labels) {
			ih.sources[fp] = a
			return
		}
	}
}

// prune forgets sources whose EndsAt has passed without an update.
func (ih *inhibitor) prune(now time.Time) {
	for fp, a := range ih.sources {
		if a.ResolvedAt(now) {
			delete(ih.sources, fp)
		}
	}
}

// inhibitedBy returns the fingerprint of a firing source alert that
// mutes lset at now, as Alertmanager's Inhibitor.Mutes does: an alert
// that matches both sides of a rule is never muted by an alert that also
// matches both, so a source cannot inhibit itself. The smallest
// fingerprint wins, so the answer does not depend on map order.
func (ih *inhibitor) inhibitedBy(lset model.LabelSet, now time.Time) (model.Fingerprint, bool) {
	var best model.Fingerprint
	found := false
	for i := range ih.rules {
		r := &ih.rules[i]
		if !r.TargetMatchers.Matches(lset) {
			continue
		}
		twoSided := r.SourceMatchers.Matches(lset)
	sources:
		for fp, src := range ih.sources {
			if src.ResolvedAt(now) || !r.SourceMatchers.Matches(src.Labels) {
				continue
			}
			for _, ln := range r.Equal {
				if src.Labels[ln] != lset[ln] {
					continue sources
				}
			}
			if twoSided && r.TargetMatchers.Matches(src.Labels) {
				continue
			}
			if !found || fp < best {
				best, found = fp, true
			}
		}
	}
	return best, found
}
