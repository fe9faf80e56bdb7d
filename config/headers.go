package config

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// checkHeaders checks request headers set in the config with HeaderError.
func checkHeaders(d *decoder, path string, headers map[string]string, reserved ...string) {
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if err := HeaderError(name, headers[name], reserved...); err != nil {
			d.errorAt(path+"."+name, "%v", err)
		}
	}
}

// HeaderError says what is wrong with a request header set in the config:
// a name that is not an HTTP token or is one Lookout sets itself
// (reserved), a value with a line break or NUL, which net/http refuses at
// every request. A value may be a secret, so the error names the header
// only; nil when the header is fine.
func HeaderError(name, value string, reserved ...string) error {
	var errs []error
	switch {
	case !validHeaderName(name):
		errs = append(errs, fmt.Errorf("%q is not a header name; want letters, digits and -, like X-Api-Key", name))
	case slices.Contains(reserved, http.CanonicalHeaderKey(name)):
		errs = append(errs, fmt.Errorf("%q is set by Lookout and cannot be configured", http.CanonicalHeaderKey(name)))
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		errs = append(errs, errors.New("the value has a line break or NUL, which HTTP does not allow (the value is not shown: it may be a secret)"))
	}
	return errors.Join(errs...)
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`:"(),/;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
