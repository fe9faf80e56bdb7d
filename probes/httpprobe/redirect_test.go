package httpprobe_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lookout-dev/lookout/probes"
)

// redirectPair is two targets on 127.0.0.1, at different ports and so of
// different origins. Each redirects as its paths say and keeps the
// headers of the last request that reached /seen:
//
//	/seen            200
//	/to/self         302 to its own /seen
//	/to/other        302 to the other's /seen
//	/to/other/back   302 to the other's /to/home, which sends it back to /seen here
//	/to/home         302 to the first target's /seen
//	/to/other/secret 302 to the other's /seen, with a password in the URL
type redirectPair struct {
	first, second string // base URLs
	mu            sync.Mutex
	seen          map[string]http.Header // by base URL
}

func newRedirectPair(t *testing.T) *redirectPair {
	t.Helper()
	rp := &redirectPair{seen: map[string]http.Header{}}
	var urls [2]*string
	urls[0], urls[1] = &rp.first, &rp.second
	for i := range urls {
		self, other := urls[i], urls[1-i]
		mux := http.NewServeMux()
		mux.HandleFunc("/seen", func(w http.ResponseWriter, r *http.Request) {
			rp.mu.Lock()
			rp.seen[*self] = r.Header.Clone()
			rp.mu.Unlock()
		})
		redirect := func(to func() string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to(), http.StatusFound) }
		}
		mux.HandleFunc("/to/self", redirect(func() string { return *self + "/seen" }))
		mux.HandleFunc("/to/other", redirect(func() string { return *other + "/seen" }))
		mux.HandleFunc("/to/other/back", redirect(func() string { return *other + "/to/home" }))
		mux.HandleFunc("/to/home", redirect(func() string { return rp.first + "/seen" }))
		mux.HandleFunc("/to/other/secret", redirect(func() string {
			return strings.Replace(*other, "http://", "http://probe:hunter2@", 1) + "/seen"
		}))
		*self = startServer(t, mux).URL
	}
	return rp
}

// headers returns what the target at base saw last at /seen; nil: nothing.
func (rp *redirectPair) headers(base string) http.Header {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.seen[base]
}

// TestRedirectHeaders: the configured headers and credentials go to url's
// origin only (scheme, host and port): a redirect to another origin drops
// them, for the rest of the chain; no Referer is sent, save a configured
// one to url's origin.
func TestRedirectHeaders(t *testing.T) {
	const creds = "headers: {X-Api-Key: k-123, Accept: application/json}\nbearer_token: tok-123"
	kept := map[string]string{"X-Api-Key": "k-123", "Accept": "application/json", "Authorization": "Bearer tok-123", "Referer": "", "User-Agent": "Lookout"}
	dropped := map[string]string{"X-Api-Key": "", "Accept": "", "Authorization": "", "Referer": "", "User-Agent": "Lookout"}
	tests := []struct {
		name   string
		path   string // on the first target
		extra  string
		second bool              // the request ends at the second target
		want   map[string]string // header: value, "" for absent
	}{
		{"same origin keeps them, no Referer", "/to/self", creds, false, kept},
		{"another port drops them", "/to/other", creds, true, dropped},
		{"back at url's origin after another: still dropped", "/to/other/back", creds, false, dropped},
		{"basic_auth dropped on another origin", "/to/other", "basic_auth: {username: probe, password: s3cret}", true,
			map[string]string{"Authorization": "", "Referer": ""}},
		{"configured Referer kept on the same origin", "/to/self", "headers: {Referer: https://status.example.com/}", false,
			map[string]string{"Referer": "https://status.example.com/"}},
		{"configured Referer dropped on another origin", "/to/other", "headers: {Referer: https://status.example.com/}", true,
			map[string]string{"Referer": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newRedirectPair(t)
			res := runProbe(t, newProber(t, fmt.Sprintf("url: %s%s\n%s", rp.first, tt.path, tt.extra)))
			checkResult(t, res, probes.Up, "")
			end := rp.first
			if tt.second {
				end = rp.second
			}
			got := rp.headers(end)
			if got == nil {
				t.Fatalf("the request did not reach %s/seen", end)
			}
			for k, want := range tt.want {
				if v := got.Get(k); v != want {
					t.Errorf("header %s = %q at the end of the redirects; want %q", k, v, want)
				}
			}
		})
	}
}

// TestDenyPrivateRedirects: deny_private_redirects refuses a redirect to
// another origin on a private address, here 127.0.0.1 or a name for it,
// with a reason naming the target; url itself and redirects within its
// origin may be private.
func TestDenyPrivateRedirects(t *testing.T) {
	tests := []struct {
		name   string
		path   string // on the first target
		deny   bool
		reason string // "{second}" stands for the second target's base URL, "{port}" for its port; "": up
	}{
		{"refused: another origin on 127.0.0.1", "/to/other", true,
			"redirect to {second}/seen refused: 127.0.0.1 is a loopback address (deny_private_redirects)"},
		{"refused: localhost, resolved", "/to/localhost", true,
			"redirect to http://localhost:{port}/seen refused: localhost resolves to "},
		{"refused, the target's password redacted", "/to/other/secret", true,
			"redirect to http://probe:xxxxx@127.0.0.1:{port}/seen refused: 127.0.0.1 is a loopback address (deny_private_redirects)"},
		{"followed without the option", "/to/other", false, ""},
		{"url itself on 127.0.0.1", "/seen", true, ""},
		{"within url's origin", "/to/self", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := newRedirectPair(t)
			_, port, _ := strings.Cut(strings.TrimPrefix(rp.second, "http://"), ":")
			localhost := startServer(t, http.RedirectHandler("http://localhost:"+port+"/seen", http.StatusFound))
			url := rp.first + tt.path
			if tt.path == "/to/localhost" {
				url = localhost.URL + "/"
			}
			res := runProbe(t, newProber(t, fmt.Sprintf("url: %s\ndeny_private_redirects: %v", url, tt.deny)))
			if tt.reason == "" {
				checkResult(t, res, probes.Up, "")
				return
			}
			reason := strings.NewReplacer("{second}", rp.second, "{port}", port).Replace(tt.reason)
			checkReasonPrefix(t, res, probes.Down, reason)
			if got := rp.headers(rp.second); got != nil {
				t.Errorf("the second target got a request; want none")
			}
		})
	}
}
