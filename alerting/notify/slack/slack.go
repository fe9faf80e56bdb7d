// Package slack is the Slack integration: one Block Kit message per
// alert group, one thread per incident, and buttons to silence or
// acknowledge from Slack (see InteractionHandler).
//
// With a bot token, the first notification of a group posts a message
// and keeps its channel and timestamp in Threads; later notifications of
// the group (repeats, changes) are replies in its thread. When the group
// resolves, the first message is edited to its resolved state, a reply
// says so in the thread, and the thread is forgotten: the next firing
// starts a new one. A resolved notification for a group with no thread
// (never posted, or already closed) posts nothing.
//
// With an incoming webhook (config.Slack.WebhookURL), every notification is a
// new message: webhooks cannot reply in threads, edit or carry buttons
// that update the message.
//
// Errors: Slack's rate limit becomes a *notify.RetryAfterError (and
// lookout_slack_rate_limited_total); 5xx and network errors are retried
// by the outbox; errors retrying cannot fix (invalid_auth,
// channel_not_found, …) are notify.Permanent and logged. Messages to a
// channel are paced (Pacer). Storage never holds a message back: a
// thread that cannot be read starts a new one, and a thread that cannot
// be kept is reported to Options.WriteFailures.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/slack-go/slack"

	"github.com/lookout-dev/lookout/alerting"
	"github.com/lookout-dev/lookout/alerting/notify"
	"github.com/lookout-dev/lookout/config"
)

// callTimeout bounds one call to Slack.
const callTimeout = 10 * time.Second

// Options are what a Slack integration takes from the daemon rather than
// from its config.
type Options struct {
	// Threads keeps each group's thread; required with a token.
	Threads Threads
	// Reason returns why the probe behind an alert fails ("" if it does
	// not, or the alert has no probe label); nil shows no reason.
	Reason func(labels model.LabelSet) string
	// TraceURL returns the link to the trace of the failing run of the
	// probe behind an alert ("" if there is none), shown as "Trace".
	TraceURL func(labels model.LabelSet) string
	// ScreenshotURL returns the link to the screenshot of the failing run
	// of the browser probe behind an alert ("" if there is none), shown
	// as "Screenshot".
	ScreenshotURL func(labels model.LabelSet) string
	// ExternalURL is Lookout's own URL, linked from each message.
	ExternalURL string
	// Logger logs the errors given up on; nil discards.
	Logger *slog.Logger
	// Registerer gets lookout_slack_rate_limited_total; integrations may
	// share one (the counter is shared too). Nil registers nothing.
	Registerer prometheus.Registerer
	// Client sends the requests; nil means a new http.Client. Each call
	// is bounded by a 10s timeout besides the client's own.
	Client *http.Client
	// Pacer spaces messages per channel; nil means one of its own at
	// DefaultPace. Share one between integrations.
	Pacer *Pacer
	// WriteFailures hears of every write to Threads that failed; nil:
	// each is only logged. A failed write never holds a message back.
	WriteFailures notify.WriteFailures
}

// Notifier sends notifications to one Slack channel, or one incoming
// webhook. Threads are kept under the key receiver, channel and group
// key, so two integrations posting the same group to two channels keep
// two threads.
type Notifier struct {
	api        *slack.Client // nil in webhook mode
	channel    string
	webhookURL string
	client     *http.Client
	threads    Threads
	msg        MessageOptions
	pacer      *Pacer
	log        *slog.Logger
	failures   notify.WriteFailures // nil: not reported
	limited    prometheus.Counter
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns the notifier of cfg, which is as config.Load leaves it:
// checked, with api_url filled in.
func New(cfg config.Slack, opts Options) (*Notifier, error) {
	if cfg.Token != "" && opts.Threads == nil {
		return nil, errors.New("slack: a threads store is required with a token")
	}
	s := &Notifier{
		channel: cfg.Channel, webhookURL: cfg.WebhookURL, client: opts.Client, threads: opts.Threads,
		msg: MessageOptions{
			ExternalURL: opts.ExternalURL, Mention: mentions(cfg.Mention), Reason: opts.Reason, TraceURL: opts.TraceURL,
			ScreenshotURL: opts.ScreenshotURL, Buttons: cfg.SigningSecret != "" && cfg.Token != "",
		},
		pacer: opts.Pacer, log: opts.Logger, failures: opts.WriteFailures,
	}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.pacer == nil {
		s.pacer = NewPacer(DefaultPace)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Token != "" {
		apiURL := cfg.APIURL.String()
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/" // slack-go appends the method name
		}
		s.api = slack.New(cfg.Token, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(s.client))
	}
	limited, err := rateLimitedCounter(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s.limited = limited
	return s, nil
}

// mentions turns the configured mentions into Slack's syntax: "@here",
// "@channel" and "@everyone" become Slack's special mentions; anything
// else ("<@U123>", "<!subteam^S1>") is sent as given.
func mentions(cfg []string) []string {
	out := make([]string, 0, len(cfg))
	for _, m := range cfg {
		switch m = strings.TrimSpace(m); m {
		case "@here", "@channel", "@everyone":
			out = append(out, "<!"+m[1:]+">")
		default:
			out = append(out, m)
		}
	}
	return out
}

// rateLimitedCounter registers the counter, or finds it registered. It
// has no labels, so it is at 0 from when the first Slack integration is
// built, before any answer from Slack; receivers change only at a restart.
func rateLimitedCounter(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "lookout_slack_rate_limited_total",
		Help: "Answers from Slack to slow down (HTTP 429); each notification is retried after its Retry-After.",
	})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		are := prometheus.AlreadyRegisteredError{}
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("slack: register metrics: %w", err)
	}
	return c, nil
}

// Notify posts n: a new thread, a reply in the group's thread, or the
// thread's resolution. It logs the errors it gives up on.
func (s *Notifier) Notify(ctx context.Context, n *alerting.Notification) error {
	var err error
	if s.api == nil {
		err = s.notifyWebhook(ctx, n)
	} else {
		err = s.notifyThread(ctx, n)
	}
	if notify.IsPermanent(err) {
		s.log.Error("slack: giving up on a notification", "receiver", n.Receiver, "group", n.GroupKey, "id", n.ID, "err", err)
	}
	return err
}

// notifyThread posts n with the bot token, in the group's thread.
func (s *Notifier) notifyThread(ctx context.Context, n *alerting.Notification) error {
	key := n.Receiver + "\x00" + s.channel + "\x00" + n.GroupKey
	th, ok, err := s.threads.Get(key)
	if err != nil {
		// Paging fails open: a thread that cannot be read is a new one.
		s.log.Error("slack: cannot read the group's thread; posting a new message", "group", n.GroupKey, "err", err)
		ok = false
	}
	open := ok && th.ResolvedBy == "" // a resolved thread left behind is closed
	switch {
	case n.Status == alerting.StatusResolved && ok:
		return s.resolve(ctx, key, th, n)
	case n.Status == alerting.StatusResolved:
		s.log.Debug("slack: resolved group has no thread, nothing to close", "group", n.GroupKey)
		return nil
	case open:
		return s.reply(ctx, key, th, n)
	default:
		return s.start(ctx, key, n)
	}
}

// start posts the group's first message and keeps its thread.
func (s *Notifier) start(ctx context.Context, key string, n *alerting.Notification) error {
	channel, ts, err := s.post(ctx, s.channel, "", NewMessage(n, s.msg))
	if err != nil {
		return err
	}
	if err := s.threads.Put(key, Thread{Channel: channel, TS: ts}); err != nil {
		// Posted: a retry would post again. The next notification
		// starts another thread.
		s.writeFailed("message posted, but its thread not kept; the next notification starts another", n, err)
	}
	return nil
}

// reply posts n into the group's thread, or starts a new one when that
// thread is gone.
func (s *Notifier) reply(ctx context.Context, key string, th Thread, n *alerting.Notification) error {
	_, _, err := s.post(ctx, th.Channel, th.TS, NewMessage(n, s.msg))
	if !threadGone(err) {
		return err
	}
	s.log.Info("slack: thread gone, starting a new one", "group", n.GroupKey, "err", err)
	if err := s.threads.Delete(key); err != nil {
		s.writeFailed("the gone thread not forgotten", n, err) // start replaces it
	}
	return s.start(ctx, key, n)
}

// resolve edits the thread's first message to its resolved state, says
// so in the thread and forgets the thread. A retry after the edit does
// not edit again.
func (s *Notifier) resolve(ctx context.Context, key string, th Thread, n *alerting.Notification) error {
	if th.ResolvedBy != n.ID {
		err := s.update(ctx, th, ResolvedMessage(n, s.msg))
		if err != nil && !messageGone(err) {
			return err
		}
		th.ResolvedBy = n.ID
		if err := s.threads.Put(key, th); err != nil {
			s.writeFailed("resolve edit done but not recorded; a retry edits again", n, err)
		}
	}
	if _, _, err := s.post(ctx, th.Channel, th.TS, NewMessage(n, s.msg)); err != nil && !threadGone(err) {
		return err
	}
	if err := s.threads.Delete(key); err != nil {
		// ResolvedBy is set: the next firing starts a new thread anyway.
		s.writeFailed("resolved thread not forgotten", n, err)
	}
	return nil
}

// writeFailed reports a write to Threads that failed; what says what it
// costs. The notification goes on: it is never held back for storage.
func (s *Notifier) writeFailed(what string, n *alerting.Notification, err error) {
	if s.failures != nil {
		s.failures.WriteFailed(fmt.Errorf("slack: group %s: %s: %w", n.GroupKey, what, err))
		return
	}
	s.log.Error("slack: "+what, "group", n.GroupKey, "err", err)
}

// post sends m to channel, into the thread threadTS if set, and returns
// the channel's ID and the message's timestamp.
func (s *Notifier) post(ctx context.Context, channel, threadTS string, m Message) (string, string, error) {
	if err := s.pacer.Wait(ctx, s.channel); err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...), slack.MsgOptionDisableLinkUnfurl(),
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
	}
	ch, ts, err := s.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return "", "", s.classify("post message", err)
	}
	return ch, ts, nil
}

// update replaces the thread's first message with m.
func (s *Notifier) update(ctx context.Context, th Thread, m Message) error {
	if err := s.pacer.Wait(ctx, s.channel); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, _, _, err := s.api.UpdateMessageContext(ctx, th.Channel, th.TS,
		slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...))
	if err != nil {
		return s.classify("update message", err)
	}
	return nil
}

// notifyWebhook posts n's message to the incoming webhook.
func (s *Notifier) notifyWebhook(ctx context.Context, n *alerting.Notification) error {
	if err := s.pacer.Wait(ctx, s.webhookURL); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	m := NewMessage(n, s.msg)
	err := slack.PostWebhookCustomHTTPContext(ctx, s.webhookURL, s.client,
		&slack.WebhookMessage{Text: m.Text, Blocks: &slack.Blocks{BlockSet: m.Blocks}})
	if err == nil {
		return nil
	}
	// The URL is a secret, and slack-go's errors quote it: keep only
	// the kinds of error that do not.
	var (
		ue *url.Error
		rl *slack.RateLimitedError
		sc slack.StatusCodeError
	)
	switch {
	case errors.As(err, &ue):
		return fmt.Errorf("slack: post webhook: %w", ue.Err)
	case errors.As(err, &rl), errors.As(err, &sc):
		return s.classify("post webhook", err)
	default:
		return errors.New("slack: post webhook: failed")
	}
}
