package httpprobe

import (
	"encoding/json"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/tlsinfo"
)

// Facts are what an HTTP run found: how long each phase took, the final
// response, and its TLS connection.
type Facts struct {
	Phases Phases         `json:"phases"`
	HTTP   *Response      `json:"http,omitempty"`
	TLS    *tlsinfo.Facts `json:"tls,omitempty"`
}

var _ probes.Facts = (*Facts)(nil)

// TLSFacts are the run's TLS connection, or nil.
func (f *Facts) TLSFacts() *tlsinfo.Facts { return f.TLS }

var _ tlsinfo.Carrier = (*Facts)(nil)

var (
	_ probes.Phased = (*Facts)(nil)
	_ probes.Phased = (*pastFacts)(nil)
)

// PhaseTimes are the request's phases, in order.
func (f *Facts) PhaseTimes() []probes.PhaseTime { return f.Phases.times() }

// PhaseTimes are the phases an older result keeps.
func (p *pastFacts) PhaseTimes() []probes.PhaseTime { return p.facts().Phases.times() }

func (p Phases) times() []probes.PhaseTime {
	out := make([]probes.PhaseTime, len(PhaseNames))
	for i, d := range p.Each() {
		out[i] = probes.PhaseTime{Name: PhaseNames[i], Duration: d}
	}
	return out
}

// Past keeps the phases (to the microsecond) and the status code.
func (f *Facts) Past() probes.Facts {
	p := &pastFacts{}
	for i, d := range f.Phases.Each() {
		p.phases[i] = int32(min(d.Microseconds(), 1<<31-1))
	}
	if f.HTTP != nil {
		p.status = int16(f.HTTP.StatusCode)
	}
	return p
}

// pastFacts are the Facts an older result of the history keeps.
type pastFacts struct {
	phases [len(PhaseNames)]int32 // microseconds
	status int16
}

func (p *pastFacts) Past() probes.Facts { return p }

// facts expands p into the Facts it keeps.
func (p *pastFacts) facts() *Facts {
	us := func(i int) time.Duration { return time.Duration(p.phases[i]) * time.Microsecond }
	f := &Facts{Phases: Phases{Resolve: us(0), Connect: us(1), TLS: us(2), Processing: us(3), Transfer: us(4)}}
	if p.status != 0 {
		f.HTTP = &Response{StatusCode: int(p.status)}
	}
	return f
}

// MarshalJSON writes what p keeps as Facts would.
func (p *pastFacts) MarshalJSON() ([]byte, error) { return json.Marshal(p.facts()) }

// Phases are the parts of an HTTP request, summed over redirects.
type Phases struct {
	Resolve    time.Duration
	Connect    time.Duration
	TLS        time.Duration
	Processing time.Duration
	Transfer   time.Duration
}

// PhaseNames lists the phases in request order, as the phase label spells them.
var PhaseNames = [...]string{"resolve", "connect", "tls", "processing", "transfer"}

// Each returns the phases in PhaseNames order.
func (p Phases) Each() [len(PhaseNames)]time.Duration {
	return [...]time.Duration{p.Resolve, p.Connect, p.TLS, p.Processing, p.Transfer}
}

// MarshalJSON writes each phase in seconds.
func (p Phases) MarshalJSON() ([]byte, error) {
	m := make(map[string]float64, len(PhaseNames))
	for i, d := range p.Each() {
		m[PhaseNames[i]] = d.Seconds()
	}
	return json.Marshal(m)
}

// Response describes the final HTTP response.
type Response struct {
	StatusCode    int     `json:"status_code"`
	Version       float64 `json:"version"`
	ContentLength int64   `json:"content_length"`
	BodyBytes     int64   `json:"body_bytes"`
	Redirects     int     `json:"redirects"`
}

// FactsOf returns the HTTP facts of a result (those an older result of
// the history keeps, for one), or empty Facts when it has none.
func FactsOf(r probes.Result) *Facts {
	switch f := r.Facts.(type) {
	case *Facts:
		return f
	case *pastFacts:
		return f.facts()
	}
	return &Facts{}
}
