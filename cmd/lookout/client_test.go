package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/testca"
)

// TestCommandsOverTLS drives lookout silence add, ls and expire and lookout
// healthcheck against a daemon with TLS, tokens of both roles, basic auth
// and client certificates: credentials come from files or LOOKOUT_TOKEN,
// and the daemon's answers say when they are missing or too weak.
func TestCommandsOverTLS(t *testing.T) {
	ca := testca.New(t, "cli-test")
	cert, key := ca.Server(t, "daemon")
	clientCert, clientKey := ca.Client(t, "operator")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file("web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: %s\nbasic_auth_users:\n  alice: %s\n",
		cert, key, ca.CertFile, hash))
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	file("tokens.yml", fmt.Sprintf("tokens:\n  - {name: ci, sha256: %s, role: admin}\n  - {name: grafana, sha256: %s, role: read}\n", sum("admin-token"), sum("read-token")))
	adminTokenFile := file("admin.token", "admin-token\n")
	readTokenFile := file("read.token", "read-token\n")
	passwordFile := file("alice.password", "alice-password\n")
	cfg := file("lookout.yml", fmt.Sprintf("server:\n  listen: 127.0.0.1:0\n  web_config_file: web.yml\n  api_tokens_file: tokens.yml\nstorage: {path: %q}\nprobes: []\n", dir))

	url := "https://" + startDaemon(t, cfg)
	tlsFlags := []string{"--url", url, "--tls.ca-file", ca.CertFile}
	// The daemon's config as lookout healthcheck --config reads it (with
	// the port it got), and one whose web config holds another certificate.
	listen := strings.TrimPrefix(url, "https://")
	sameCfg := file("same.yml", fmt.Sprintf("server:\n  listen: %s\n  web_config_file: web.yml\nstorage: {path: %q}\n", listen, dir))
	otherCert, otherKey := testca.New(t, "other").Server(t, "impostor")
	file("other-web.yml", fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", otherCert, otherKey))
	otherCfg := file("other.yml", fmt.Sprintf("server:\n  listen: %s\n  web_config_file: other-web.yml\nstorage: {path: %q}\n", listen, dir))

	var id string // the silence added, for ls and expire
	tests := []struct {
		name     string
		args     []string
		env      string // LOOKOUT_TOKEN
		wantCode int
		want     string
	}{
		{"add with an admin token file", []string{"silence", "add", "--token-file", adminTokenFile, "--author", "bob", `alertname="ProbeDown"`}, "", 0, " until "},
		{"ls with LOOKOUT_TOKEN of read", []string{"silence", "ls"}, "read-token", 0, "active"},
		{"ls with a client certificate", []string{"silence", "ls", "--tls.cert-file", clientCert, "--tls.key-file", clientKey}, "", 0, "active"},
		{"ls without credentials", []string{"silence", "ls"}, "", 1, "401 Unauthorized"},
		{"add with a read token", []string{"silence", "add", "--token-file", readTokenFile, `alertname="X"`}, "", 1, "403 Forbidden"},
		{"expire as a basic-auth admin", []string{"silence", "expire", "--username", "alice", "--password-file", passwordFile, "ID"}, "", 0, "expired "},
		{"ls shows it expired", []string{"silence", "ls", "--token-file", readTokenFile}, "", 0, "expired"},
		{"a password is never a flag", []string{"silence", "ls", "--username", "alice"}, "", 2, "--username needs --password-file"},
		{"one kind of credentials", []string{"silence", "ls", "--username", "alice", "--password-file", passwordFile, "--token-file", readTokenFile}, "", 2, "want one of them"},
		{"healthcheck over TLS", []string{"healthcheck", "--url", url + "/healthz", "--tls.ca-file", ca.CertFile}, "", 0, ""},
		{"healthcheck with an unknown CA", []string{"healthcheck", "--url", url + "/healthz"}, "", 1, "certificate"},
		{"healthcheck without verifying", []string{"healthcheck", "--url", url + "/healthz", "--tls.insecure-skip-verify"}, "", 0, ""},
		{"healthcheck from the daemon's config trusts its certificate", []string{"healthcheck", "--config", sameCfg}, "", 0, ""},
		{"healthcheck from a config with another certificate", []string{"healthcheck", "--config", otherCfg}, "", 1, "serves another certificate"},
		{"healthcheck with --url and --config", []string{"healthcheck", "--config", sameCfg, "--url", url}, "", 2, "want one of them"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LOOKOUT_TOKEN", tt.env)
			args := tt.args
			if args[0] == "silence" {
				args = append(append([]string{args[0], args[1]}, tlsFlags...), args[2:]...)
			}
			for i, a := range args {
				if a == "ID" {
					args[i] = id
				}
			}
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			got := out.String() + errOut.String()
			if code != tt.wantCode || !strings.Contains(got, tt.want) {
				t.Fatalf("exit %d, want %d; output %q, want it to contain %q", code, tt.wantCode, got, tt.want)
			}
			if tt.name == "add with an admin token file" {
				id, _, _ = strings.Cut(out.String(), " ")
			}
			for _, secret := range []string{"admin-token", "read-token", "alice-password"} {
				if strings.Contains(got, secret) {
					t.Errorf("output shows a credential: %q", got)
				}
			}
		})
	}
}

// TestCheckWarns: lookout check passes a config whose admin API is open
// beyond loopback, and says so.
func TestCheckWarns(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		{"every interface without credentials", "server: {listen: 0.0.0.0:9477}\n",
			":1:18: server.listen: warning: 0.0.0.0:9477 is not a loopback address and the admin API takes no credentials"},
		{"loopback", "server: {listen: 127.0.0.1:9477}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, tt.yml)
			var out, errOut bytes.Buffer
			if code := run([]string{"check", file}, &out, &errOut); code != 0 || !strings.Contains(out.String(), ": OK,") {
				t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
			}
			if got := errOut.String(); tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("stderr %q; want %q", got, tt.want)
			}
		})
	}
}
