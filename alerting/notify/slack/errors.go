package slack

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/slack-go/slack"

	"github.com/lookout-dev/lookout/alerting/notify"
)

// permanentCode reports whether a Slack API error is one retrying
// cannot fix: the token, the channel or the request is wrong until
// someone changes them.
func permanentCode(code string) bool {
	switch code {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
		"missing_scope", "not_allowed_token_type", "no_permission",
		"channel_not_found", "not_in_channel", "is_archived",
		"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments",
		"restricted_action":
		return true
	}
	return false
}

// classify turns an error from slack-go into one the outbox
// understands: rate limits say when to retry, API errors in
// permanentCode and HTTP 4xx are permanent, the rest
// is retried. The token is never in these: slack-go sends it in the
// form body, and its errors quote at most the method's URL.
func (s *Notifier) classify(op string, err error) error {
	var (
		rl *slack.RateLimitedError
		se slack.SlackErrorResponse
		sc slack.StatusCodeError
		ue *url.Error
	)
	switch {
	case errors.As(err, &rl):
		s.limited.Inc()
		return &notify.RetryAfterError{After: rl.RetryAfter, Err: fmt.Errorf("slack: %s: rate limited", op)}
	case errors.As(err, &se):
		e := fmt.Errorf("slack: %s: %w", op, se)
		if !permanentCode(se.Err) {
			return e
		}
		return notify.Permanent(e)
	case errors.As(err, &sc):
		e := fmt.Errorf("slack: %s: server answered %s", op, sc.Status)
		if sc.Code == 408 || sc.Code == 429 || sc.Code >= 500 {
			return e
		}
		return notify.Permanent(e)
	case errors.As(err, &ue):
		return fmt.Errorf("slack: %s: %w", op, ue.Err)
	default:
		return fmt.Errorf("slack: %s: %w", op, err)
	}
}

// code is the Slack API error code in err, or "".
func code(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// threadGone reports whether posting into a thread failed because the
// thread, or its channel, is no more.
func threadGone(err error) bool {
	switch code(err) {
	case "thread_not_found", "message_not_found", "channel_not_found", "is_archived":
		return true
	}
	return false
}

// messageGone reports whether an edit failed because the message cannot
// be edited any more (deleted, or too old).
func messageGone(err error) bool {
	switch code(err) {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return false
}
