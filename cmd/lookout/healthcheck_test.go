package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestHealthTarget: lookout healthcheck --config checks the admin
// listener where the daemon listens, on loopback when it listens on every
// interface.
func TestHealthTarget(t *testing.T) {
	tests := []struct{ listen, want string }{
		{"127.0.0.1:9477", "http://127.0.0.1:9477/healthz"},
		{"0.0.0.0:9000", "http://127.0.0.1:9000/healthz"},
		{"':9477'", "http://127.0.0.1:9477/healthz"},
		{"'[::]:9477'", "http://[::1]:9477/healthz"},
		{"10.1.2.3:9477", "http://10.1.2.3:9477/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "lookout.yml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, "server: {listen: %s}\nstorage: {path: %q}\n", tt.listen, dir), 0o600); err != nil {
				t.Fatal(err)
			}
			got, pinned, err := healthTarget(cfg)
			if err != nil || got != tt.want || pinned != nil {
				t.Errorf("healthTarget = %q, %v, %v; want %q, no certificate", got, pinned != nil, err, tt.want)
			}
		})
	}
}
