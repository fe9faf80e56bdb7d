package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/slack-go/slack"
)

const (
	// silenceFor is how long "Silence 1h" silences.
	silenceFor = time.Hour
	// replayWindow is how long a signature is remembered: Slack's
	// timestamps may be five minutes off either way.
	replayWindow = 10 * time.Minute
	// respondTimeout bounds the update of the message through its
	// response_url; Slack wants an answer within 3s, but the action is
	// done by then.
	respondTimeout = 5 * time.Second
)

// Actions are what the buttons do; the daemon implements them over its
// silences and dispatcher.
type Actions interface {
	// Silence silences the group's labels for d and returns the
	// silence's ID.
	Silence(groupLabels model.LabelSet, by string, d time.Duration) (id string, err error)
	// Ack marks the group acknowledged.
	Ack(groupKey string, by string) error
}

// HandlerOptions are what an InteractionHandler takes besides the secret
// and the actions.
type HandlerOptions struct {
	// Client posts to the payloads' response_url; nil means a new
	// http.Client.
	Client *http.Client
	// Logger logs failed actions and updates; nil discards.
	Logger *slog.Logger
}

// InteractionHandler serves Slack's interactivity requests (the Request
// URL of the Slack app): it checks their signature, runs the button's
// action and updates the message through the payload's response_url.
//
// Requests not signed with the secret get 401, as do those whose
// timestamp is more than five minutes off (slack.NewSecretsVerifier) and
// replays of a request already served (the same signature again within
// ten minutes).
type InteractionHandler struct {
	secret  string
	actions Actions
	client  *http.Client
	log     *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // signatures served, by when
}

// NewInteractionHandler returns the handler for the signing secret.
func NewInteractionHandler(secret string, actions Actions, opts HandlerOptions) *InteractionHandler {
	h := &InteractionHandler{secret: secret, actions: actions, client: opts.Client, log: opts.Logger, seen: map[string]time.Time{}}
	if h.client == nil {
		h.client = &http.Client{}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *InteractionHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "slack: interactions are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "slack: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := h.verify(r.Header, body); err != nil {
		http.Error(w, "slack: "+err.Error(), http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "slack: body is not a form", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "slack: payload is not an interaction: "+err.Error(), http.StatusBadRequest)
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions {
		return // not ours; 200 so Slack does not show an error
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID != ActionSilence && a.ActionID != ActionAck {
			continue
		}
		var v ButtonValue
		if err := json.Unmarshal([]byte(a.Value), &v); err != nil {
			http.Error(w, "slack: button value is not Lookout's", http.StatusBadRequest)
			return
		}
		h.act(r.Context(), &cb, a.ActionID, v)
	}
}

// verify checks the signature, the timestamp and that the request is not
// a replay.
func (h *InteractionHandler) verify(header http.Header, body []byte) error {
	sv, err := slack.NewSecretsVerifier(header, h.secret)
	if err != nil {
		return fmt.Errorf("verify: %w", err) // missing, malformed or expired; never the secret
	}
	if _, err := sv.Write(body); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := sv.Ensure(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	sig, now := header.Get("X-Slack-Signature"), time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	for s, at := range h.seen {
		if now.Sub(at) > replayWindow {
			delete(h.seen, s)
		}
	}
	if _, ok := h.seen[sig]; ok {
		return errors.New("verify: request replayed")
	}
	h.seen[sig] = now
	return nil
}

// act runs the button's action and updates the message, or tells the
// user why it failed.
func (h *InteractionHandler) act(ctx context.Context, cb *slack.InteractionCallback, action string, v ButtonValue) {
	by, who := cb.User.Name, "@"+cb.User.Name
	if by == "" {
		by = cb.User.ID
	}
	if cb.User.ID != "" {
		who = "<@" + cb.User.ID + ">"
	}
	var note string
	switch action {
	case ActionSilence:
		if len(v.GroupLabels) == 0 {
			h.fail(ctx, cb, "silence", errors.New("the group has no labels; a silence would mute every alert"))
			return
		}
		id, err := h.actions.Silence(v.GroupLabels, by, silenceFor)
		if err != nil {
			h.fail(ctx, cb, "silence", err)
			return
		}
		note = fmt.Sprintf(":no_bell: Silenced for 1h by %s (silence `%s`)", who, escape(id))
	case ActionAck:
		if err := h.actions.Ack(v.GroupKey, by); err != nil {
			h.fail(ctx, cb, "acknowledge", err)
			return
		}
		note = ":eyes: Acknowledged by " + who
	}
	blocks := AfterAction(cb.Message.Blocks.BlockSet, action, note)
	h.respond(ctx, cb.ResponseURL, &slack.WebhookMessage{
		ReplaceOriginal: true, Text: cb.Message.Text, Blocks: &slack.Blocks{BlockSet: blocks},
	})
}

// fail logs the failed action and tells the user, only them.
func (h *InteractionHandler) fail(ctx context.Context, cb *slack.InteractionCallback, what string, err error) {
	h.log.Error("slack: button action failed", "action", what, "user", cb.User.ID, "err", err)
	h.respond(ctx, cb.ResponseURL, &slack.WebhookMessage{
		ResponseType: slack.ResponseTypeEphemeral, Text: fmt.Sprintf("Lookout could not %s: %s", what, escape(err.Error())),
	})
}

// respond posts m to the payload's response_url; that URL is a secret
// and never logged.
func (h *InteractionHandler) respond(ctx context.Context, responseURL string, m *slack.WebhookMessage) {
	if responseURL == "" {
		h.log.Warn("slack: interaction has no response_url; message not updated")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, respondTimeout)
	defer cancel()
	err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, h.client, m)
	if err == nil {
		return
	}
	var (
		ue *url.Error
		sc slack.StatusCodeError
	)
	switch {
	case errors.As(err, &ue):
		err = ue.Err
	case errors.As(err, &sc):
	default:
		err = errors.New("failed")
	}
	h.log.Error("slack: update message after action", "err", err)
}
