package wsprobe_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
	"github.com/lookout-dev/lookout/probes/wsprobe"
)

// serve is a WebSocket server on a loopback port: it upgrades each
// request (offering the subprotocol v2.lookout) and hands the connection
// to handle. It returns the server's ws:// URL.
func serve(t *testing.T, handle func(c *websocket.Conn, r *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(upgrade(t, handle))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func upgrade(t *testing.T, handle func(c *websocket.Conn, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"v2.lookout"}})
		if err != nil {
			t.Logf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		handle(c, r)
		c.Close(websocket.StatusNormalClosure, "")
	}
}

// echo answers ping with pong and anything else with "you said …".
func echo(c *websocket.Conn, r *http.Request) {
	_, msg, err := c.Read(r.Context())
	if err != nil {
		return
	}
	if string(msg) == "ping" {
		c.Write(r.Context(), websocket.MessageText, []byte("pong"))
		return
	}
	c.Write(r.Context(), websocket.MessageText, append([]byte("you said "), msg...))
}

// drain reads and drops messages until the connection closes.
func drain(c *websocket.Conn, r *http.Request) {
	for {
		if _, _, err := c.Read(r.Context()); err != nil {
			return
		}
	}
}

// probeConfig loads one websocket probe from YAML (the section's fields).
func probeConfig(t *testing.T, timeout, section string) config.Probe {
	t.Helper()
	return probetest.Config(t, wsprobe.Kind(), timeout, section)
}

// probe runs one websocket probe loaded from YAML.
func probe(t *testing.T, timeout, section string) probes.Result {
	t.Helper()
	return probetest.Runner(t, wsprobe.Kind(), timeout, section).Probe(t.Context())
}

func factsOf(t *testing.T, res probes.Result) *wsprobe.Facts {
	t.Helper()
	f, ok := res.Facts.(*wsprobe.Facts)
	if !ok {
		t.Fatalf("facts %T, want *wsprobe.Facts", res.Facts)
	}
	return f
}

// silent accepts TCP connections and never writes; closed receives once
// per connection when the peer closed it.
func silent(t *testing.T) (addr string, closed <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	addr = probetest.Serve(t, probetest.Listen(t), func(c net.Conn) {
		io.Copy(io.Discard, c) // until the peer closes
		ch <- struct{}{}
	})
	return addr, ch
}

// hijacked is a server that answers the upgrade by hand and then drops
// the connection without a close frame: with a valid Sec-WebSocket-Accept
// when valid is true, else with a wrong one.
func hijacked(t *testing.T, valid bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if !valid {
			key = "not the key"
		}
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		brw.Flush()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestWebSocket(t *testing.T) {
	echoURL := serve(t, echo)
	greeter := serve(t, func(c *websocket.Conn, r *http.Request) {
		c.Write(r.Context(), websocket.MessageText, []byte("welcome"))
		drain(c, r)
	})
	mute := serve(t, drain)
	closing := serve(t, func(c *websocket.Conn, r *http.Request) { c.Close(4001, "maintenance until 10:00") })
	policy := serve(t, func(c *websocket.Conn, r *http.Request) {
		c.Read(r.Context())
		c.Close(websocket.StatusPolicyViolation, "auth required")
	})
	refusing := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", status)
		}))
		t.Cleanup(srv.Close)
		return "ws" + strings.TrimPrefix(srv.URL, "http")
	}
	notWS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("plain HTTP"))
	}))
	t.Cleanup(notWS.Close)
	dropping := hijacked(t, true)
	badAccept := hijacked(t, false)
	silentAddr, _ := silent(t)

	tests := []struct {
		name, timeout, section string
		state                  probes.State
		reason                 string // in the reason
	}{
		{"handshake only", "2s", "{url: " + echoURL + "}", probes.Up, ""},
		{"echo pong", "2s", "{url: " + echoURL + ", send: ping, expect: '^pong$'}", probes.Up, ""},
		{"first message without send", "2s", "{url: " + greeter + ", expect: '^welcome$'}", probes.Up, ""},
		{"expect mismatch", "2s", "{url: " + echoURL + ", send: hello, expect: '^pong$'}", probes.Down,
			`expect: expected first message matches ^pong$, got "you said hello"`},
		{"upgrade refused 403", "2s", "{url: " + refusing(http.StatusForbidden) + "}", probes.Down, "upgrade refused with HTTP status 403 Forbidden"},
		{"upgrade refused 404", "2s", "{url: " + refusing(http.StatusNotFound) + "}", probes.Down, "upgrade refused with HTTP status 404 Not Found"},
		{"plain HTTP server", "2s", "{url: ws" + strings.TrimPrefix(notWS.URL, "http") + "}", probes.Down, "upgrade refused with HTTP status 200 OK"},
		{"connection refused", "2s", "{url: 'ws://" + probetest.ClosedPort(t) + "/ws'}", probes.Down, "connect: connection refused"},
		{"server never answers the upgrade", "500ms", "{url: 'ws://" + silentAddr + "/ws'}", probes.Down, "upgrade: timeout: no answer within the probe's timeout"},
		{"server never sends", "500ms", "{url: " + mute + ", send: ping, expect: pong}", probes.Down, "first message: timeout: no message within "},
		{"server never sends, names what it waited after", "500ms", "{url: " + mute + ", send: ping, expect: pong}", probes.Down, " after sending (the probe's timeout)"},
		{"server never sends without send", "500ms", "{url: " + mute + ", expect: pong}", probes.Down, " after the handshake (the probe's timeout)"},
		{"server closes with a code", "2s", "{url: " + closing + ", expect: pong}", probes.Down,
			`first message: the server closed the connection with status 4001, reason "maintenance until 10:00"`},
		{"server closes with a known code", "2s", "{url: " + policy + ", send: ping, expect: pong}", probes.Down,
			`the server closed the connection with status 1008 (policy violation), reason "auth required"`},
		{"server drops the connection", "2s", "{url: " + dropping + ", expect: pong}", probes.Down,
			"first message: the server closed the connection without a close frame"},
		{"invalid upgrade", "2s", "{url: " + badAccept + "}", probes.Down, "upgrade: WebSocket protocol violation: invalid Sec-WebSocket-Accept"},
		{"assert", "2s", "{url: " + echoURL + ", send: ping, expect: pong, assert: ['status == 101', 'handshake < duration(\"10s\")', 'handshake <= duration', 'response == \"pong\"', 'tls == null']}", probes.Up, ""},
		{"assert fails", "2s", "{url: " + echoURL + ", send: ping, expect: pong, assert: ['response == \"PONG\"']}", probes.Down,
			`assert: expected response == "PONG", got response is "pong"`},
		{"degraded_if", "2s", "{url: " + echoURL + ", send: ping, expect: pong, degraded_if: ['response.startsWith(\"po\")']}", probes.Degraded,
			`degraded_if: expected not response.startsWith("po")`},
		{"response is empty without expect", "2s", "{url: " + echoURL + ", send: ping, assert: ['response == \"\"']}", probes.Up, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probetest.Want(t, probe(t, tt.timeout, tt.section), tt.state, tt.reason)
		})
	}
}

// TestFacts: a run tells the upgrade's status, the subprotocol, how long
// the handshake took and the first message.
func TestFacts(t *testing.T) {
	url := serve(t, echo)
	res := probe(t, "2s", "{url: "+url+", subprotocols: [v1.lookout, v2.lookout], send: ping, expect: pong}")
	f := factsOf(t, res)
	if res.State != probes.Up || f.Status != 101 || f.Subprotocol != "v2.lookout" || f.Handshake <= 0 || f.Handshake > res.Duration ||
		f.Response != "pong" || f.MessageBytes != 4 || f.Truncated || f.TLS != nil || f.FailedRegex == nil || *f.FailedRegex {
		t.Errorf("%s %q, facts %+v; want up, status 101, subprotocol v2.lookout, a handshake within the run, response pong, no TLS, regex matched", res.State, res.Reason, f)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"status":101`, `"subprotocol":"v2.lookout"`, `"response":"pong"`, `"handshake_seconds":`, `"failed_due_to_regex":false`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("result JSON %s lacks %s", b, want)
		}
	}
	mismatch := factsOf(t, probe(t, "2s", "{url: "+url+", send: hi, expect: pong}"))
	if mismatch.FailedRegex == nil || !*mismatch.FailedRegex {
		t.Errorf("mismatch: failed_due_to_regex %v, want true", mismatch.FailedRegex)
	}
	refused := factsOf(t, probe(t, "2s", "{url: 'ws://"+probetest.ClosedPort(t)+"/'}"))
	if refused.Status != 0 || refused.Handshake != 0 || refused.FailedRegex != nil {
		t.Errorf("refused: facts %+v; want no status, no handshake time, no regex verdict", refused)
	}
}

// TestHeadersAndSubprotocols: the configured headers (Host too) and
// subprotocols reach the server, and the upgrade's response headers are
// the headers variable, with names in any case.
func TestHeadersAndSubprotocols(t *testing.T) {
	url := serve(t, func(c *websocket.Conn, r *http.Request) {
		got := fmt.Sprintf("key=%s host=%s ua=%s protocol=%s", r.Header.Get("X-Api-Key"), r.Host, r.Header.Get("User-Agent"), c.Subprotocol())
		c.Write(r.Context(), websocket.MessageText, []byte(got))
		drain(c, r)
	})
	res := probe(t, "2s", "{url: "+url+", headers: {X-Api-Key: k-123, Host: stream.example.com}, subprotocols: [v2.lookout],"+
		" expect: '^key=k-123 host=stream.example.com ua=Lookout protocol=v2.lookout$',"+
		" assert: ['headers[\"Sec-WebSocket-Protocol\"][0] == \"v2.lookout\"', 'headers[\"upgrade\"][0] == \"websocket\"']}")
	if res.State != probes.Up {
		t.Errorf("%s %q, facts %+v; want up", res.State, res.Reason, res.Facts)
	}
}

// TestOversizedMessage: of a first message of 1 MiB, a run reads the
// first 64 KiB, matches expect over them and says it read no more.
func TestOversizedMessage(t *testing.T) {
	url := serve(t, func(c *websocket.Conn, r *http.Request) {
		c.Write(r.Context(), websocket.MessageText, bytes.Repeat([]byte("a"), 1<<20))
	})
	res := probe(t, "5s", "{url: "+url+", expect: '^a+$', assert: ['size(response) == 65536']}")
	f := factsOf(t, res)
	if res.State != probes.Up || f.MessageBytes != 64<<10 || !f.Truncated || len(f.Response) != 4<<10 {
		t.Errorf("%s %q, %d bytes read (truncated %v), %d kept; want up, 65536 read, truncated, 4096 kept", res.State, res.Reason, f.MessageBytes, f.Truncated, len(f.Response))
	}
	var buf bytes.Buffer
	wsprobe.Kind().ReportFacts(probes.NewReport(&buf, time.Now()), res.Facts)
	if !strings.Contains(buf.String(), "the first 65536 bytes of a longer one") {
		t.Errorf("report %q does not say the message was longer", buf.String())
	}
}

// TestTLS: wss:// with the CA of the server's certificate verifies it; an
// unknown CA fails the handshake, naming the certificate and still telling
// its expiry; insecure_skip_verify connects and says the chain did not
// verify.
func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(upgrade(t, echo))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes of this test
	srv.StartTLS()
	t.Cleanup(srv.Close)
	url := "wss" + strings.TrimPrefix(srv.URL, "https")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	res := probe(t, "2s", "{url: "+url+", tls: {ca_file: "+caFile+"}, send: ping, expect: pong, assert: ['tls.verified', 'tls.version.startsWith(\"TLS 1.\")']}")
	f := factsOf(t, res)
	if res.State != probes.Up || f.TLS == nil || !f.TLS.Verified || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("ca_file: %s %q, TLS facts %+v; want up with a verified chain and its expiry", res.State, res.Reason, f.TLS)
	}

	res = probe(t, "2s", "{url: "+url+"}")
	f = factsOf(t, res)
	if res.State != probes.Down || !strings.HasPrefix(res.Reason, "TLS handshake: ") || !strings.Contains(res.Reason, "certificate") ||
		f.TLS == nil || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("unknown CA: %s %q, TLS facts %+v; want down on the TLS handshake naming the certificate, with its expiry", res.State, res.Reason, f.TLS)
	}

	res = probe(t, "2s", "{url: "+url+", tls: {insecure_skip_verify: true}, send: ping, expect: pong}")
	f = factsOf(t, res)
	if res.State != probes.Up || f.TLS == nil || f.TLS.Verified || f.TLS.VerifyError == "" {
		t.Errorf("insecure_skip_verify: %s %q, TLS facts %+v; want up with the chain not verified and why", res.State, res.Reason, f.TLS)
	}
}

// TestSecretsStayOut: a password and a token in the URL appear in no
// reason, result or report line, whatever the failure.
func TestSecretsStayOut(t *testing.T) {
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden", http.StatusForbidden)
	}))
	t.Cleanup(forbidden.Close)
	silentAddr, _ := silent(t)
	secret := "://alice:hunter2@"
	query := "/socket?token=s3cr3t-t0ken&v=2"
	mismatch := strings.Replace(serve(t, echo), "://", secret, 1) + query
	for name, url := range map[string]string{
		"refused upgrade":    "ws" + strings.Replace(strings.TrimPrefix(forbidden.URL, "http"), "://", secret, 1) + query,
		"connection refused": "ws" + secret + probetest.ClosedPort(t) + query,
		"timeout":            "ws" + secret + silentAddr + query,
		"expect mismatch":    mismatch,
	} {
		t.Run(name, func(t *testing.T) {
			pc := probeConfig(t, "500ms", "{url: '"+url+"', send: ping, expect: nope}")
			r, err := probes.Kinds{wsprobe.Kind()}.NewRunner(pc, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			res := r.Probe(t.Context())
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			var report bytes.Buffer
			rep := probes.NewReport(&report, time.Now())
			wsprobe.Kind().ReportTarget(rep, pc)
			wsprobe.Kind().ReportFacts(rep, res.Facts)
			if res.State != probes.Down || res.Reason == "" {
				t.Errorf("%s %q; want down with a reason", res.State, res.Reason)
			}
			for _, s := range []string{"hunter2", "s3cr3t-t0ken", "alice"} {
				if strings.Contains(res.Reason, s) || bytes.Contains(b, []byte(s)) || strings.Contains(report.String(), s) {
					t.Errorf("%q shown: reason %q, result %s, report %q", s, res.Reason, b, report.String())
				}
			}
			if !strings.Contains(report.String(), "/socket?token=…&v=…") {
				t.Errorf("report %q does not show the URL with its query redacted", report.String())
			}
		})
	}
}

// TestNoRedirect: a redirect is not followed (the headers may hold
// credentials), and the reason says to point url at its target.
func TestNoRedirect(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/ws", http.StatusFound))
	t.Cleanup(redirect.Close)
	res := probe(t, "2s", "{url: ws"+strings.TrimPrefix(redirect.URL, "http")+", headers: {Authorization: Bearer abc}}")
	if res.State != probes.Down || !strings.Contains(res.Reason, "upgrade refused with HTTP status 302 Found (a redirect, which the probe does not follow") {
		t.Errorf("%s %q; want down naming the redirect", res.State, res.Reason)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect's target was reached %d times", n)
	}
	if f := factsOf(t, res); f.Status != http.StatusFound {
		t.Errorf("status %d, want 302", f.Status)
	}
}

// TestNothingOutlivesTheRun: a server that accepts the connection and
// never answers (the upgrade, or the TLS handshake) has it closed when the
// run ends, though net/http dials and shakes hands apart from the request.
func TestNothingOutlivesTheRun(t *testing.T) {
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme, func(t *testing.T) {
			addr, closed := silent(t)
			res := probe(t, "300ms", "{url: '"+scheme+"://"+addr+"/ws'}")
			want := map[string]string{"ws": "upgrade: timeout: ", "wss": "TLS handshake: timeout: "}[scheme]
			if res.State != probes.Down || !strings.HasPrefix(res.Reason, want) {
				t.Errorf("%s %q; want down, reason starting %q", res.State, res.Reason, want)
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Error("the connection is still open 10s after the run ended")
			}
		})
	}
}

// TestMetrics: a WebSocket probe's families reach /metrics, and
// probe_failed_due_to_regex is one family with TCP's, with its help.
func TestMetrics(t *testing.T) {
	url := serve(t, echo)
	kinds := probes.Kinds{tcpprobe.Kind(), wsprobe.Kind()}
	r := probetest.Runner(t, wsprobe.Kind(), "", "{url: "+url+", send: ping, expect: pong}")
	r.Probe(t.Context())
	got := probetest.Gauges(t, kinds, r)
	if got["probe_success"] != 1 || got["lookout_probe_websocket_status_code"] != 101 || got["lookout_probe_websocket_handshake_seconds"] <= 0 {
		t.Errorf("gauges %v; want probe_success 1, status 101, a handshake time", got)
	}
	if v, ok := got["probe_failed_due_to_regex"]; !ok || v != 0 {
		t.Errorf("probe_failed_due_to_regex %v (present %v); want 0", v, ok)
	}
	for _, absent := range []string{"probe_ssl_earliest_cert_expiry", "lookout_probe_tcp_connect_seconds"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s for a ws:// probe", absent)
		}
	}
	help := map[string][]string{}
	for _, k := range kinds {
		for _, f := range k.Families {
			help[f.Name] = append(help[f.Name], f.Help)
		}
	}
	if h := help["probe_failed_due_to_regex"]; len(h) != 2 || h[0] != h[1] {
		t.Errorf("probe_failed_due_to_regex helps %q; want TCP's and WebSocket's, the same", h)
	}
}

// TestReport: `lookout probe NAME` tells the target, the handshake, the
// status and the first message.
func TestReport(t *testing.T) {
	url := serve(t, echo)
	pc := probeConfig(t, "2s", "{url: '"+url+"/live?key=abc', subprotocols: [v2.lookout], send: ping, expect: pong}")
	r, err := probes.Kinds{wsprobe.Kind()}.NewRunner(pc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	res := r.Probe(t.Context())
	var buf bytes.Buffer
	rep := probes.NewReport(&buf, time.Now())
	wsprobe.Kind().ReportTarget(rep, pc)
	wsprobe.Kind().ReportFacts(rep, res.Facts)
	out := buf.String()
	for _, want := range []string{
		"target:     " + url + "/live?key=…, subprotocols v2.lookout\n",
		"handshake:  ",
		"status:     101, subprotocol v2.lookout\n",
		`response:   "pong" (the first message: 4 bytes)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
