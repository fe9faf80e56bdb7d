// Package probes holds what every probe type shares: the result of one
// run, the runner that applies timeouts, retries and flap damping, and the
// metrics a set of probes exposes.
package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// State is a probe's health: up, degraded or down.
type State int

// States, in the values lookout_probe_state exposes.
const (
	Up State = iota
	Degraded
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Degraded:
		return "degraded"
	default:
		return "down"
	}
}

// MarshalText writes the state as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Prober runs one check once. It never returns an error: what went wrong
// is the Result's Reason.
type Prober interface {
	Probe(ctx context.Context) Result
}

// Result is the outcome of one run of a probe.
type Result struct {
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"-"`
	State    State         `json:"state"`
	// Reason is the first failing assertion (expected vs actual) or the
	// transport error; empty when the probe is up.
	Reason     string      `json:"reason,omitempty"`
	Phases     Phases      `json:"phases"`
	HTTP       *HTTPFacts  `json:"http,omitempty"`
	TLS        *TLSFacts   `json:"tls,omitempty"`
	Assertions []Assertion `json:"assertions,omitempty"`
	// Attempts is how many tries this run took (1 + retries used).
	Attempts int `json:"attempts"`
}

// MarshalJSON adds the duration in seconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"duration_seconds"`
	}{plain(r), r.Duration.Seconds()})
}

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
func (p Phases) Each() [5]time.Duration {
	return [5]time.Duration{p.Resolve, p.Connect, p.TLS, p.Processing, p.Transfer}
}

// MarshalJSON writes each phase in seconds.
func (p Phases) MarshalJSON() ([]byte, error) {
	m := make(map[string]float64, len(PhaseNames))
	for i, d := range p.Each() {
		m[PhaseNames[i]] = d.Seconds()
	}
	return json.Marshal(m)
}

// HTTPFacts describe the final HTTP response.
type HTTPFacts struct {
	StatusCode    int     `json:"status_code"`
	Version       float64 `json:"version"`
	ContentLength int64   `json:"content_length"`
	BodyBytes     int64   `json:"body_bytes"`
	Redirects     int     `json:"redirects"`
}

// TLSFacts describe the TLS connection of the final response.
type TLSFacts struct {
	Version        string    `json:"version"`
	EarliestExpiry time.Time `json:"earliest_expiry"`
	Verified       bool      `json:"verified"`
	VerifyError    string    `json:"verify_error,omitempty"`
}

// Assertion is one check of a response, with what was expected and what
// was found.
type Assertion struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	OK       bool   `json:"ok"`
	// Degrades marks a check whose failure makes the probe degraded
	// rather than down.
	Degrades bool `json:"degrades,omitempty"`
}

// Reason words a failed assertion for people: what, expected, actual.
func (a Assertion) Reason() string {
	return fmt.Sprintf("%s: expected %s, got %s", a.Name, a.Expected, a.Actual)
}
