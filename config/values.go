package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Duration is a non-negative duration written like 30s, 5m or 1h30m.
type Duration time.Duration

func (d *Duration) parseScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; want a number with a unit, like 500ms, 30s, 5m or 1h30m", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative; want a duration of 0 or more", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration like 30s.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Regexp is a compiled RE2 regular expression.
type Regexp struct {
	*regexp.Regexp
}

func (r *Regexp) parseScalar(s string) error {
	re, err := regexp.Compile(s)
	if err != nil {
		return fmt.Errorf("%q is not a valid regular expression (RE2 syntax): %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	r.Regexp = re
	return nil
}

// Schedule is a cron spec (five fields) or a descriptor such as @hourly or
// @every 90s.
type Schedule struct {
	Spec string
	cron.Schedule
}

// MarshalText writes the spec.
func (c Schedule) MarshalText() ([]byte, error) { return []byte(c.Spec), nil }

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (c *Schedule) parseScalar(s string) error {
	sch, err := cronParser.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a valid schedule (%v); want five cron fields like \"*/5 * * * *\", or @hourly, @daily, @every 90s", s, err)
	}
	c.Spec, c.Schedule = s, sch
	return nil
}

// URL is an absolute http or https URL.
type URL struct {
	*url.URL
}

func (u *URL) parseScalar(s string) error {
	p, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a valid URL: %v (the value is not shown: it may hold a password or token)", unwrapURLError(err))
	}
	shown := redactedURL(p)
	if p.Scheme == "" && p.Host == "" {
		// hooks.slack.com/services/… : the path may be the secret.
		return errors.New("is not an absolute URL; want one starting with http:// or https://, like https://api.example.com/health (the value is not shown: it may hold a password or token)")
	}
	if p.Scheme == "" {
		return fmt.Errorf("%q is not an absolute URL; want one starting with http:// or https://, like https://api.example.com/health", shown)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("%q has scheme %q; want an absolute http:// or https:// URL", shown, p.Scheme)
	}
	if p.Host == "" {
		return fmt.Errorf("%q has no host; want an absolute URL like https://api.example.com/health", shown)
	}
	u.URL = p
	return nil
}

// redactedURL is what an error may show of a URL from the config: its
// scheme and host, the user name with the password replaced as
// url.Redacted does, and the path and query as "…" (a webhook's path or
// query often is its secret).
func redactedURL(p *url.URL) string {
	if p.Opaque != "" {
		return p.Scheme + ":…"
	}
	shown := (&url.URL{Scheme: p.Scheme, User: p.User, Host: p.Host}).Redacted()
	if p.Path != "" && p.Path != "/" || p.RawQuery != "" || p.Fragment != "" {
		return shown + "/…"
	}
	return shown + p.Path
}

// MarshalText writes the URL as written (for fingerprints and printing).
func (u URL) MarshalText() ([]byte, error) {
	if u.URL == nil {
		return nil, nil
	}
	return []byte(u.String()), nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// StatusRange is an accepted HTTP status: a code (200), a class ("2xx")
// or an inclusive range ("200-299").
type StatusRange struct {
	Min, Max int
}

func (r *StatusRange) parseScalar(s string) error {
	bad := fmt.Errorf("%q is not a status; want a code 100-599, a class like \"2xx\", or a range like \"200-299\"", s)
	switch {
	case len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx"):
		c := int(s[0] - '0')
		if c < 1 || c > 5 {
			return bad
		}
		r.Min, r.Max = c*100, c*100+99
		return nil
	case strings.Contains(s, "-"):
		lo, hi, _ := strings.Cut(s, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || !validStatus(a) || !validStatus(b) || a > b {
			return bad
		}
		r.Min, r.Max = a, b
		return nil
	}
	c, err := strconv.Atoi(s)
	if err != nil || !validStatus(c) {
		return bad
	}
	r.Min, r.Max = c, c
	return nil
}

func validStatus(c int) bool { return c >= 100 && c <= 599 }

// MarshalText writes the range as it is written in config.
func (r StatusRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Contains reports whether code is in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Min && code <= r.Max }

func (r StatusRange) String() string {
	switch {
	case r.Min == r.Max:
		return strconv.Itoa(r.Min)
	case r.Min%100 == 0 && r.Max == r.Min+99:
		return fmt.Sprintf("%dxx", r.Min/100)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// ByteSize is a size in bytes written as a number with an optional unit:
// 512, 64KiB, 1MiB, 10MB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1},
}

func (b *ByteSize) parseScalar(s string) error {
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a size; want a positive number of bytes with an optional unit: B, KiB, MiB, GiB, KB, MB, GB", s)
	}
	*b = ByteSize(n * mult)
	return nil
}

// OneOf is a string restricted to a fixed set of words; the set is given
// by the field's type.
func oneOf(s string, valid ...string) error {
	for _, v := range valid {
		if s == v {
			return nil
		}
	}
	return fmt.Errorf("%q is not valid; want one of: %s", s, strings.Join(valid, ", "))
}

// SecurityHeaders says how a missing security header counts: not at all,
// as degraded, or as down.
type SecurityHeaders string

const (
	SecurityHeadersOff    SecurityHeaders = "off"
	SecurityHeadersWarn   SecurityHeaders = "warn"
	SecurityHeadersStrict SecurityHeaders = "strict"
)

func (s *SecurityHeaders) parseScalar(v string) error {
	if err := oneOf(v, "off", "warn", "strict"); err != nil {
		return err
	}
	*s = SecurityHeaders(v)
	return nil
}

// IPProtocol is the address family an HTTP probe prefers.
type IPProtocol string

const (
	IPAny IPProtocol = "any"
	IP4   IPProtocol = "ip4"
	IP6   IPProtocol = "ip6"
)

func (p *IPProtocol) parseScalar(v string) error {
	if err := oneOf(v, "any", "ip4", "ip6"); err != nil {
		return err
	}
	*p = IPProtocol(v)
	return nil
}
