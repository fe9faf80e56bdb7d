package sentry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	sentrygo "github.com/getsentry/sentry-go"

	"github.com/lookout-dev/lookout/alerting/notify"
)

// defaultRateLimit is how long Sentry's SDK backs off after a 429 that
// says nothing about how long.
const defaultRateLimit = time.Minute

// recorder is the http.RoundTripper under sentry-go's HTTPSyncTransport.
// sentry-go sends without the caller's context and keeps the answer to
// itself; recorder finds the send Notify is waiting for by the envelope's
// event_id, sends it under Notify's context, and keeps the outcome and any
// rate limit for Notify to turn into an error.
type recorder struct {
	next http.RoundTripper

	mu      sync.Mutex
	pending map[sentrygo.EventID]*send
	limited time.Time // no event is sent before this; Sentry rate-limits us
}

// send is one event Notify is sending and, once done, how it went.
type send struct {
	ctx    context.Context
	done   bool
	err    error // the round trip's own error
	status int
	text   string        // the HTTP status line's text
	after  time.Duration // how long the answer rate-limits events
}

// expect registers a send of id under ctx. It fails when id is being
// sent already (the same notification delivered twice at once).
func (r *recorder) expect(ctx context.Context, id sentrygo.EventID) (*send, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[id]; ok {
		return nil, fmt.Errorf("event %s is being sent already", id)
	}
	s := &send{ctx: ctx}
	r.pending[id] = s
	return s, nil
}

// finish forgets id and returns what became of its send.
func (r *recorder) finish(id sentrygo.EventID) send {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.pending[id]
	delete(r.pending, id)
	return *s
}

// rateLimited returns how long Sentry still rate-limits events, or 0.
func (r *recorder) rateLimited(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(0, r.limited.Sub(now))
}

// RoundTrip sends req under its event's Notify context and records the
// outcome.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	id := envelopeEventID(req)
	r.mu.Lock()
	s := r.pending[id]
	r.mu.Unlock()
	if s == nil { // not one of Notify's
		return r.next.RoundTrip(req)
	}
	resp, err := r.next.RoundTrip(req.WithContext(s.ctx))
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s.done, s.err = true, err
	if err == nil {
		s.status, s.text = resp.StatusCode, resp.Status
		until := rateLimit(resp, now)
		s.after = max(0, until.Sub(now))
		if until.After(r.limited) {
			r.limited = until
		}
	}
	return resp, err
}

// envelopeEventID reads the event_id from the header line of the envelope
// req carries, or "".
func envelopeEventID(req *http.Request) sentrygo.EventID {
	if req.GetBody == nil {
		return ""
	}
	body, err := req.GetBody()
	if err != nil {
		return ""
	}
	defer body.Close()
	line, _ := bufio.NewReaderSize(io.LimitReader(body, 64<<10), 4<<10).ReadSlice('\n')
	var header struct {
		EventID sentrygo.EventID `json:"event_id"`
	}
	if json.Unmarshal(bytes.TrimSpace(line), &header) != nil {
		return ""
	}
	return header.EventID
}

// rateLimit returns until when resp says not to send events (the error
// category), as sentry-go reads it: X-Sentry-Rate-Limits if present, else
// a 429's Retry-After, a minute if that is missing. Zero if none.
func rateLimit(resp *http.Response, now time.Time) time.Time {
	if h := resp.Header.Get("X-Sentry-Rate-Limits"); h != "" {
		return sentryRateLimits(h, now)
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return time.Time{}
	}
	v := resp.Header.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return now.Add(time.Duration(min(s, 7*24*3600)) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return now.Add(defaultRateLimit)
}

// sentryRateLimits parses X-Sentry-Rate-Limits
// ("retry_after:categories:scope:...", comma-separated) and returns the
// latest deadline that applies to events: no categories (all) or "error".
func sentryRateLimits(h string, now time.Time) time.Time {
	var until time.Time
	for limit := range strings.SplitSeq(h, ",") {
		parts := strings.Split(strings.TrimSpace(limit), ":")
		secs, err := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
		if err != nil || math.IsNaN(secs) {
			continue
		}
		applies := len(parts) < 2 || strings.TrimSpace(parts[1]) == ""
		if !applies {
			for c := range strings.SplitSeq(parts[1], ";") {
				applies = applies || strings.EqualFold(strings.TrimSpace(c), "error")
			}
		}
		if !applies {
			continue
		}
		d := time.Duration(math.Ceil(min(max(secs, 0), 7*24*3600))) * time.Second
		if t := now.Add(d); t.After(until) {
			until = t
		}
	}
	return until
}

// result turns what became of a send into Notify's error: nil for 2xx;
// a *notify.RetryAfterError for 429 (and for an event sentry-go held back
// under a rate limit); a plain, retried error for network errors, 408 and
// 5xx; notify.Permanent for other answers. Errors never hold the DSN.
func (r *recorder) result(s send, now time.Time) error {
	if !s.done {
		err := errors.New("sentry: send: event not sent")
		if d := r.rateLimited(now); d > 0 {
			return &notify.RetryAfterError{After: d, Err: fmt.Errorf("sentry: send: rate limited: %w", err)}
		}
		if s.ctx.Err() != nil {
			return fmt.Errorf("sentry: send: %w", s.ctx.Err())
		}
		return err
	}
	if s.err != nil {
		if ctxErr := s.ctx.Err(); ctxErr != nil && !errors.Is(s.err, ctxErr) {
			return fmt.Errorf("sentry: send: %w", ctxErr)
		}
		return fmt.Errorf("sentry: send: %w", s.err)
	}
	return notify.StatusError(s.status, s.after, fmt.Errorf("sentry: send: server answered %s", s.text))
}
