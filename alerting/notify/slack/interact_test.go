package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// actions records what the buttons asked for.
type actions struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (a *actions) Silence(ls model.LabelSet, by string, d time.Duration) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("silence %s by %s for %v", ls, by, d))
	return "5ce1", a.err
}

func (a *actions) Ack(groupKey, by string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("ack %s by %s", groupKey, by))
	return a.err
}

func (a *actions) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// payload is a block_actions interaction on a firing message's button.
func payload(t *testing.T, responseURL, actionID string) string {
	t.Helper()
	m := NewMessage(probeDown("n", false), MessageOptions{Buttons: true})
	blocks, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(ButtonValue{GroupKey: `{}:{alertname="ProbeDown"}`, GroupLabels: model.LabelSet{"alertname": "ProbeDown"}})
	p, err := json.Marshal(map[string]any{
		"type":         "block_actions",
		"user":         map[string]string{"id": "U0ALICE", "name": "alice"},
		"response_url": responseURL,
		"channel":      map[string]string{"id": "C0ONCALL"},
		"container":    map[string]string{"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0ONCALL"},
		"message":      map[string]any{"type": "message", "text": m.Text, "ts": "1700000000.000001", "blocks": json.RawMessage(blocks)},
		"actions": []map[string]string{{
			"type": "button", "action_id": actionID, "block_id": actionsBlockID, "value": string(value),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"payload": {string(p)}}.Encode()
}

// sign signs body as Slack does, at ts.
func sign(key, body string, ts time.Time) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func TestInteractions(t *testing.T) {
	type request struct {
		method string
		header http.Header
		body   string
	}
	tests := []struct {
		name     string
		requests func(responseURL string) []request // the last one is checked
		err      error                              // from the actions
		want     int
		calls    []string
		update   []string // in the message update sent to response_url; nil for none
		noUpdate []string
	}{
		{
			name: "silence, signed right",
			requests: func(u string) []request {
				b := payload(t, u, ActionSilence)
				return []request{{http.MethodPost, sign(secret, b, time.Now()), b}}
			},
			want:     200,
			calls:    []string{`silence {alertname="ProbeDown"} by alice for 1h0m0s`},
			update:   []string{`"replace_original":true`, "Silenced for 1h by \\u003c@U0ALICE\\u003e (silence `5ce1`)", "Acknowledge", "shop is down"},
			noUpdate: []string{"Silence 1h"},
		},
		{
			name: "acknowledge, signed right",
			requests: func(u string) []request {
				b := payload(t, u, ActionAck)
				return []request{{http.MethodPost, sign(secret, b, time.Now()), b}}
			},
			want:     200,
			calls:    []string{`ack {}:{alertname="ProbeDown"} by alice`},
			update:   []string{`"replace_original":true`, "Acknowledged by \\u003c@U0ALICE\\u003e", "Silence 1h"},
			noUpdate: []string{`"Acknowledge"`},
		},
		{
			name: "the action fails: the user is told, the message stays",
			requests: func(u string) []request {
				b := payload(t, u, ActionAck)
				return []request{{http.MethodPost, sign(secret, b, time.Now()), b}}
			},
			err: errors.New("dispatcher stopped"), want: 200,
			calls:  []string{`ack {}:{alertname="ProbeDown"} by alice`},
			update: []string{`"response_type":"ephemeral"`, "Lookout could not acknowledge: dispatcher stopped", `"replace_original":false`},
		},
		{
			name: "wrong signature",
			requests: func(u string) []request {
				b := payload(t, u, ActionSilence)
				return []request{{http.MethodPost, sign("not the secret", b, time.Now()), b}}
			},
			want: 401,
		},
		{
			name: "body changed after signing",
			requests: func(u string) []request {
				b := payload(t, u, ActionSilence)
				return []request{{http.MethodPost, sign(secret, b, time.Now()), payload(t, u, ActionAck)}}
			},
			want: 401,
		},
		{
			name: "unsigned",
			requests: func(u string) []request {
				return []request{{http.MethodPost, http.Header{}, payload(t, u, ActionSilence)}}
			},
			want: 401,
		},
		{
			name: "old timestamp, signed right",
			requests: func(u string) []request {
				b := payload(t, u, ActionSilence)
				return []request{{http.MethodPost, sign(secret, b, time.Now().Add(-6*time.Minute)), b}}
			},
			want: 401,
		},
		{
			name: "replayed within five minutes",
			requests: func(u string) []request {
				b := payload(t, u, ActionSilence)
				h := sign(secret, b, time.Now().Add(-time.Minute))
				return []request{{http.MethodPost, h, b}, {http.MethodPost, h, b}}
			},
			want:   401,
			calls:  []string{`silence {alertname="ProbeDown"} by alice for 1h0m0s`}, // once
			update: []string{"Silenced for 1h"},
		},
		{
			name: "GET",
			requests: func(string) []request {
				return []request{{http.MethodGet, sign(secret, "", time.Now()), ""}}
			},
			want: 405,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			updates := make(chan string, 10)
			resp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				updates <- string(b)
			}))
			defer resp.Close()
			acts := &actions{err: tt.err}
			srv := httptest.NewServer(NewInteractionHandler(secret, acts, HandlerOptions{}))
			defer srv.Close()
			var code int
			for _, r := range tt.requests(resp.URL + "/actions/T0/RESP") {
				req, err := http.NewRequestWithContext(t.Context(), r.method, srv.URL, strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header = r.header
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				code = res.StatusCode
			}
			if code != tt.want {
				t.Errorf("status = %d, want %d", code, tt.want)
			}
			if got := strings.Join(acts.got(), "\n"); got != strings.Join(tt.calls, "\n") {
				t.Errorf("actions:\n%s\nwant:\n%s", got, strings.Join(tt.calls, "\n"))
			}
			close(updates)
			var got []string
			for u := range updates {
				got = append(got, u)
			}
			if tt.update == nil {
				if len(got) > 0 {
					t.Errorf("message updated: %s", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d updates, want 1", len(got))
			}
			for _, w := range tt.update {
				if !strings.Contains(got[0], w) {
					t.Errorf("update lacks %s:\n%s", w, got[0])
				}
			}
			for _, w := range tt.noUpdate {
				if strings.Contains(got[0], w) {
					t.Errorf("update has %s:\n%s", w, got[0])
				}
			}
		})
	}
}
