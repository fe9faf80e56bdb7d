package browserprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// pollEvery is how often a step looks for what it waits for.
const pollEvery = 50 * time.Millisecond

// stepError is why a step failed, for the reason `step "NAME": …`. It
// never holds a fill step's value.
type stepError struct{ why string }

func (e stepError) Error() string { return e.why }

// runStep runs one step until it is done or ctx's deadline (the rest of
// the run, or a wait_for's own timeout within it).
func (r *run) runStep(ctx context.Context, s *config.BrowserStep) error {
	switch s.Kind {
	case "wait_for":
		w := s.WaitFor
		ctx, within := r.waitBound(ctx, w.Timeout.Std())
		defer ctx.Cancel()
		if w.Selector != "" {
			_, err := r.waitVisible(ctx, w.Selector, within)
			return err
		}
		return r.waitText(ctx, w.Text, within)
	case "click":
		sel := s.Click.Selector
		bctx, within := r.waitBound(ctx, 0)
		defer bctx.Cancel()
		p, err := r.waitVisible(bctx, sel, within)
		if err != nil {
			return err
		}
		if r.device.mobile {
			return chromedp.Do(ctx, chromedp.TapXY(p.X, p.Y))
		}
		return chromedp.Do(ctx, chromedp.MouseClickXY(p.X, p.Y))
	case "fill":
		sel := s.Fill.Selector
		bctx, within := r.waitBound(ctx, 0)
		defer bctx.Cancel()
		if _, err := r.waitVisible(bctx, sel, within); err != nil {
			return err
		}
		switch what, err := evaluate[string](ctx, call(focusJS, sel)); {
		case err != nil:
			return err
		case what == "missing":
			return stepError{fmt.Sprintf("selector %q left the page before it could be filled", sel)}
		case what != "":
			return stepError{fmt.Sprintf("selector %q is %s, not a field to fill", sel, what)}
		}
		// Typed key by key, as a person would: the value is in no script.
		return chromedp.Do(ctx, chromedp.KeyEvent(s.Fill.Value))
	case "press":
		key, ok := r.p.keys[s.Press.Key]
		if !ok {
			return stepError{fmt.Sprintf("%q is not a key; want a name like Enter, Tab, Escape or ArrowDown, or one character", s.Press.Key)}
		}
		return chromedp.Do(ctx, chromedp.KeyEvent(string(key)))
	}
	return stepError{fmt.Sprintf("unknown step kind %q", s.Kind)}
}

// boundCtx is a context with a deadline, and how the deadline is worded.
type boundCtx struct {
	context.Context
	Cancel context.CancelFunc
}

// waitBound bounds a wait by timeout (0: none of its own) within what is
// left of ctx, and says which bound it is: "10s", or "9.2s (the rest of
// the probe's timeout)".
func (r *run) waitBound(ctx context.Context, timeout time.Duration) (boundCtx, string) {
	left := time.Until(r.stepDeadline)
	if timeout > 0 && timeout <= left {
		c, cancel := context.WithTimeout(ctx, timeout)
		return boundCtx{c, cancel}, timeout.String()
	}
	c, cancel := context.WithDeadline(ctx, r.stepDeadline)
	return boundCtx{c, cancel}, probes.Round(max(left, 0)).String() + " (the rest of the probe's timeout)"
}

// point is where an element is, in the viewport's CSS pixels.
type point struct{ X, Y float64 }

// look is one look of a wait: its error, and how long the page took to
// answer it.
type look struct {
	err  error
	took time.Duration
}

// waitVisible waits until selector matches a visible element, scrolls it
// into view and returns its centre.
func (r *run) waitVisible(ctx context.Context, selector, within string) (point, error) {
	hidden := false
	for {
		start := time.Now()
		state, err := evaluate[json.RawMessage](ctx, call(visibleJS, selector))
		last := look{err, time.Since(start)}
		if err == nil {
			var p point
			switch s := string(state); {
			case strings.HasPrefix(s, "{") && json.Unmarshal(state, &p) == nil:
				return p, nil
			case s == `"invalid"`:
				return point{}, stepError{fmt.Sprintf("selector %q is not valid CSS", selector)}
			default:
				hidden = s == `"hidden"`
			}
		} else if be := r.browserFault(err); be != nil {
			return point{}, be
		}
		if !sleep(ctx) {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return point{}, ctx.Err() // the browser went, or the run was cancelled
			}
			if hidden {
				return point{}, r.waitEnded(last, fmt.Sprintf("selector %q is in the page but was not visible within %s", selector, within))
			}
			return point{}, r.waitEnded(last, fmt.Sprintf("selector %q did not appear within %s", selector, within))
		}
	}
}

// waitText waits until text shows in the page (document.body.innerText).
func (r *run) waitText(ctx context.Context, text, within string) error {
	for {
		start := time.Now()
		found, err := evaluate[bool](ctx, call(textJS, text))
		last := look{err, time.Since(start)}
		switch {
		case err == nil && found:
			return nil
		case err != nil:
			if be := r.browserFault(err); be != nil {
				return be
			}
		}
		if !sleep(ctx) {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return ctx.Err()
			}
			return r.waitEnded(last, fmt.Sprintf("text %q did not appear within %s", text, within))
		}
	}
}

// waitEnded is the error of a wait that reached its deadline: the page's,
// saying so when its last look went unanswered for long (a page whose
// main thread is busy answers no script), unless the browser itself does
// not answer.
func (r *run) waitEnded(last look, what string) error {
	if !errors.Is(last.err, context.DeadlineExceeded) || last.took < time.Second {
		return stepError{what}
	}
	if err := r.unanswered(); err != nil {
		return err
	}
	return stepError{what + " (the page did not answer: its main thread was busy)"}
}

// sleep waits pollEvery, or until ctx ends: false then.
func sleep(ctx context.Context) bool {
	t := time.NewTimer(pollEvery)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// keyNames maps the names of keys (Enter, Tab, ArrowDown, …) and single
// characters to what chromedp types for them.
func keyNames() map[string]rune {
	m := map[string]rune{}
	for r, k := range kb.Keys {
		if k.Key != "" && (len([]rune(k.Key)) > 1 || k.Print) {
			if old, ok := m[k.Key]; !ok || r < old {
				m[k.Key] = r
			}
		}
	}
	m["Enter"], m["Space"] = '\r', ' '
	return m
}

// evaluate runs a script in the page's top document and decodes its value.
func evaluate[T any](ctx context.Context, expr string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// call is fn called with args, each a JSON value.
func call(fn string, args ...string) string {
	var b strings.Builder
	b.WriteString("(" + fn + ")(")
	for i, a := range args {
		if i > 0 {
			b.WriteString(",")
		}
		j, _ := json.Marshal(a)
		b.Write(j)
	}
	b.WriteString(")")
	return b.String()
}

// The scripts of the steps.
const (
	// visibleJS: "missing", "hidden", "invalid" (not CSS), or the centre of
	// the element, scrolled into view.
	visibleJS = `(sel) => {
  let el;
  try { el = document.querySelector(sel); } catch (e) { return 'invalid'; }
  if (!el) return 'missing';
  const visible = (el.checkVisibility ? el.checkVisibility({ visibilityProperty: true }) : true);
  let r = el.getBoundingClientRect();
  if (!visible || r.width === 0 || r.height === 0) return 'hidden';
  el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
  r = el.getBoundingClientRect();
  return { X: r.left + r.width / 2, Y: r.top + r.height / 2 };
}`
	// textJS: whether text shows in the page.
	textJS = `(text) => !!document.body && document.body.innerText.includes(text)`
	// focusJS focuses a field and selects what it holds, so that typing
	// replaces it: "" when done, else what the element is.
	focusJS = `(sel) => {
  const el = document.querySelector(sel);
  if (!el) return 'missing';
  const field = el.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
  if (!field) return 'a ' + el.tagName.toLowerCase();
  el.focus();
  if (typeof el.select === 'function') el.select();
  return '';
}`
)
