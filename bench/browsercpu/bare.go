package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
)

// chromiumFlags are Lookout's browser's command line (browserprobe's
// flags), which chromedp completes with the pipe it talks over, the user
// data directory and the first page.
var chromiumFlags = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-background-networking",
	"disable-component-update", "disable-sync", "no-first-run",
}

// bareBrowser is a Chromium this program drives with chromedp alone.
type bareBrowser struct {
	ctx         context.Context // the browser's chromedp context
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc
}

// newBare starts Chromium at exe with Lookout's flags (and extra ones),
// in a process group of its own that dies with this process, as Lookout
// starts it.
func newBare(exe, dir string, extra ...string) (*bareBrowser, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.UserDataDir(dir),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	}
	for _, f := range append(chromiumFlags, extra...) {
		name, value, ok := strings.Cut(f, "=")
		if name == "remote-debugging-port" {
			opts = append(opts, remote.WebSocket) // chromedp then talks over it
		}
		if ok {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	quiet := func(string, ...any) {}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithBrowserOption(chromedp.WithBrowserLogf(quiet), chromedp.WithBrowserErrorf(quiet)))
	b := &bareBrowser{ctx: ctx, cancel: cancel, cancelAlloc: cancelAlloc}
	// The first call starts the browser and binds its life to the context
	// it is made with: the browser's, which has no deadline.
	timer := time.AfterFunc(30*time.Second, cancel)
	defer timer.Stop()
	if err := chromedp.Do(ctx); err != nil {
		b.close()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	return b, nil
}

func (b *bareBrowser) close() {
	b.cancel()
	b.cancelAlloc()
}

// contexts counts the browser contexts open in the browser: every
// client's, not only this one's.
func (b *bareBrowser) contexts() (int, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.CallBrowser(ctx, target.GetBrowserContexts, cdp.Empty{})
	if err != nil {
		return 0, err
	}
	return len(res.BrowserContextIDs), nil
}

// devtoolsURL is the DevTools endpoint of a browser started with
// remote-debugging-port=0, from the port it wrote in its profile.
func devtoolsURL(ctx context.Context, dir string) (string, error) {
	for ctx.Err() == nil {
		if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			if port, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && port > 0 {
				return "http://127.0.0.1:" + strconv.Itoa(port), nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("no DevToolsActivePort in %s", dir)
}

// entriesJS reads the same PerformanceObserver entries Lookout's script
// does (navigation, paint, largest-contentful-paint, layout-shift,
// longtask), buffered, lets the page render two frames, takes the
// entries not delivered yet (until there is an LCP, for at most 2 s: a
// fresh tab may not have painted at its load event), and returns them
// as JSON.
const entriesJS = `new Promise((resolve) => {
  const m = {ttfb: -1, fcp: -1, lcp: -1, cls: 0, longTasks: 0};
  const observers = [];
  const observe = (type, each) => {
    try {
      const o = new PerformanceObserver((list) => list.getEntries().forEach(each));
      o.observe({type, buffered: true});
      observers.push([o, each]);
    } catch (e) {}
  };
  observe('navigation', (e) => { m.ttfb = e.responseStart; });
  observe('paint', (e) => { if (e.name === 'first-contentful-paint') m.fcp = e.startTime; });
  observe('largest-contentful-paint', (e) => { m.lcp = e.startTime; });
  observe('layout-shift', (e) => { if (!e.hadRecentInput) m.cls += e.value; });
  observe('longtask', (e) => { m.longTasks += e.duration; });
  const deadline = performance.now() + 2000;
  const done = () => {
    for (const [o, each] of observers) o.takeRecords().forEach(each);
    if (m.lcp < 0 && performance.now() < deadline) return setTimeout(done, 50);
    for (const [o] of observers) o.disconnect();
    resolve(JSON.stringify(m));
  };
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 50)));
})`

// run is one bare run of pageURL: a new tab in a new incognito browser
// context, the page loaded (to its load event), the entries read, the
// context closed.
func (b *bareBrowser) run(pageURL string) func(context.Context) error {
	return func(ctx context.Context) error {
		tabCtx, cancelTab := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
		defer cancelTab()
		runCtx, cancel := context.WithCancel(tabCtx)
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		if err := chromedp.Do(runCtx, chromedp.Navigate(pageURL)); err != nil {
			return fmt.Errorf("load: %w", err)
		}
		raw, err := chromedp.Run(runCtx, chromedp.Evaluate[string](entriesJS, chromedp.EvalAwaitPromise))
		if err != nil {
			return fmt.Errorf("read the entries: %w", err)
		}
		var m struct{ LCP float64 }
		if err := json.Unmarshal([]byte(raw), &m); err != nil || m.LCP <= 0 {
			return fmt.Errorf("no LCP in %s", raw)
		}
		return nil
	}
}
