package slack

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// Config is a Slack integration's config, the `slack:` section of a
// receiver. Either Token (with Channel) or WebhookURL is set, not both.
type Config struct {
	// Token is the bot token (`token`, xoxb-…). It never appears in
	// errors or logs.
	Token string
	// Channel is where messages go (`channel`): "#oncall" or an ID.
	Channel string
	// SigningSecret (`signing_secret`) enables the "Silence 1h" and
	// "Acknowledge" buttons; the daemon serves the interactivity
	// endpoint (NewInteractionHandler) with it.
	SigningSecret string
	// Mention is who is mentioned on firing messages (`mention`):
	// "@here", "@channel" and "@everyone" become Slack's special
	// mentions; anything else ("<@U123>", "<!subteam^S1>") is sent as
	// given.
	Mention []string
	// APIURL is the Web API's base (`api_url`, default DefaultAPIURL),
	// for proxies and tests.
	APIURL string
	// WebhookURL (`webhook_url`) is the incoming-webhook mode for teams
	// without a bot token: the same message, but no threads, no edits
	// on resolve and no buttons. The URL is a secret and never appears
	// in errors or logs.
	WebhookURL string
}

// validate checks c and fills in the defaults.
func (c *Config) validate() error {
	var errs []error
	switch {
	case c.Token == "" && c.WebhookURL == "":
		errs = append(errs, errors.New("token (with channel) or webhook_url is required"))
	case c.Token != "" && c.WebhookURL != "":
		errs = append(errs, errors.New("token and webhook_url are exclusive; set one"))
	case c.Token != "" && c.Channel == "":
		errs = append(errs, errors.New("channel is required with token"))
	}
	if c.WebhookURL != "" {
		if err := checkURL(c.WebhookURL); err != nil {
			errs = append(errs, fmt.Errorf("webhook_url %w", err))
		}
		if c.SigningSecret != "" {
			errs = append(errs, errors.New("signing_secret needs token: webhook messages cannot be updated by the buttons"))
		}
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	} else if err := checkURL(c.APIURL); err != nil {
		errs = append(errs, fmt.Errorf("api_url %w", err))
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/" // slack-go appends the method name
	}
	for i, m := range c.Mention {
		if strings.TrimSpace(m) == "" || strings.ContainsAny(m, "\r\n") {
			errs = append(errs, fmt.Errorf("mention[%d] must be like @here, @channel or <@U123>, got %q", i, m))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("slack: config: %w", err)
	}
	return nil
}

// checkURL says what is wrong with an http(s) URL, without quoting it.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must start with http:// or https://")
	case u.Host == "":
		return errors.New("has no host")
	}
	return nil
}

// mentions turns the configured mentions into Slack's syntax.
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
