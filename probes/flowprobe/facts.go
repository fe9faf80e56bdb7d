package flowprobe

import (
	"encoding/json"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Facts are what a flow run found: each step that ran, in order.
type Facts struct {
	Steps []StepFacts `json:"steps"`
}

// StepFacts are one step's outcome and what its HTTP check found.
type StepFacts struct {
	Name     string           `json:"name"`
	State    probes.State     `json:"state"`
	Reason   string           `json:"reason,omitempty"`
	Duration time.Duration    `json:"-"`
	HTTP     *httpprobe.Facts `json:"http,omitempty"`
}

// TLSFacts are the TLS connection of the step whose certificate chain
// expires first, so the TLS families (probe_ssl_earliest_cert_expiry, …)
// watch every https:// step; nil when no step spoke TLS.
func (f *Facts) TLSFacts() *tlsinfo.Facts {
	var first *tlsinfo.Facts
	for _, s := range f.Steps {
		if s.HTTP == nil || s.HTTP.TLS == nil {
			continue
		}
		if t := s.HTTP.TLS; first == nil || (!t.EarliestExpiry.IsZero() && (first.EarliestExpiry.IsZero() || t.EarliestExpiry.Before(first.EarliestExpiry))) {
			first = t
		}
	}
	return first
}

var _ tlsinfo.Carrier = (*Facts)(nil)

// MarshalJSON adds the step's duration in seconds.
func (s StepFacts) MarshalJSON() ([]byte, error) {
	type plain StepFacts
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"duration_seconds"`
	}{plain(s), s.Duration.Seconds()})
}

// Past keeps each step's name, state, reason, duration and the phases and
// status its HTTP check keeps.
func (f *Facts) Past() probes.Facts {
	p := &Facts{Steps: make([]StepFacts, len(f.Steps))}
	for i, s := range f.Steps {
		s.HTTP = pastHTTP(s.HTTP)
		p.Steps[i] = s
	}
	return p
}

// pastHTTP is what the history keeps of a step's HTTP facts.
func pastHTTP(f *httpprobe.Facts) *httpprobe.Facts {
	if f == nil {
		return nil
	}
	return httpprobe.FactsOf(probes.Result{Facts: f.Past()})
}
