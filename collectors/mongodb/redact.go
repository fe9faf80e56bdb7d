package mongodb

import (
	"net/url"
	"strings"
)

// redactor keeps a URI and its password out of error messages: the driver's
// errors may quote the URI it was given.
type redactor struct {
	secrets []string
}

func newRedactor(uri string) redactor {
	var r redactor
	if uri != "" {
		r.secrets = append(r.secrets, uri)
	}
	// url.Parse refuses URIs with several hosts; the userinfo is before
	// the first '@' after the scheme either way.
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		rest, _ = strings.CutPrefix(uri, "mongodb+srv://")
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
			r.secrets = append(r.secrets, pw)
			if dec, err := url.PathUnescape(pw); err == nil && dec != pw {
				r.secrets = append(r.secrets, dec)
			}
		}
	}
	return r
}

// err returns err with every secret replaced; errors.As still sees the
// original through Unwrap.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range r.secrets {
		clean = strings.ReplaceAll(clean, s, "REDACTED")
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
