package webhook

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/lookout-dev/lookout/config"
)

// DefaultTimeout bounds one POST when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// Config is a webhook receiver's config, the `webhook:` section of a
// receiver.
type Config struct {
	// URL is where notifications are POSTed (`url`). It may carry
	// credentials or tokens, so it never appears in errors or logs.
	URL string
	// Timeout bounds one POST (`timeout`, default 10s).
	Timeout time.Duration
	// MaxAlerts caps the alerts in one payload (`max_alerts`, 0 = all);
	// the payload's truncatedAlerts says how many were left out.
	MaxAlerts int
	// Headers are added to each request (`headers`); values may be
	// secrets, and are never logged.
	Headers map[string]string
}

// validate checks c and returns the parsed URL.
func (c *Config) validate() (*url.URL, error) {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("url is required"))
	case err != nil:
		// url.Parse errors quote the URL; say only what is wrong.
		errs = append(errs, errors.New("url is not a valid URL"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, errors.New("url must start with http:// or https://"))
	case u.Host == "":
		errs = append(errs, errors.New("url has no host"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must not be negative, got %v", c.Timeout))
	}
	if c.MaxAlerts < 0 {
		errs = append(errs, fmt.Errorf("max_alerts must be 0 (all) or more, got %d", c.MaxAlerts))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		if err := config.HeaderError(name, c.Headers[name], "Content-Type"); err != nil {
			errs = append(errs, fmt.Errorf("headers: %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook: config: %w", err)
	}
	return u, nil
}
