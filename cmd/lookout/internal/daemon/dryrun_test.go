package daemon

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReloadDryRun: a reload whose config is valid but would not start —
// a listen address taken, a storage path that cannot be a directory — is
// refused with the section named, and the running config stays; a reload
// that changes only what starts fine is applied.
func TestReloadDryRun(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "lookout.yml")
	write := func(listen, storage, probe string) {
		t.Helper()
		writeConfig(t, cfg, fmt.Sprintf(`server: {listen: %q}
storage: {path: %q}
alerting:
  route: {receiver: hook}
  receivers:
    - {name: hook, webhook: {url: "http://127.0.0.1:9/hook"}}
probes:
  - {name: %s, interval: 1h, http: {url: "http://127.0.0.1:9/"}}
`, listen, storage, probe))
	}
	write("127.0.0.1:0", filepath.Join(dir, "data"), "first")
	d := startDaemon(t, cfg)

	tests := []struct {
		name, listen, storage string
		want                  []string // in the answer; empty: applied
	}{
		{"listen address taken", taken.Addr().String(), filepath.Join(dir, "data"), []string{"server.listen", "address already in use"}},
		{"storage path under a file", "127.0.0.1:0", filepath.Join(notADir, "data"), []string{"storage.path", "not a directory"}},
		{"both, reported together", taken.Addr().String(), filepath.Join(notADir, "data"), []string{"server.listen", "storage.path"}},
		{"a new storage path that works", "127.0.0.1:0", filepath.Join(dir, "other"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.listen, tt.storage, "second")
			resp, body := postReload(t, d)
			if len(tt.want) == 0 {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("reload: %d %s, want 200", resp.StatusCode, body)
				}
				if _, p := d.get(t, "/api/v1/probes/second"); !strings.Contains(p, `"second"`) {
					t.Errorf("after an applied reload, probe second is missing: %s", p)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("reload: %d %s, want 400", resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("reload answer %q lacks %q", body, w)
				}
			}
			if r, _ := d.get(t, "/api/v1/probes/second"); r.StatusCode != http.StatusNotFound {
				t.Errorf("after a refused reload, probe second exists (%d): the running config changed", r.StatusCode)
			}
		})
	}
}
