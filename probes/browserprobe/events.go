package browserprobe

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
)

// How much of what went wrong a run keeps as text.
const (
	keptErrors   = 5  // uncaught errors, console.error lines, CSP violations
	keptFailures = 10 // failed requests
	maxText      = 300
)

// FailedRequest is a request that failed: a status of 400 or more, or a
// network error.
type FailedRequest struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (r FailedRequest) String() string {
	if r.Status != 0 {
		return fmt.Sprintf("%s (%d)", r.URL, r.Status)
	}
	return fmt.Sprintf("%s (%s)", r.URL, r.Error)
}

// pageEvents gathers what a run learns from the tab's events: uncaught
// errors, console.error lines, requests and their failures, bytes, the
// page's own reports (see vitals.js) and dialogs. on runs inside
// chromedp's loop that reads the tab's messages, so it only updates
// counters under a lock: it never blocks and never sends a command (either
// would stall the loop for good); a dialog is answered by the run.
type pageEvents struct {
	binding string // the name the page's script reports through
	dialogs chan<- struct{}

	mu            sync.Mutex
	jsErrors      int
	consoleErrors int
	requests      int
	bytes         float64
	errors        []string
	console       []string
	failed        []FailedRequest
	failedCount   int
	inFlight      map[network.RequestID]*request
	lastNetwork   time.Time // when a request last started or ended
	reports       map[string]string
	docs          []string // the documents that reported, in order
	crashed       bool
}

// request is a request in flight.
type request struct {
	url    string
	failed bool // already counted as failed (its status)
}

// maxDocs bounds the documents a run keeps reports of (each navigation of
// its steps is one).
const maxDocs = 32

func newPageEvents(binding string, dialogs chan<- struct{}) *pageEvents {
	return &pageEvents{binding: binding, dialogs: dialogs, inFlight: map[network.RequestID]*request{}, reports: map[string]string{}, lastNetwork: time.Now()}
}

// on takes one event of the tab.
func (e *pageEvents) on(ev any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		e.jsErrors++
		if len(e.errors) < keptErrors {
			e.errors = append(e.errors, exceptionText(ev.ExceptionDetails))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError {
			e.consoleErrors++
			if len(e.console) < keptErrors {
				e.console = append(e.console, consoleText(ev.Args))
			}
		}
	case *runtime.EventBindingCalled:
		if ev.Name == e.binding {
			e.report(ev.Payload)
		}
	case *network.EventRequestWillBeSent:
		e.requests++
		if r := e.inFlight[ev.RequestID]; r != nil { // a redirect: the same request goes on
			r.url = ev.Request.URL
		} else {
			e.inFlight[ev.RequestID] = &request{url: ev.Request.URL}
		}
		e.lastNetwork = time.Now()
	case *network.EventResponseReceived:
		if r := e.inFlight[ev.RequestID]; r != nil && ev.Response.Status >= 400 {
			r.failed = true
			e.fail(FailedRequest{URL: ev.Response.URL, Status: int(ev.Response.Status)})
		}
	case *network.EventLoadingFinished:
		e.bytes += ev.EncodedDataLength
		e.done(ev.RequestID)
	case *network.EventLoadingFailed:
		// Canceled: aborted by a navigation, the page itself or the end
		// of the run, not a failure of the site.
		if r := e.inFlight[ev.RequestID]; r != nil && !r.failed && !ev.Canceled {
			text := ev.ErrorText
			if ev.BlockedReason != "" {
				text = "blocked: " + string(ev.BlockedReason)
			}
			e.fail(FailedRequest{URL: r.url, Error: text})
		}
		e.done(ev.RequestID)
	case *inspector.EventTargetCrashed:
		e.crashed = true
	case *page.EventJavascriptDialogOpening:
		select {
		case e.dialogs <- struct{}{}:
		default: // one is being answered already
		}
	}
}

func (e *pageEvents) fail(r FailedRequest) {
	e.failedCount++
	if len(e.failed) < keptFailures {
		e.failed = append(e.failed, r)
	}
}

func (e *pageEvents) done(id network.RequestID) {
	if _, ok := e.inFlight[id]; ok {
		delete(e.inFlight, id)
		e.lastNetwork = time.Now()
	}
}

// report keeps a document's latest report, "DOC|JSON".
func (e *pageEvents) report(payload string) {
	doc, _, ok := strings.Cut(payload, "|")
	if !ok {
		return
	}
	if _, seen := e.reports[doc]; !seen {
		if len(e.docs) >= maxDocs {
			return
		}
		e.docs = append(e.docs, doc)
	}
	e.reports[doc] = payload
}

// quietSince is when the network last changed, or zero while requests
// are in flight.
func (e *pageEvents) quietSince() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.inFlight) > 0 {
		return time.Time{}
	}
	return e.lastNetwork
}

func (e *pageEvents) hasCrashed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.crashed
}

// facts copies what the events told into f, with each document's
// report, in order, the current document's last (current, read at the
// end, may be newer than its last report).
func (e *pageEvents) facts(f *Facts, current string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	f.JSErrors, f.ConsoleErrors = e.jsErrors, e.consoleErrors
	f.Requests, f.TransferBytes = e.requests, int64(e.bytes)
	f.FailedRequests = e.failedCount
	f.Errors = append([]string(nil), e.errors...)
	f.Console = append([]string(nil), e.console...)
	f.Failed = append([]FailedRequest(nil), e.failed...)
	if current != "" {
		e.report(current)
	}
	reports := make([]string, 0, len(e.docs))
	for _, d := range e.docs {
		reports = append(reports, e.reports[d])
	}
	return reports
}

// exceptionText is an uncaught error as the console shows it, like
// "Uncaught Error: boom (https://example.com/app.js:12)".
func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "an uncaught error"
	}
	text := d.Text // "Uncaught", "Uncaught (in promise)"
	if o := d.Exception; o != nil {
		switch {
		case o.Description != "":
			text += " " + firstLine(o.Description)
		case len(o.Value) > 0:
			text += " " + string(o.Value)
		}
	}
	text = strings.TrimSpace(text)
	if d.URL != "" {
		text += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
	}
	return clip(text)
}

// consoleText is a console call's arguments as text: strings as they
// are, other values as the console describes them.
func consoleText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		var s string
		switch {
		case a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &s) == nil:
		case a.Description != "":
			s = a.Description
		case len(a.Value) > 0:
			s = string(a.Value)
		default:
			s = string(a.Type)
		}
		parts = append(parts, s)
	}
	return clip(strings.Join(parts, " "))
}

// clip bounds a text a run keeps.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
