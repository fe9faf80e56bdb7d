package browserprobe_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// requireEnv is set by .ci/test: there a missing Chromium fails the tests
// instead of skipping them.
const requireEnv = "LOOKOUT_BROWSER_TESTS"

// chromium returns the path of Chromium, or skips the test when there is
// none and .ci/test did not ask for browser tests.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range config.BrowserExecutables {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s is set but none of %v is on PATH (apt-get install chromium)", requireEnv, config.BrowserExecutables)
	}
	t.Skipf("browser test skipped: none of %v is on PATH (apt-get install chromium; .ci/test installs it)", config.BrowserExecutables)
	return ""
}

// logBuffer is a log a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is what ${VAR} references read in the tests' configs.
var env = map[string]string{"PROBE_PASSWORD": secret}

// secret is the login test's password: with a space, + and & it has a
// different form in a URL's query and path.
const secret = "s3cr3t pa55+word&x"

// loadConfig loads a config of one browser probe named t, using the
// Chromium at executable (with browser: extra settings), with the given
// timeout and browser section (a YAML block indented by 6). Its storage,
// and so the evidence of down runs unless extra says otherwise, is in a
// temporary folder of the test.
func loadConfig(t *testing.T, executable, extra, timeout, section string) *config.Config {
	t.Helper()
	yml := fmt.Sprintf("storage: {path: %q}\nbrowser:\n  executable: %s\n%sprobes:\n  - name: t\n    timeout: %s\n    browser:\n%s",
		filepath.Join(t.TempDir(), "data"), executable, extra, timeout, section)
	cfg, err := config.Parse("t.yml", []byte(yml), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// shared is a Browser configured as cfg says and closed when the test
// ends, its log in log.
func shared(t *testing.T, cfg *config.Config, log *logBuffer) *browserprobe.Browser {
	t.Helper()
	b := browserprobe.NewBrowser(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	b.Configure(cfg.Browser)
	t.Cleanup(b.Close)
	return b
}

// runner builds the runner of cfg's probe on b.
func runner(t *testing.T, b *browserprobe.Browser, cfg *config.Config, log *logBuffer) (*probes.Runner, probes.Kinds) {
	t.Helper()
	kinds := probes.Kinds{browserprobe.Kind(b)}
	r, err := kinds.NewRunner(cfg.Probes[0], slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return r, kinds
}

// site serves testdata's pages on loopback, and what the tests need
// beside them.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(os.DirFS("testdata")))
	// Chromium asks for it on its own, sooner or later: not the pages'.
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /csp.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "img-src 'self'")
		http.ServeFileFS(w, r, os.DirFS("testdata"), "csp.html")
	})
	mux.HandleFunc("GET /welcome", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("password") != secret {
			fmt.Fprint(w, "<!doctype html><p>Wrong password.</p>")
			return
		}
		// A page that leaks the password every way a run could tell it:
		// console lines and a failing request with it in the URL's path
		// (and the page's URL has it in its query).
		fmt.Fprintf(w, `<!doctype html><p>Welcome back, %s</p>
<img src="/avatar/%s.png" alt="">
<script>console.error('signed in at', location.href); console.error('password was', %q);</script>`,
			r.FormValue("email"), url.PathEscape(secret), secret)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// indent indents YAML lines by n spaces.
func indent(n int, yml string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(yml, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}
