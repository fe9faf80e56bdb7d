// Package webhook is the webhook receiver: it POSTs Alertmanager's
// webhook JSON (version 4), so anything that takes Alertmanager webhooks
// takes Lookout's.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/config"
)

// Options are what a webhook takes from the daemon rather than from its
// receiver's config.
type Options struct {
	// ExternalURL is Lookout's own URL, sent as externalURL.
	ExternalURL string
	// Client sends the requests; nil means a client on
	// http.DefaultTransport that does not follow redirects (a 302 would
	// turn the POST into a GET and lose the body). Its Timeout, if any,
	// applies on top of the config's.
	Client *http.Client
}

// Webhook POSTs notifications to one URL.
type Webhook struct {
	url         *url.URL
	timeout     time.Duration
	maxAlerts   int
	headers     http.Header
	externalURL string
	client      *http.Client
}

var _ notify.Notifier = (*Webhook)(nil)

// New returns the webhook of cfg, which is as config.Load leaves it:
// checked, with timeout filled in.
func New(cfg config.Webhook, opts Options) *Webhook {
	w := &Webhook{
		url: cfg.URL.URL, timeout: cfg.Timeout.Std(), maxAlerts: cfg.MaxAlerts, headers: http.Header{},
		externalURL: opts.ExternalURL, client: opts.Client,
	}
	if w.client == nil {
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	for name, value := range cfg.Headers {
		w.headers.Set(name, value)
	}
	w.headers.Set("Content-Type", "application/json")
	if w.headers.Get("User-Agent") == "" {
		w.headers.Set("User-Agent", "Lookout")
	}
	return w
}

// Notify POSTs n. Network errors, 408 and 5xx are worth retrying; 429 is
// too, after its Retry-After; other answers outside 2xx (redirects too)
// are permanent.
// Errors never contain the URL.
func (w *Webhook) Notify(ctx context.Context, n *alerting.Notification) error {
	body, err := json.Marshal(NewMessage(n, w.externalURL, w.maxAlerts))
	if err != nil {
		return notify.Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.String(), bytes.NewReader(body))
	if err != nil {
		// Such errors quote the URL.
		return notify.Permanent(errors.New("webhook: build request: invalid url"))
	}
	req.Header = w.headers.Clone()
	// Stable across retries and restarts, so a receiver can deduplicate.
	req.Header.Set("Idempotency-Key", n.ID)
	resp, err := w.client.Do(req)
	if err != nil {
		// A *url.Error quotes the URL; keep only what went wrong.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook: post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return statusError(resp)
}

// statusError classifies the response's status.
func statusError(resp *http.Response) error {
	err := fmt.Errorf("webhook: post: server answered %s", resp.Status)
	return notify.StatusError(resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), time.Now()), err)
}

// retryAfter parses a Retry-After value, in seconds or an HTTP date; zero
// when it is missing or invalid.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(min(max(s, 0), 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}
