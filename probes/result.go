// Package probes holds what every kind of probe shares: the result of one
// run, the runner that applies timeouts, retries and flap damping, and the
// metrics a set of probes exposes. It knows no protocol: each kind (HTTP,
// TCP, DNS, …) is a package of its own that describes itself with a Kind,
// owns its facts, its metric families and its lines of a report.
package probes

import (
	"bytes"
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

// UnmarshalText reads what MarshalText wrote.
func (s *State) UnmarshalText(b []byte) error {
	for _, st := range [...]State{Up, Degraded, Down} {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("probe state %q: want up, degraded or down", b)
}

// Prober runs one check once. It never returns an error: what went wrong
// is the Result's Reason.
type Prober interface {
	Probe(ctx context.Context) Result
}

// Result is the outcome of one run of a probe: what every kind has, and
// the kind's own Facts.
type Result struct {
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"-"`
	State    State         `json:"state"`
	// Reason is the first failing check (expected vs actual) or the
	// error that ended the run; empty when the probe is up.
	Reason string  `json:"reason,omitempty"`
	Checks []Check `json:"assertions,omitempty"`
	// Attempts is how many tries this run took (1 + retries used).
	Attempts int `json:"attempts"`
	// ProberError marks a run lost to Lookout's own means of probing (a
	// browser that crashed or could not start), not to the target: the
	// Runner keeps the probe's state, counts the run in
	// lookout_probe_prober_errors_total rather than among its runs, and
	// keeps it in the history with its reason. State is Down.
	ProberError bool `json:"prober_error,omitempty"`
	// Facts are what the kind found (an HTTP response's status and
	// phases, a DNS answer, …); nil when it found nothing to tell.
	Facts Facts `json:"-"`
}

// Facts are one kind's findings of a run. They marshal to a JSON object
// whose fields join the result's in the API.
type Facts interface {
	// Past is what a probe's history keeps of these facts for its older
	// results: only what is worth its memory at ten thousand probes
	// (HTTP keeps phases and status). Nil keeps nothing.
	Past() Facts
}

// MarshalJSON writes the result with the duration in seconds and the
// fields of its facts beside its own.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	b, err := json.Marshal(struct {
		plain
		DurationSeconds float64 `json:"duration_seconds"`
	}{plain(r), r.Duration.Seconds()})
	if err != nil || r.Facts == nil {
		return b, err
	}
	f, err := json.Marshal(r.Facts)
	if err != nil {
		return nil, fmt.Errorf("facts: %w", err)
	}
	f = bytes.TrimSpace(f)
	if len(f) < 2 || f[0] != '{' || f[len(f)-1] != '}' {
		return nil, fmt.Errorf("facts: %T marshals to %q, not a JSON object", r.Facts, f)
	}
	if len(f) == 2 { // {}
		return b, nil
	}
	out := append(b[:len(b)-1:len(b)-1], ',')
	return append(out, f[1:]...), nil
}

// Phased is facts that split a run's time into phases, in order (an HTTP
// request's resolve, connect, tls, processing and transfer), for charts.
type Phased interface {
	PhaseTimes() []PhaseTime
}

// PhaseTime is one phase of a run.
type PhaseTime struct {
	Name     string
	Duration time.Duration
}

// Check is one check of a run, with what was expected and what was found.
type Check struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	OK       bool   `json:"ok"`
	// Degrades marks a check whose failure makes the probe degraded
	// rather than down.
	Degrades bool `json:"degrades,omitempty"`
}

// Reason words a failed check for people: what, expected, actual.
func (c Check) Reason() string {
	return fmt.Sprintf("%s: expected %s, got %s", c.Name, c.Expected, c.Actual)
}

// Verdict is the state and reason of a run whose checks all ran: down on
// the first failed check that does not degrade, else degraded on the
// first that does, else up.
func Verdict(checks []Check) (State, string) {
	var degraded *Check
	for i := range checks {
		c := &checks[i]
		switch {
		case c.OK:
		case !c.Degrades:
			return Down, c.Reason()
		case degraded == nil:
			degraded = c
		}
	}
	if degraded != nil {
		return Degraded, degraded.Reason()
	}
	return Up, ""
}
