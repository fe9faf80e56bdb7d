// Package notify delivers notifications to receivers: the Notifier
// interface receivers' integrations implement, and the Outbox that makes
// delivery durable.
//
// A receiver combines integrations (slack, sentry, webhook, log), as
// Alertmanager's receivers do; each delivers and retries on its own.
// Every notification is committed to the outbox (a bbolt bucket) before
// it is sent, as one entry per integration of its receiver, all in one
// transaction. Each entry is retried with exponential backoff until it is
// delivered, given up (a permanent error) or expired, and deleted from the
// outbox in its own transaction right after the send that delivered it.
// An entry the outbox has deleted is never sent again.
//
// The one window for a duplicate: the process dies after an integration
// has accepted a notification and before the transaction that deletes its
// entry commits. The entry is still pending on the next start and is sent
// again (to that integration only). The window is one bbolt commit (an
// fsync) long. Integrations that care can deduplicate on
// Notification.ID, which stays the same across retries and restarts (the
// webhook sends it as Idempotency-Key). The ID is the same for every
// integration of a receiver; each integration is its own destination, so
// it is unique within each.
//
// Paging fails open: a notification the database will not take (a full,
// read-only or failing disk) is delivered from memory all the same, with
// the same retries, but is lost if the process ends first. Every failed
// write goes to OutboxOptions.WriteFailures.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lookout-dev/lookout/alerting"
)

// Notifier sends one notification through one integration of a receiver
// (n.Receiver, n.Integration). It must return soon after ctx is done, and
// must not modify n.
//
// An error is retried, unless it is Permanent; a *RetryAfterError says
// when to retry.
type Notifier interface {
	Notify(ctx context.Context, n *alerting.Notification) error
}

// permanentError marks an error retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps an error that retrying cannot fix (a bad URL, an HTTP
// 4xx other than 408 and 429): the outbox gives up on the notification at
// once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was made by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfterError lets a notifier say when to try again, as an HTTP 429
// with Retry-After does. An After of zero or less means "use the usual
// backoff".
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// StatusError classifies an HTTP answer for the outbox: nil for 2xx; a
// RetryAfterError (after, from Retry-After or the like) for 429; err, to
// be retried with backoff, for 408 and 5xx; Permanent(err) for the rest.
func StatusError(code int, after time.Duration, err error) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests:
		return &RetryAfterError{After: after, Err: err}
	case code == http.StatusRequestTimeout || code >= 500:
		return err
	}
	return Permanent(err)
}
