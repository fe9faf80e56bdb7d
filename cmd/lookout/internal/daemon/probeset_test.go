package daemon

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// TestSwapClosesRemovedProbes: a reload that removes a keep-alive probe,
// or moves it to another origin, closes its idle connection; a probe it
// keeps, or changes within its origin, uses the connection on.
func TestSwapClosesRemovedProbes(t *testing.T) {
	tests := []struct {
		name   string
		next   string // the changed probe as the reload has it; "": removed
		closed bool
	}{
		{"removed", "", true},
		{"moved to another origin", "url: {localhost}/up", true},
		{"changed within its origin", "url: {url}/text", false},
		{"unchanged", "url: {url}/up", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan struct{}, 4)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateClosed {
					closed <- struct{}{}
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			transports := httpprobe.NewTransports()
			t.Cleanup(transports.CloseIdle)
			urls := strings.NewReplacer("{url}", srv.URL, "{localhost}", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
			var set probeSet
			apply := func(probe string) {
				t.Helper()
				yml := "probes:\n  - name: other\n    http: {url: 'http://127.0.0.1:1/'}\n"
				if probe != "" {
					yml += "  - name: api\n    http:\n      keep_alive: true\n      " + urls.Replace(probe) + "\n"
				}
				cfg, err := config.Parse("test.yml", []byte(yml), func(string) (string, bool) { return "", false })
				if err != nil {
					t.Fatal(err)
				}
				runners, prints, err := set.build(cfg, kinds.All(transports, heartbeat.NewStore(), nil), nil, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				set.swap(runners, prints)
			}
			apply("url: {url}/up")
			if res := set.get("api").Probe(t.Context()); res.State != probes.Up {
				t.Fatalf("probe %s: %s", res.State, res.Reason)
			}
			apply(tt.next)
			if !tt.closed {
				if res := set.get("api").Probe(t.Context()); res.State != probes.Up || httpprobe.FactsOf(res).Phases.Connect != 0 {
					t.Errorf("probe after the reload: %s, connect = %v; want up on the kept connection (0)", res.State, httpprobe.FactsOf(res).Phases.Connect)
				}
				return
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the server saw no connection closed")
			}
		})
	}
}
