package heartbeat

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// RoutePrefix is where check-ins arrive: RoutePrefix + NAME for a
// success, NAME/start, NAME/fail or NAME/EXIT_CODE.
const RoutePrefix = "/v1/heartbeat/"

// MaxBody is the largest body a failure's check-in may carry as its
// reason; a bigger one is refused (413) and not read further.
const MaxBody = 10 << 10

// Results of a check-in, the values of
// lookout_heartbeat_checkins_total's result label.
const (
	resultOK           = "ok"
	resultUnauthorized = "unauthorized" // wrong or missing token
	resultUnknown      = "unknown"      // no heartbeat at the path
	resultTooLarge     = "too_large"    // a body over MaxBody
	resultInvalid      = "invalid"      // a method or exit code not accepted
	resultRateLimited  = "rate_limited" // over its client address's rate
)

var results = []string{resultOK, resultUnauthorized, resultUnknown, resultTooLarge, resultInvalid, resultRateLimited}

var _ http.Handler = (*Store)(nil)

// ServeHTTP takes a check-in: GET or POST (HEAD too) of RoutePrefix +
// NAME (a success), NAME/start, NAME/fail (its body, up to MaxBody, is
// the reason) or NAME/EXIT_CODE (0 a success, 1 to 255 a failure), with
// the heartbeat's token as "Authorization: Bearer TOKEN" or ?token=TOKEN.
// It answers 200 once the check-in is recorded; 404 for a path naming no
// heartbeat, 401 for a wrong or missing token, 413 for a body over
// MaxBody, 405 for another method, 400 for an exit code over 255 and 429
// for a client over the rate LimitClients sets. Each
// answer counts in lookout_heartbeat_checkins_total; none repeats the
// token or the path.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.refuse(w, resultInvalid, http.StatusMethodNotAllowed, "a check-in is GET or POST")
		return
	}
	s.mu.RLock()
	allow := s.allow
	s.mu.RUnlock()
	if allow != nil && !allow(r) {
		w.Header().Set("Retry-After", "1")
		s.refuse(w, resultRateLimited, http.StatusTooManyRequests, "too many check-ins from this address; try again in a second")
		return
	}
	b, sig, code, refused := s.route(strings.TrimPrefix(r.URL.Path, RoutePrefix))
	switch {
	case refused == resultUnknown:
		s.refuse(w, resultUnknown, http.StatusNotFound, "no heartbeat at this path; want "+RoutePrefix+"NAME, NAME/start, NAME/fail or NAME/EXIT_CODE")
		return
	case refused == resultInvalid:
		s.refuse(w, resultInvalid, http.StatusBadRequest, "exit code over 255; want 0 (a success) to 255")
		return
	case !b.authorized(token(r)):
		w.Header().Set("WWW-Authenticate", `Bearer realm="lookout heartbeat"`)
		s.refuse(w, resultUnauthorized, http.StatusUnauthorized, "wrong or missing token; want the heartbeat's token as Authorization: Bearer TOKEN or ?token=TOKEN")
		return
	}
	reason := ""
	if sig == fail {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			s.refuse(w, resultTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes; a failure's reason is at most 10 KiB", MaxBody))
			return
		case err != nil:
			s.refuse(w, resultInvalid, http.StatusBadRequest, "cannot read the body")
			return
		}
		reason = failReason(code, body)
	}
	s.checkin(b, sig, code, reason)
	s.count(resultOK)
	io.WriteString(w, "OK\n") // text/plain, sniffed: setting it would copy the header map

}

// route finds the heartbeat and the signal of a path below RoutePrefix:
// the whole path names a heartbeat (a success), or all but its last
// segment does and that is start, fail or an exit code. refused is
// resultUnknown or resultInvalid when it finds none.
func (s *Store) route(path string) (b *beat, sig signal, code int, refused string) {
	if b := s.get(path); b != nil {
		return b, success, 0, ""
	}
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return nil, 0, 0, resultUnknown
	}
	if b = s.get(path[:i]); b == nil {
		return nil, 0, 0, resultUnknown
	}
	switch tail := path[i+1:]; tail {
	case "start":
		return b, start, 0, ""
	case "fail":
		return b, fail, -1, ""
	default:
		code, ok := exitCode(tail)
		switch {
		case !ok:
			return nil, 0, 0, resultUnknown
		case code > 255:
			return nil, 0, 0, resultInvalid
		case code == 0:
			return b, success, 0, ""
		}
		return b, fail, code, ""
	}
}

// exitCode parses a path segment of decimal digits.
func exitCode(s string) (int, bool) {
	if s == "" || len(s) > 6 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// failReason is a failure's reason: "exited with code N", then the body,
// or the body alone for /fail.
func failReason(code int, body []byte) string {
	text := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	switch {
	case code > 0 && text != "":
		return fmt.Sprintf("exited with code %d: %s", code, text)
	case code > 0:
		return fmt.Sprintf("exited with code %d", code)
	case text == "":
		return "the job reported a failure (no reason given)"
	}
	return text
}

// token is the request's token: from "Authorization: Bearer", else from
// ?token=.
func token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(t)
	}
	return r.URL.Query().Get("token")
}

// authorized compares the hashes of t and b's token in constant time, so
// neither the token nor its length shows in the time taken.
func (b *beat) authorized(t string) bool {
	got := sha256.Sum256([]byte(t))
	b.mu.Lock()
	want := b.token
	b.mu.Unlock()
	return t != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

func (s *Store) refuse(w http.ResponseWriter, result string, status int, msg string) {
	s.count(result)
	http.Error(w, "heartbeat: "+msg, status)
}

func (s *Store) count(result string) { s.checkins.WithLabelValues(result).Inc() }
