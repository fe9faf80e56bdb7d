package dispatch

import (
	"slices"
	"time"

	"github.com/prometheus/common/model"
)

// Silence mutes the alerts its matchers select from StartsAt until
// EndsAt.
type Silence struct {
	ID        string
	Matchers  Matchers
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
}

// Active reports whether the silence mutes at t: StartsAt <= t < EndsAt.
func (s *Silence) Active(t time.Time) bool { return !t.Before(s.StartsAt) && t.Before(s.EndsAt) }

// Expired reports whether the silence has ended at t.
func (s *Silence) Expired(t time.Time) bool { return !t.Before(s.EndsAt) }

// Mutes reports whether the silence is active at t and matches lset.
func (s *Silence) Mutes(lset model.LabelSet, t time.Time) bool {
	return s.Active(t) && s.Matchers.Matches(lset)
}

// Silences tells which silences mute an alert. Whoever stores silences
// implements it; the dispatcher asks at every flush and in Groups.
type Silences interface {
	// Muted returns the IDs of the silences muting lset at t, sorted;
	// none if it is not muted.
	Muted(lset model.LabelSet, at time.Time) (silenceIDs []string)
}

// SilenceList is the simplest Silences: a fixed list, checked in full
// on every call. A store can keep its silences in one and swap it.
type SilenceList []Silence

var _ Silences = SilenceList(nil)

// Muted implements Silences.
func (sl SilenceList) Muted(lset model.LabelSet, at time.Time) []string {
	var ids []string
	for i := range sl {
		if sl[i].Mutes(lset, at) {
			ids = append(ids, sl[i].ID)
		}
	}
	slices.Sort(ids)
	return ids
}
