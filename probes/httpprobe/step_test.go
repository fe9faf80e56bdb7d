package httpprobe_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// TestProbeRequest: a flow step's request replaces the configured URL,
// header values, body and bearer token for one run, keeps the method and
// checks, carries cookies in the run's jar from one request to the next,
// and hands back the variables its expressions saw, with the flow's vars
// as their parent.
func TestProbeRequest(t *testing.T) {
	type seen struct{ path, query, auth, header, body, cookie string }
	var (
		mu   sync.Mutex
		reqs []seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		c, _ := r.Cookie("session")
		mu.Lock()
		s := seen{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Step"), string(b[:n]), ""}
		if c != nil {
			s.cookie = c.Value
		}
		reqs = append(reqs, s)
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/"})
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id": 42}`))
	}))
	defer srv.Close()
	p := newProber(t, "url: "+srv.URL+"/configured\nmethod: POST\nheaders: {X-Step: configured}\nbody: configured\nbearer_token: configured-token\nexpect: {status: [200]}")

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	flowVars, err := cel.NewActivation(map[string]any{"vars": map[string]any{"token": "t0"}})
	if err != nil {
		t.Fatal(err)
	}
	req := &httpprobe.Request{
		URL: srv.URL + "/users/42/orders?limit=1", Headers: map[string]string{"X-Step": "expanded"},
		Body: `{"user":42}`, BearerToken: "t0", Jar: jar, Vars: flowVars,
	}
	res, vars := p.ProbeRequest(t.Context(), req)
	if res.State != probes.Up {
		t.Fatalf("first request: %s %q", res.State, res.Reason)
	}
	res, _ = p.ProbeRequest(t.Context(), req)
	if res.State != probes.Up {
		t.Fatalf("second request: %s %q", res.State, res.Reason)
	}
	want := []seen{
		{"/users/42/orders", "limit=1", "Bearer t0", "expanded", `{"user":42}`, ""},
		{"/users/42/orders", "limit=1", "Bearer t0", "expanded", `{"user":42}`, "s1"},
	}
	mu.Lock()
	got := append([]seen(nil), reqs...)
	mu.Unlock()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("the target saw %+v; want %+v (the second with the cookie the first set)", got, want)
	}
	if vars == nil {
		t.Fatal("no variables handed back")
	}
	body, ok := vars.ResolveName("body")
	if m, isMap := body.(map[string]any); !ok || !isMap || m["id"] != float64(42) {
		t.Errorf("body variable %v (%v); want the decoded JSON with id 42", body, ok)
	}
	if status, _ := vars.ResolveName("status"); status != int64(200) {
		t.Errorf("status variable %v; want 200", status)
	}
	if vars.Parent() == nil {
		t.Fatal("the step's variables have no parent; want the flow's vars")
	}
	if v, ok := vars.Parent().ResolveName("vars"); !ok || v.(map[string]any)["token"] != "t0" {
		t.Errorf("vars through the parent: %v %v", v, ok)
	}

	// Without a jar no cookie goes, and the configured request is unchanged.
	res = p.Probe(t.Context())
	mu.Lock()
	last := reqs[len(reqs)-1]
	mu.Unlock()
	if res.State != probes.Up || last != (seen{"/configured", "", "Bearer configured-token", "configured", "configured", ""}) {
		t.Errorf("configured request after the steps: %s, the target saw %+v", res.State, last)
	}
}
