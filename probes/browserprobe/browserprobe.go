// Package browserprobe is the browser probe (probes[].browser): a page
// loaded in headless Chromium, as a phone or a desktop, slowed down if
// configured, scripted steps run on it (wait for, click, fill, press),
// and the page measured as the web-vitals library and Lighthouse do (LCP,
// FCP, TTFB, CLS, TBT, INP), with its uncaught errors, console.error
// lines, failed requests, CSP violations, requests and bytes. Every run
// has a fresh incognito browser context of the one Chromium all browser
// probes share (Browser), closed when the run ends.
//
// A run lost to the browser itself (it crashed, could not start, or its
// connection dropped) is a prober error, which leaves the probe's state as
// it was: the site was not found down. Secrets never leave a run: a
// probe's secrets are *** in every reason and fact.
package browserprobe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/exprcheck"
)

const (
	// quietFor and maxSettle: after its steps, a run of wait_until
	// networkidle waits for the network to be quiet this long (at most
	// maxSettle), as Playwright's networkidle does, so late images and
	// layout shifts count.
	quietFor  = 500 * time.Millisecond
	maxSettle = 2 * time.Second
	// maxMeasure is the part of the probe's timeout kept for reading the
	// metrics at the end, so that a step that waits until the timeout
	// still leaves a measured run (a tenth of the timeout when shorter).
	maxMeasure = time.Second
)

// Prober runs one browser probe. It is safe for one run at a time.
type Prober struct {
	name    string
	cfg     *config.Browser
	browser *Browser
	device  device
	redact  redactor
	keys    map[string]rune
}

var _ probes.Prober = (*Prober)(nil)

// New builds the prober of pc, whose runs use b.
func New(pc config.Probe, b *Browser) (*Prober, error) {
	if b == nil {
		return nil, errors.New("browserprobe: browser probes need the shared browser (daemon.Options.Browser)")
	}
	if pc.Browser == nil || pc.Browser.URL.URL == nil {
		return nil, errors.New("browserprobe: no url (config should have refused it)")
	}
	return &Prober{name: pc.Name, cfg: pc.Browser, browser: b, device: deviceOf(pc.Browser), redact: newRedactor(pc.Secrets), keys: keyNames()}, nil
}

// proberError is a run lost to the browser, not the page.
type proberError string

func (e proberError) Error() string { return "browser: " + string(e) }

// run is one run of a probe.
type run struct {
	p      *Prober
	device device
	ctx    context.Context // the probe's
	t      *tab
	events *pageEvents
	record *recorder // the evidence's console lines and requests
	names  names
	// checks are the run's expressions' results; shot is the screenshot
	// of a run that failed, taken before its tab closed.
	checks []probes.Check
	shot   []byte
	// stepDeadline ends the load and the steps, before the run's
	// deadline, whose rest the measurement at the end may use.
	deadline, stepDeadline time.Time
}

// Probe loads the page, runs the steps and measures.
func (p *Prober) Probe(ctx context.Context) probes.Result {
	start := time.Now()
	res := probes.Result{Start: start, State: probes.Down}
	r := &run{p: p, device: p.device, ctx: ctx, names: newNames(), record: newRecorder()}
	f, err := r.run()
	res.Duration = time.Since(start)
	if f != nil {
		p.redact.facts(f)
		res.Facts = f
	}
	var pe proberError
	switch {
	case errors.As(err, &pe):
		res.ProberError, res.Reason, res.Facts = true, p.redact.String(pe.Error()), nil
	case err != nil:
		res.Reason = p.redact.String(err.Error())
	default:
		res.Checks = r.checks
		res.State, res.Reason = probes.Verdict(res.Checks)
		res.Reason = p.redact.String(res.Reason)
	}
	if res.State == probes.Down && !res.ProberError {
		p.keepEvidence(res, r)
	}
	return res
}

// run opens a tab and runs the journey; it returns the facts found (also
// with an error, when the page failed: what was measured until then) and
// why it failed, and sets the checks; a run that failed leaves its
// screenshot.
func (r *run) run() (*Facts, error) {
	dialogs := make(chan struct{}, 1)
	r.events = newPageEvents(r.names.binding, dialogs)
	t, err := r.p.browser.open(r.ctx, func(ev any) {
		r.events.on(ev)
		r.record.on(ev)
	})
	if err != nil {
		return nil, err
	}
	r.t = t
	defer t.close()

	deadline, ok := t.ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(config.DefaultTimeout.Std())
	}
	r.deadline, r.stepDeadline = deadline, deadline.Add(-min(maxMeasure, time.Until(deadline)/10))
	if err := r.setup(); err != nil {
		return nil, err
	}
	go answerDialogs(t.ctx, dialogs)
	f := &Facts{}
	begin := time.Now()
	err = r.journey(f)
	took := time.Since(begin)
	var pe proberError
	if errors.As(err, &pe) {
		return nil, err
	}
	if merr := r.measure(f); merr != nil && err == nil {
		err = merr
	}
	if r.events.hasCrashed() && err != nil {
		err = errors.New("the page crashed (its renderer process died)")
	}
	if err == nil && (len(r.p.cfg.Assert) > 0 || len(r.p.cfg.DegradedIf) > 0) {
		r.checks = exprcheck.Run(r.p.cfg.Assert, r.p.cfg.DegradedIf, vars(took, f))
	}
	if !errors.As(err, &pe) && (err != nil || failing(r.checks)) {
		r.shot = r.screenshot()
	}
	return f, err
}

// failing reports whether an assert failed: the run is down.
func failing(checks []probes.Check) bool {
	state, _ := probes.Verdict(checks)
	return state == probes.Down
}

// setup opens the tab and prepares it: the measuring script on every
// document, the binding it reports through, the device and throttling.
func (r *run) setup() error {
	err := chromedp.Do(r.t.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, runtime.AddBinding, runtime.AddBindingParams{Name: r.names.binding}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: r.names.script()})
		return err
	}))
	if err == nil {
		err = emulate(r.t.ctx, r.device, r.p.cfg.Throttle, r.t.inst)
	}
	if err != nil {
		if be := r.browserFault(err); be != nil {
			return be
		}
		if r.ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			if ue := r.unanswered(); ue != nil {
				return ue
			}
		}
		return proberError("open a tab: " + firstLine(err.Error()))
	}
	return nil
}

// journey loads the page and runs the steps, each timed, then lets the
// page settle.
func (r *run) journey(f *Facts) error {
	ctx, cancel := context.WithDeadline(r.t.ctx, r.stepDeadline)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(r.p.cfg.URL.String()))
	if resp != nil {
		f.Status = int(resp.Status)
	}
	if err != nil {
		return r.loadError(err)
	}
	if f.Status >= 400 {
		text := resp.StatusText
		if text == "" {
			text = http.StatusText(f.Status)
		}
		return fmt.Errorf("load: %s answered with HTTP status %d %s", r.p.cfg.URL.Redacted(), f.Status, text)
	}
	for i := range r.p.cfg.Steps {
		s := &r.p.cfg.Steps[i]
		start := time.Now()
		err := r.runStep(ctx, s)
		f.Steps = append(f.Steps, Step{Name: s.Name, Duration: time.Since(start), Failed: err != nil})
		if err != nil {
			return r.stepFailed(s, err)
		}
	}
	if r.p.cfg.WaitUntil == config.WaitNetworkIdle {
		r.settle(ctx)
	}
	return nil
}

// loadError words why the page did not load.
func (r *run) loadError(err error) error {
	if be := r.gone(err); be != nil {
		return be
	}
	if be := r.browserFault(err); be != nil {
		return be
	}
	var le *chromedp.LoadError
	switch {
	case errors.As(err, &le):
		return fmt.Errorf("load: %s: %s", r.p.cfg.URL.Redacted(), le.ErrorText)
	case errors.Is(err, context.DeadlineExceeded):
		if ue := r.unanswered(); ue != nil {
			return ue
		}
		return fmt.Errorf("load: %s did not finish loading within the probe's timeout", r.p.cfg.URL.Redacted())
	}
	return fmt.Errorf("load: %s: %s", r.p.cfg.URL.Redacted(), firstLine(err.Error()))
}

// stepFailed is the reason of a failed step: `step "NAME": why`.
func (r *run) stepFailed(s *config.BrowserStep, err error) error {
	var se stepError
	var pe proberError
	switch {
	case errors.As(err, &pe):
		return err
	case r.gone(err) != nil:
		return r.gone(err)
	case errors.As(err, &se):
	default:
		if be := r.browserFault(err); be != nil {
			return be
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if ue := r.unanswered(); ue != nil {
				return ue
			}
			err = errors.New("did not finish within the probe's timeout")
		}
	}
	return fmt.Errorf("step %q: %s", s.Name, firstLine(err.Error()))
}

// settle waits until the network has been quiet for quietFor, at most
// maxSettle and never past the steps' deadline.
func (r *run) settle(ctx context.Context) {
	end := time.Now().Add(maxSettle)
	for time.Now().Before(end) {
		if since := r.events.quietSince(); !since.IsZero() && time.Since(since) >= quietFor {
			return
		}
		if !sleep(ctx) {
			return
		}
	}
}

// measure reads the page's last report and what the events told.
func (r *run) measure(f *Facts) error {
	var current string
	if !r.t.inst.gone() && !r.browserEnded() {
		current, _ = chromedp.Run(r.t.ctx, chromedp.Evaluate[string](r.names.flushExpr(), chromedp.EvalAwaitPromise))
	}
	reports := r.events.facts(f, current)
	f.Vitals, f.CSP = vitals(reports)
	if r.browserEnded() {
		return r.browserFault(context.Canceled)
	}
	return nil
}

// gone is the prober error of a browser that went away under the run
// (err may tell how its process ended), or nil.
func (r *run) gone(err error) error {
	if r.t.inst.gone() || r.browserEnded() {
		return proberError(r.t.inst.lostReason(err))
	}
	return nil
}

// browserEnded reports whether the tab's context ended under the run
// while the probe's did not: the browser's connection dropped, or the
// browser was stopped.
func (r *run) browserEnded() bool {
	return r.ctx.Err() == nil && r.t.ctx.Err() != nil && !errors.Is(r.t.ctx.Err(), context.DeadlineExceeded)
}

// browserFault is the prober error of err when the browser, not the
// page, is why a command failed: its connection dropped, or it was
// stopped under the run. An answer of the protocol is never that.
func (r *run) browserFault(err error) error {
	var perr *cdproto.Error
	if err == nil || errors.As(err, &perr) {
		return nil
	}
	if !r.t.inst.gone() && !r.browserEnded() {
		// The connection's loss can reach the command before the
		// browser's context notes it.
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		select {
		case <-r.t.inst.lost:
		case <-r.t.inst.ctx.Done():
		case <-t.C:
			return nil
		}
	}
	return proberError(r.t.inst.lostReason(err))
}

// unanswered is the prober error of a browser that does not answer (it
// is marked for a restart at the next run), or nil when it answers.
func (r *run) unanswered() error {
	if r.t.inst.gone() {
		return proberError(r.t.inst.lostReason(nil))
	}
	if r.t.inst.ping(min(max(time.Until(r.deadline), minPing), pingTimeout)) {
		return nil
	}
	r.t.inst.broken.Store(true)
	return proberError("Chromium stopped answering; it is restarted at the next run")
}

// answerDialogs accepts the page's dialogs (alert, confirm, prompt), which
// would stop it otherwise.
func answerDialogs(ctx context.Context, dialogs <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-dialogs:
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}
}
