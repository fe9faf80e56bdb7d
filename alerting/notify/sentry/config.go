package sentry

import (
	"errors"
	"fmt"
	"net/url"

	sentrygo "github.com/getsentry/sentry-go"
)

// Config is a Sentry receiver's config, the `sentry:` section of a
// receiver.
type Config struct {
	// DSN is the Sentry project's DSN (`dsn`). It holds the project's key,
	// so it never appears in errors or logs.
	DSN string
	// Environment is sent with every event (`environment`), optional.
	Environment string
}

// validate checks c. Errors say what is wrong with the DSN, never what it
// is.
func (c *Config) validate() error {
	var errs []error
	switch u, err := url.Parse(c.DSN); {
	case c.DSN == "":
		errs = append(errs, errors.New("dsn is required"))
	case err != nil:
		// url.Parse errors quote the URL.
		errs = append(errs, errors.New("dsn is not a valid URL"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, errors.New("dsn must start with http:// or https://"))
	case u.User.Username() == "":
		errs = append(errs, errors.New("dsn has no public key (https://KEY@host/PROJECT)"))
	case u.Hostname() == "":
		errs = append(errs, errors.New("dsn has no host"))
	default:
		if _, err := sentrygo.NewDsn(c.DSN); err != nil {
			// The remaining DsnParseErrors ("invalid port", "empty
			// project id") hold no part of the DSN.
			var pe *sentrygo.DsnParseError
			if errors.As(err, &pe) {
				errs = append(errs, fmt.Errorf("dsn: %s", pe.Message))
			} else {
				errs = append(errs, errors.New("dsn is not a valid Sentry DSN"))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sentry: config: %w", err)
	}
	return nil
}
