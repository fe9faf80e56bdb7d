package heartbeat_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/heartbeat"
)

const token = "0123456789abcdef-nightly" // every test heartbeat's

// beats is a store of the heartbeat probes of a config, and their runners.
type beats struct {
	t       *testing.T
	store   *heartbeat.Store
	reg     *prometheus.Registry
	runners map[string]*probes.Runner
}

// newBeats loads the probes section probesYAML (heartbeat probes, whose
// ${HEARTBEAT_TOKEN} is token) and configures a store with them, now.
func newBeats(t *testing.T, probesYAML string) *beats {
	t.Helper()
	b := &beats{t: t, store: heartbeat.NewStore(), reg: prometheus.NewRegistry(), runners: map[string]*probes.Runner{}}
	b.reg.MustRegister(b.store)
	b.configure(probesYAML)
	return b
}

// configure makes probesYAML's heartbeats the store's, as a daemon's
// reload does.
func (b *beats) configure(probesYAML string) {
	t := b.t
	t.Helper()
	cfg, err := config.Parse("t.yml", []byte("probes:\n"+probesYAML), func(k string) (string, bool) { return token, k == "HEARTBEAT_TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	kinds := probes.Kinds{heartbeat.Kind(b.store)}
	set := map[string]*config.Heartbeat{}
	for _, pc := range cfg.Probes {
		r, err := kinds.NewRunner(pc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		b.runners[pc.Name] = r
		set[pc.Name] = pc.Heartbeat
	}
	b.store.Configure(set)
}

// checkin sends a check-in to the store's handler in memory (inside a
// synctest bubble, where its time is the bubble's) and returns the status.
func (b *beats) checkin(method, path, body string) int {
	b.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	b.store.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec.Code
}

// probe runs the named probe once and returns its result.
func (b *beats) probe(name string) probes.Result {
	b.t.Helper()
	return b.runners[name].Probe(b.t.Context())
}

// expect runs the named probe and checks its state and that its reason
// holds each of reasonHas.
func (b *beats) expect(name string, want probes.State, reasonHas ...string) probes.Result {
	b.t.Helper()
	res := b.probe(name)
	if res.State != want {
		b.t.Fatalf("%s is %s (%s), want %s", name, res.State, res.Reason, want)
	}
	for _, s := range reasonHas {
		if !strings.Contains(res.Reason, s) {
			b.t.Errorf("%s's reason %q does not say %q", name, res.Reason, s)
		}
	}
	return res
}

// facts are the heartbeat facts of a result.
func facts(t *testing.T, res probes.Result) *heartbeat.Facts {
	t.Helper()
	f, ok := res.Facts.(*heartbeat.Facts)
	if !ok {
		t.Fatalf("facts are %T, want *heartbeat.Facts", res.Facts)
	}
	return f
}

// counts are lookout_heartbeat_checkins_total by result.
func (b *beats) counts() map[string]float64 {
	b.t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "lookout_heartbeat_checkins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
