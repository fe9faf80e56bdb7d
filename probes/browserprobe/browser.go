package browserprobe

import (
	"context"
	"log/slog"
	"sync"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// Browser is the one Chromium that every browser probe of a Lookout
// shares (the browser: section), started at the first run that needs it,
// or the remote one it connects to. Each run gets a fresh incognito
// browser context of its own, closed when the run ends; at most
// max_concurrent runs use it at once, the others wait in line within
// their timeout. A browser that crashed or stopped answering is replaced
// at the next run, counted in lookout_browser_restarts_total.
//
// No Chromium outlives Lookout: Close (at shutdown), a reload that
// changes the executable or remote_url, and one that leaves no browser
// probe (Release) close it (killing its process
// group when it does not close in time), kill any process left with its
// user data directory and remove the directory; on Linux the kernel
// kills it if Lookout dies, even killed.
type Browser struct {
	log       *slog.Logger
	restarts  prometheus.Counter
	artifacts *ArtifactStore
	slots     slots

	mu       sync.Mutex
	settings config.BrowserSettings
	cur      *instance // nil until a run needs a browser
	closed   bool
	// tabs are the runs' tabs, from when a run opens one until it is
	// closed (in the background, after the run); stopping are the
	// browsers being stopped.
	tabs, stopping sync.WaitGroup
}

var _ prometheus.Collector = (*Browser)(nil)

// NewBrowser returns the shared browser, not started; log receives its
// starts, restarts and stops.
func NewBrowser(log *slog.Logger) *Browser {
	b := &Browser{
		log:       log,
		artifacts: NewArtifactStore(log),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lookout_browser_restarts_total",
			Help: "Times the browser probes' Chromium was replaced because it crashed, lost its connection or stopped answering.",
		}),
	}
	b.slots.setLimit(config.DefaultBrowserConcurrent)
	return b
}

// Artifacts is where the browser probes keep the evidence of their
// failing runs.
func (b *Browser) Artifacts() *ArtifactStore { return b.artifacts }

// Describe is the restart counter's.
func (b *Browser) Describe(ch chan<- *prometheus.Desc) { b.restarts.Describe(ch) }

// Collect is the restart counter's.
func (b *Browser) Collect(ch chan<- prometheus.Metric) { b.restarts.Collect(ch) }

// Configure applies the browser section, at start and at each reload: a
// new max_concurrent applies to the runs that start after it; another
// executable or remote_url stops the running browser, and the next run
// starts the new one. It configures the evidence's store too.
func (b *Browser) Configure(s config.BrowserSettings) {
	b.artifacts.Configure(s.Artifacts)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.slots.setLimit(max(s.MaxConcurrent, 1))
	if s.Executable == b.settings.Executable && s.RemoteURL == b.settings.RemoteURL {
		b.settings = s
		return
	}
	b.settings = s
	if b.cur != nil {
		b.retire(b.cur, "the browser settings changed (reload): this run's browser was stopped")
		b.cur = nil
	}
}

// Release stops the running browser, if any, when no browser probe is
// left (a reload removed the last), so that an idle Chromium holds no
// memory; a run that needs one later starts it again. That is no restart.
func (b *Browser) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil {
		b.retire(b.cur, "no browser probe is left (reload): the browser was stopped")
		b.cur = nil
	}
}

// Close waits for the runs' tabs to close (the runs in flight end at
// their timeout, and closing a tab is bounded), then stops the browser and
// waits until its processes are gone. Runs after Close fail as prober
// errors.
func (b *Browser) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.tabs.Wait() // their browser contexts disposed of, in a remote browser too
	b.mu.Lock()
	if b.cur != nil {
		b.retire(b.cur, "Lookout is stopping: the browser was closed")
		b.cur = nil
	}
	b.mu.Unlock()
	b.stopping.Wait()
}

// retire stops inst in the background; b.mu is held.
func (b *Browser) retire(inst *instance, why string) {
	b.stopping.Add(1)
	go func() {
		defer b.stopping.Done()
		inst.stop(why)
		if inst.started() && !inst.remote {
			b.log.Debug("browser stopped", "pid", inst.pid)
		}
	}()
}

// errClosed is the error of a run after Close.
const errClosed = proberError("Lookout is stopping")

// instance returns the running browser, starting one when there is none
// or the last one died or stopped answering; it waits for the start at
// most until ctx ends. The caller holds a slot, and b.tabs counts it.
func (b *Browser) instance(ctx context.Context) (*instance, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errClosed
	}
	inst := b.cur
	if inst != nil && !inst.usable() {
		if inst.started() {
			b.restarts.Inc()
			b.log.Warn("browser restarted", "reason", b.why(inst), "pid", inst.pid)
		}
		b.retire(inst, "the browser was replaced")
		inst, b.cur = nil, nil
	}
	if inst == nil {
		s := b.settings
		if s.Executable == "" && s.RemoteURL == "" {
			b.mu.Unlock()
			return nil, proberError("no Chromium configured (browser.executable or browser.remote_url)")
		}
		inst = launch(s)
		b.cur = inst
	}
	b.mu.Unlock()
	select {
	case <-inst.ready:
	case <-ctx.Done():
		return nil, proberError("Chromium did not start within the probe's timeout")
	}
	if inst.err != nil {
		return nil, proberError(inst.err.Error())
	}
	return inst, nil
}

// why words why a started browser is no longer usable.
func (b *Browser) why(inst *instance) string {
	if inst.broken.Load() {
		return "it stopped answering"
	}
	return inst.lostReason(nil)
}

// tab is a run's page: a new tab in a fresh incognito browser context.
type tab struct {
	b    *Browser
	inst *instance
	// ctx is chromedp's context of the tab, bounded by the run's; its
	// first use opens the tab.
	ctx       context.Context
	cancelRun context.CancelFunc
	cancelTab context.CancelFunc
	closeOnce sync.Once
}

// open waits for a slot and the browser (within ctx), and returns a new
// tab, in a new incognito browser context, whose events go to listen from
// the first one on. Close it when the run ends.
func (b *Browser) open(ctx context.Context, listen func(ev any)) (*tab, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errClosed
	}
	b.tabs.Add(1)
	b.mu.Unlock()
	if err := b.slots.acquire(ctx); err != nil {
		b.tabs.Done()
		return nil, proberError("no browser slot free within the probe's timeout (browser.max_concurrent runs were in flight)")
	}
	inst, err := b.instance(ctx)
	if err != nil {
		b.slots.release()
		b.tabs.Done()
		return nil, err
	}
	tabCtx, cancelTab := chromedp.NewContext(inst.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(listen))
	runCtx, cancelRun := bound(tabCtx, ctx)
	return &tab{b: b, inst: inst, ctx: runCtx, cancelRun: cancelRun, cancelTab: cancelTab}, nil
}

// close ends the tab's run at once, and closes the tab and its browser
// context in the background (a browser that stopped answering would hold
// the run past its timeout otherwise); the slot is free once it is.
func (t *tab) close() {
	t.closeOnce.Do(func() {
		t.cancelRun()
		go func() {
			defer t.b.tabs.Done()
			t.cancelTab()
			t.b.slots.release()
		}()
	})
}

// bound is tab's context with run's deadline and cancellation.
func bound(tab, run context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(tab)
	cancelDeadline := context.CancelFunc(func() {})
	if d, ok := run.Deadline(); ok {
		ctx, cancelDeadline = context.WithDeadline(ctx, d)
	}
	stop := context.AfterFunc(run, cancel)
	return ctx, func() {
		stop()
		cancelDeadline()
		cancel()
	}
}
