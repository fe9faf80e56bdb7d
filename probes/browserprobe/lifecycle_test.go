package browserprobe_test

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// TestBrowserKilledMidRun kills Chromium while a run waits for the page:
// that run is a prober error (the probe stays up, its runs and the page's
// gauges untouched), the next run starts a new Chromium and works (one
// restart counted), and once the browser is closed no process of either
// Chromium is left, nor their user data directories.
func TestBrowserKilledMidRun(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, chrome, "", "10s", indent(6, `url: `+srv.URL+`/hero.html
steps:
  - wait_for: {selector: "#hero"}`))
	b := shared(t, cfg, &log)
	r, kinds := runner(t, b, cfg, &log)
	metrics := probes.NewCollector(func() []*probes.Runner { return []*probes.Runner{r} }, kinds)

	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("first run: %s, %q; want up", res.State, res.Reason)
	}
	pid, dir := b.Process()
	if pid == 0 || dir == "" || len(browserprobe.ProcessesUsing(dir)) == 0 {
		t.Fatalf("Chromium's process %d and user data directory %q, with processes %v: want them", pid, dir, browserprobe.ProcessesUsing(dir))
	}

	done := make(chan probes.Result)
	go func() { done <- r.Probe(t.Context()) }()
	time.Sleep(600 * time.Millisecond) // loaded, waiting for the hero (at 1.2 s)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	lost := <-done
	if !lost.ProberError || !strings.HasPrefix(lost.Reason, "browser: ") || lost.Duration > 5*time.Second {
		t.Errorf("run while Chromium was killed: prober error %v, reason %q after %v; want a prober error at once", lost.ProberError, lost.Reason, lost.Duration)
	}
	t.Logf("the killed run: %q", lost.Reason)
	if st := r.Status(); st.State != probes.Up {
		t.Errorf("after the prober error the probe is %s (%q), want still up", st.State, st.Reason)
	}
	if got := testutil.ToFloat64(b); got != 0 {
		t.Errorf("restarts %v before the next run, want 0", got)
	}

	next := r.Probe(t.Context())
	if next.State != probes.Up || next.ProberError {
		t.Errorf("the run after: %s, %q; want up, on a new Chromium", next.State, next.Reason)
	}
	if got := testutil.ToFloat64(b); got != 1 {
		t.Errorf("lookout_browser_restarts_total %v, want 1", got)
	}
	want := `
# HELP lookout_probe_prober_errors_total Runs lost to the prober itself (a browser that crashed or could not start), not to the target; they leave the probe's state as it was.
# TYPE lookout_probe_prober_errors_total counter
lookout_probe_prober_errors_total{probe="t"} 1
# HELP lookout_probe_runs_total Probe runs by raw result (up, degraded, down).
# TYPE lookout_probe_runs_total counter
lookout_probe_runs_total{probe="t",result="degraded"} 0
lookout_probe_runs_total{probe="t",result="down"} 0
lookout_probe_runs_total{probe="t",result="up"} 2
`
	if err := testutil.GatherAndCompare(metrics, strings.NewReader(want), "lookout_probe_prober_errors_total", "lookout_probe_runs_total"); err != nil {
		t.Error(err)
	}
	pid2, dir2 := b.Process()
	if pid2 == pid || dir2 == dir {
		t.Errorf("the next run used process %d, directory %s: want a new Chromium", pid2, dir2)
	}
	waitGone(t, "the killed Chromium", dir)

	b.Close()
	waitGone(t, "the closed Chromium", dir2)
	if left := descendants(os.Getpid()); len(left) > 0 {
		t.Errorf("processes started by the test are left: %v", left)
	}
	if !strings.Contains(log.String(), "browser restarted") {
		t.Errorf("the log does not tell the restart:\n%s", log.String())
	}
}

// waitGone waits up to 5 s until no process runs with the user data
// directory dir and the directory is gone.
func waitGone(t *testing.T, what, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := browserprobe.ProcessesUsing(dir)
		_, err := os.Stat(dir)
		if len(pids) == 0 && os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: processes %v still use %s (stat: %v)", what, pids, dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// descendants are the processes whose parent chain leads to pid, as
// "PID command".
func descendants(pid int) []string {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	command := map[int]string{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		parent[p], _ = strconv.Atoi(fields[1])
		command[p] = s[strings.IndexByte(s, '(')+1 : i]
	}
	var out []string
	for p := range parent {
		for q, hops := parent[p], 0; q > 1 && hops < 64; q, hops = parent[q], hops+1 {
			if q == pid {
				out = append(out, fmt.Sprintf("%d %s", p, command[p]))
				break
			}
		}
	}
	return out
}

// childEnv makes the test binary a Lookout that starts Chromium and
// waits to be killed (TestNoChromiumOutlivesLookout).
const childEnv = "LOOKOUT_BROWSER_TEST_CHILD"

// TestNoChromiumOutlivesLookout starts a process that runs a browser
// probe, as Lookout does, and kills it with SIGKILL: no Chromium process
// is left after it.
func TestNoChromiumOutlivesLookout(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		childLookout(t)
		return
	}
	chromium(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoChromiumOutlivesLookout$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var dir string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if d, ok := strings.CutPrefix(lines.Text(), "chromium dir "); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		t.Fatal("the child did not start Chromium")
	}
	if len(browserprobe.ProcessesUsing(dir)) == 0 {
		t.Fatal("no Chromium process of the child's")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(browserprobe.ProcessesUsing(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := browserprobe.ProcessesUsing(dir); len(left) > 0 {
		t.Errorf("Chromium processes %v outlived the Lookout that was killed", left)
	}
	_ = os.RemoveAll(dir) // a killed Lookout cannot
}

// childLookout runs a probe, tells its Chromium's user data directory and
// waits to be killed.
func childLookout(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, chrome, "", "10s", indent(6, "url: "+srv.URL+"/hero.html"))
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("run: %s, %q", res.State, res.Reason)
	}
	_, dir := b.Process()
	fmt.Printf("chromium dir %s\n", dir)
	time.Sleep(time.Minute)
}

// TestBrowserWedged stops Chromium (SIGSTOP) while a run waits for the
// page: the run ends at its timeout as a prober error saying Chromium
// stopped answering, and the next run replaces it (one restart).
func TestBrowserWedged(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, chrome, "", "3s", indent(6, `url: `+srv.URL+`/hero.html
steps:
  - wait_for: {selector: "#hero"}`))
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("first run: %s, %q; want up", res.State, res.Reason)
	}
	pid, dir := b.Process()
	done := make(chan probes.Result)
	go func() { done <- r.Probe(t.Context()) }()
	time.Sleep(600 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	wedged := <-done
	if !wedged.ProberError || wedged.Reason != "browser: Chromium stopped answering; it is restarted at the next run" {
		t.Errorf("run while Chromium was stopped: prober error %v, reason %q; want Chromium said to stop answering", wedged.ProberError, wedged.Reason)
	}
	if wedged.Duration > 3500*time.Millisecond {
		t.Errorf("the run took %v, want it to end near its 3 s timeout", wedged.Duration)
	}
	if next := r.Probe(t.Context()); next.State != probes.Up {
		t.Errorf("the run after: %s, %q; want up", next.State, next.Reason)
	}
	if got := testutil.ToFloat64(b); got != 1 {
		t.Errorf("lookout_browser_restarts_total %v, want 1", got)
	}
	waitGone(t, "the stopped Chromium", dir)
}

// TestReloadReplacesBrowser: a reload that changes the executable stops
// the running Chromium at once (no process of it left), and the next run
// starts the new one; that is no restart.
func TestReloadReplacesBrowser(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	section := indent(6, "url: "+srv.URL+"/broken.html")
	cfg := loadConfig(t, chrome, "", "10s", section)
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	if res := r.Probe(t.Context()); res.Facts == nil {
		t.Fatalf("first run: %s, %q", res.State, res.Reason)
	}
	_, dir := b.Process()

	other := filepath.Join(t.TempDir(), "chromium")
	if err := os.Symlink(chrome, other); err != nil {
		t.Fatal(err)
	}
	b.Configure(loadConfig(t, other, "  max_concurrent: 1\n", "10s", section).Browser)
	waitGone(t, "the Chromium of the old settings", dir)
	if res := r.Probe(t.Context()); res.Facts == nil || res.ProberError {
		t.Fatalf("run after the reload: %s, %q", res.State, res.Reason)
	}
	if _, dir2 := b.Process(); dir2 == dir || dir2 == "" {
		t.Errorf("the run after the reload used %q, want a new Chromium", dir2)
	}
	if got := testutil.ToFloat64(b); got != 0 {
		t.Errorf("lookout_browser_restarts_total %v after a reload, want 0", got)
	}
}

// TestReleaseStopsIdleBrowser: Release (a reload that left no browser
// probe) stops the running Chromium at once, no process of it left; a
// later run starts a new one, and neither is a restart.
func TestReleaseStopsIdleBrowser(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, chrome, "", "10s", indent(6, "url: "+srv.URL+"/broken.html"))
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	if res := r.Probe(t.Context()); res.Facts == nil {
		t.Fatalf("first run: %s, %q", res.State, res.Reason)
	}
	_, dir := b.Process()
	b.Release()
	waitGone(t, "the idle Chromium", dir)
	if pid, _ := b.Process(); pid != 0 {
		t.Errorf("after Release the browser has process %d", pid)
	}
	if res := r.Probe(t.Context()); res.Facts == nil || res.ProberError {
		t.Fatalf("run after Release: %s, %q", res.State, res.Reason)
	}
	if _, dir2 := b.Process(); dir2 == dir || dir2 == "" {
		t.Errorf("the run after Release used %q, want a new Chromium", dir2)
	}
	if got := testutil.ToFloat64(b); got != 0 {
		t.Errorf("lookout_browser_restarts_total %v, want 0", got)
	}
}

// TestRemoteBrowser runs a probe in a Chromium that Lookout did not start
// (browser.remote_url, a sidecar): the run works in a browser context of
// its own, which it disposes of, and closing Lookout's browser leaves the
// remote one running.
func TestRemoteBrowser(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	dir := t.TempDir()
	cmd := exec.Command(chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--remote-debugging-port=0", "--user-data-dir="+dir, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before t.TempDir's: no helper may write in dir then
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		for deadline := time.Now().Add(5 * time.Second); len(browserprobe.ProcessesUsing(dir)) > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	})
	var endpoint string
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if ws, ok := strings.CutPrefix(lines.Text(), "DevTools listening on "); ok {
			u, err := url.Parse(ws)
			if err != nil {
				t.Fatal(err)
			}
			endpoint = "ws://" + u.Host
			break
		}
	}
	if endpoint == "" {
		t.Fatal("the remote Chromium did not say where it listens")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	var log logBuffer
	yml := fmt.Sprintf("browser: {remote_url: %q}\nprobes:\n  - name: t\n    timeout: 10s\n    browser:\n      url: %s/hero.html\n", endpoint, srv.URL)
	cfg, err := config.Parse("t.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("run in the remote browser: %s, %q", res.State, res.Reason)
	}
	b.Close()

	// The remote browser still runs, and holds no browser context of the
	// run's.
	alloc, cancel := remote.NewAllocator(t.Context(), endpoint)
	defer cancel()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	contexts, err := chromedp.CallBrowser(ctx, target.GetBrowserContexts, cdp.Empty{})
	if err != nil {
		t.Fatalf("the remote Chromium does not answer after Lookout's browser closed: %v", err)
	}
	if len(contexts.BrowserContextIDs) != 0 {
		t.Errorf("browser contexts %v are left in the remote Chromium, want the run's disposed of", contexts.BrowserContextIDs)
	}
}

// TestBrowserDoesNotStart: an executable that is no Chromium makes each
// run a prober error that says so, within the run's timeout.
func TestBrowserDoesNotStart(t *testing.T) {
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, "/bin/false", "", "5s", indent(6, "url: "+srv.URL+"/hero.html"))
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	for i := range 2 {
		res := r.Probe(t.Context())
		if !res.ProberError || !strings.HasPrefix(res.Reason, "browser: start /bin/false: ") || res.Duration > 5*time.Second {
			t.Errorf("run %d: prober error %v, reason %q after %v; want a prober error saying Chromium did not start", i+1, res.ProberError, res.Reason, res.Duration)
		}
		t.Logf("run %d: %s", i+1, res.Reason)
	}
	if st := r.Status(); st.State != probes.Up || len(st.Results) != 2 {
		t.Errorf("state %s with %d results, want still up (no run judged the site) with both in the history", st.State, len(st.Results))
	}
}
