package browserprobe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/lookout-dev/lookout/config"
)

const (
	// startTimeout bounds Chromium's start (or the connection to a remote
	// one); a run waits for it at most until its own timeout.
	startTimeout = 30 * time.Second
	// pingTimeout bounds the check that tells a browser that stopped
	// answering from a page that keeps its tab busy; it takes what is
	// left of the run, at least minPing.
	pingTimeout = time.Second
	minPing     = 200 * time.Millisecond
	// closeGrace bounds a browser's orderly close before it is killed.
	closeGrace = 3 * time.Second
)

// flags are Chromium's command line, exactly: chromedp adds only the pipe
// it talks over, the user data directory and the first page
// (about:blank).
var flags = []struct {
	name string
	on   bool
}{
	{"headless", true},
	{"no-sandbox", true},
	{"disable-gpu", true},
	{"disable-background-networking", true},
	{"disable-component-update", true},
	{"disable-sync", true},
	{"no-first-run", true},
}

// instance is one Chromium: a process Lookout started with a temporary
// user data directory of its own, or a connection to a remote one.
type instance struct {
	remote bool
	dir    string // the user data directory; "" for a remote browser
	// ctx is chromedp's context of the browser, whose life is the
	// instance's; cancel ends it, and cancelAlloc ends the allocator and
	// waits for the process to be reaped.
	ctx         context.Context
	cancel      context.CancelFunc
	cancelAlloc context.CancelFunc

	ready chan struct{} // closed when the start succeeded or failed
	// After ready: err is why it did not start; pid is the process (0 for
	// a remote browser); lost closes when the connection to it drops;
	// version is its product, like "HeadlessChrome/156.0.8078.129", and
	// userAgent its own.
	err        error
	pid        int
	lost       <-chan struct{}
	version    string
	userAgent  string
	broken     atomic.Bool // a run found it not answering
	stopOnce   sync.Once
	stopped    chan struct{}
	stopReason atomic.Pointer[string] // why it was stopped, for the runs it ends
}

// launch starts a Chromium as s says, in the background: ready closes when
// it runs or failed to start.
func launch(s config.BrowserSettings) *instance {
	inst := &instance{ready: make(chan struct{}), stopped: make(chan struct{})}
	var allocCtx context.Context
	if s.RemoteURL != "" {
		inst.remote = true
		allocCtx, inst.cancelAlloc = remote.NewAllocator(context.Background(), s.RemoteURL, remote.WithDialTimeout(startTimeout))
	} else {
		dir, err := os.MkdirTemp("", "lookout-chromium-")
		if err != nil {
			inst.err = fmt.Errorf("create Chromium's user data directory: %w", err)
			inst.ctx, inst.cancel = context.WithCancel(context.Background())
			inst.cancelAlloc = func() {}
			close(inst.ready)
			return inst
		}
		inst.dir = dir
		opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(s.Executable), chromedp.UserDataDir(dir)}
		for _, f := range flags {
			opts = append(opts, chromedp.Flag(f.name, f.on))
		}
		allocCtx, inst.cancelAlloc = chromedp.NewExecAllocator(context.Background(), append(opts, processOptions()...)...)
	}
	// chromedp logs protocol oddities with the standard logger, sometimes
	// with a message's contents: those could be a page's text or a field's
	// value, so they go nowhere.
	quiet := func(string, ...any) {}
	var cancel context.CancelFunc
	inst.ctx, cancel = chromedp.NewContext(allocCtx,
		chromedp.WithBrowserOption(chromedp.WithBrowserLogf(quiet), chromedp.WithBrowserErrorf(quiet)))
	// Once: chromedp's cancel of a browser that never started waits for
	// it a second time for ever.
	inst.cancel = sync.OnceFunc(cancel)
	go inst.start(s)
	return inst
}

// start starts the browser: the first call on its context allocates it,
// and binds its life to that context, which has no deadline; a timer
// bounds the start instead.
func (inst *instance) start(s config.BrowserSettings) {
	defer close(inst.ready)
	timer := time.AfterFunc(startTimeout, inst.cancel)
	v, err := chromedp.CallBrowser(inst.ctx, browser.GetVersion, cdp.Empty{})
	timedOut := !timer.Stop()
	if err != nil {
		switch {
		case timedOut:
			err = fmt.Errorf("did not start within %s", startTimeout)
		case inst.remote:
			err = fmt.Errorf("connect to %s: %w", redactURL(s.RemoteURL), err)
		default:
			why := strings.TrimSuffix(firstLine(err.Error()), ":")
			if exit := (*exec.ExitError)(nil); errors.As(err, &exit) && !strings.Contains(why, exit.String()) {
				why += " (" + exit.String() + ")"
			}
			err = fmt.Errorf("start %s: %s", s.Executable, why)
		}
		inst.err = err
		return
	}
	inst.version, inst.userAgent = v.Product, v.UserAgent
	b := chromedp.FromContext(inst.ctx).Browser
	inst.lost = b.LostConnection
	if p := b.Process(); p != nil {
		inst.pid = p.Pid
	}
}

// usable reports whether runs may use the browser: it is starting or
// runs, and no run found it dead or not answering.
func (inst *instance) usable() bool {
	select {
	case <-inst.ready:
	default:
		return true
	}
	return inst.err == nil && !inst.broken.Load() && !inst.gone()
}

// started reports whether the browser started (it may have died since).
func (inst *instance) started() bool {
	select {
	case <-inst.ready:
		return inst.err == nil
	default:
		return false
	}
}

// gone reports whether the connection to the started browser dropped or
// the browser was stopped.
func (inst *instance) gone() bool {
	select {
	case <-inst.lost:
		return true
	default:
	}
	return inst.ctx.Err() != nil
}

// ping asks the browser process (not a tab) for its version: false when
// it does not answer within d.
func (inst *instance) ping(d time.Duration) bool {
	ctx, cancel := context.WithTimeout(inst.ctx, d)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
	return err == nil
}

// stop ends the browser, once, saying why to the runs it ends: a start
// in progress is abandoned; a Chromium that answers is asked to close
// (it then reaps its helpers), for at most closeGrace; else its process
// group is killed. Then the process is reaped, any process left with its
// user data directory killed, and the directory removed. A remote browser
// is only disconnected from.
func (inst *instance) stop(why string) {
	inst.stopOnce.Do(func() {
		inst.stopReason.Store(&why)
		select {
		case <-inst.ready:
		default:
			inst.cancel()
			<-inst.ready
		}
		closed := false
		if inst.started() && !inst.remote && !inst.gone() && !inst.broken.Load() {
			ctx, cancel := context.WithTimeout(inst.ctx, closeGrace)
			closed = chromedp.Cancel(ctx) == nil
			cancel()
		}
		if !closed {
			killGroup(inst.pid) // before the reaping, so that the group is surely Chromium's
		}
		inst.cancel()
		inst.cancelAlloc()
		if c := chromedp.FromContext(inst.ctx); c != nil && c.Allocator != nil {
			c.Allocator.Wait()
		}
		if inst.dir != "" {
			killLeftovers(inst.dir)
			removeDir(inst.dir)
		}
		close(inst.stopped)
	})
}

// removeDir removes the user data directory; a helper that was still
// writing may need a second try.
func removeDir(dir string) {
	for range 50 {
		if err := os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lostReason words why the connection to the browser dropped, with the
// process's end when Lookout started it ("signal: killed").
func (inst *instance) lostReason(err error) string {
	if why := inst.stopReason.Load(); why != nil {
		return *why
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return "the connection to Chromium was lost: it exited (" + exit.String() + ")"
	}
	if inst.remote {
		return "the connection to the remote Chromium was lost"
	}
	return "the connection to Chromium was lost (it crashed or was killed)"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
