package slack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack/slacktest"
)

// call is one Web API request the fake Slack got.
type call struct {
	method string
	form   url.Values
}

// text is every "text" in the call's blocks, and its fallback text.
func (c call) text() string { return blockText(c.form.Get("blocks")) + "\n" + c.form.Get("text") }

// fakeSlack is slacktest's server with chat.postMessage and chat.update
// of our own: they record each call, give each message its own ts
// (slacktest's are whole seconds, and its postMessage leaves a goroutine
// blocked per message), and fail when script says so.
type fakeSlack struct {
	*slacktest.Server
	// script, if set, may answer a call instead (n counts the calls of
	// that method, from 1); it returns false to let the fake answer.
	script func(method string, n int, w http.ResponseWriter) bool

	mu    sync.Mutex
	calls []call
	seq   int
}

func newFakeSlack(t *testing.T, script func(method string, n int, w http.ResponseWriter) bool) *fakeSlack {
	t.Helper()
	f := &fakeSlack{script: script}
	f.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.handle("chat.postMessage"))
		c.Handle("/chat.update", f.handle("chat.update"))
	})
	f.Start()
	t.Cleanup(f.Stop)
	return f
}

func (f *fakeSlack) handle(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, call{method: method, form: r.PostForm})
		n := 0
		for _, c := range f.calls {
			if c.method == method {
				n++
			}
		}
		f.seq++
		seq := f.seq
		f.mu.Unlock()
		if f.script != nil && f.script(method, n, w) {
			return
		}
		channel := r.PostForm.Get("channel")
		if channel == "#oncall" {
			channel = "C0ONCALL" // Slack answers with the channel's ID
		}
		ts := r.PostForm.Get("ts") // chat.update answers with the message's
		if method == "chat.postMessage" {
			ts = fmt.Sprintf("1700000000.%06d", seq)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": channel, "ts": ts})
	}
}

func (f *fakeSlack) got() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// answer writes a Slack API answer.
func answer(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// blockText collects the "text" strings of Block Kit JSON, one a line.
func blockText(blocksJSON string) string {
	if blocksJSON == "" {
		return ""
	}
	var v any
	if err := json.Unmarshal([]byte(blocksJSON), &v); err != nil {
		return "invalid blocks: " + err.Error()
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "text" {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}
