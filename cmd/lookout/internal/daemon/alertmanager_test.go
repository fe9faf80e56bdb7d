package daemon

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lookout-dev/lookout/alerting/promtest"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/testca"
)

// TestForwardsToAlertmanager: a receiver with an alertmanager section
// forwards its alerts to a real Alertmanager, over TLS with basic auth,
// as Prometheus does; the Alertmanager routes the alert to its own
// webhook (a sink here), and resolves it when the probe comes back. A
// second receiver with a wrong password is refused, counted, and its
// password shown nowhere.
func TestForwardsToAlertmanager(t *testing.T) {
	promtest.Bin(t, "alertmanager") // skips before anything starts when it is not built
	target, sink := newFlappingTarget(t), newHookServer(t)
	ca := testca.New(t, "am")
	cert, key := ca.Server(t, "alertmanager")
	hash, err := bcrypt.GenerateFromPassword([]byte("am-pass-word"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("tls_server_config: {cert_file: %q, key_file: %q}\nbasic_auth_users: {lookout: %q}\n", cert, key, hash)
	// The sink gets Alertmanager's own webhook notifications.
	amConfig := fmt.Sprintf(`route:
  receiver: sink
  group_by: [alertname, probe]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: sink
    webhook_configs:
      - url: %q
        send_resolved: true
`, sink.srv.URL+"/")
	client := &http.Client{Transport: basicAuth{&http.Transport{TLSClientConfig: ca.ClientTLS(t, "", "")}, "lookout", "am-pass-word"}}
	am := promtest.Alertmanager(t, amConfig, web, client)

	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "Probe {{ $labels.probe }} is down"}
`)
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
alerting:
  evaluation_interval: 200ms
  rule_files: [rules.yml]
  route:
    receiver: existing-am
    routes:
      - {receiver: existing-am, continue: true}
      - {receiver: wrong-password}
  receivers:
    - name: existing-am
      alertmanager:
        urls: [%q]
        timeout: 5s
        basic_auth: {username: lookout, password: am-pass-word}
        tls: {ca_file: %q}
    - name: wrong-password
      alertmanager:
        urls: [%q]
        basic_auth: {username: lookout, password: not-the-pass-word}
        tls: {ca_file: %q}
probes:
  - name: api
    interval: 100ms
    timeout: 80ms
    http: {url: %q}
`, filepath.Join(dir, "data"), am.URL, ca.CertFile, am.URL, ca.CertFile, target.srv.URL))
	d := startDaemon(t, cfg)
	defer d.stop(t)

	target.down.Store(true)
	m := sink.next(t, "firing", 20*time.Second)
	if len(m.Alerts) != 1 || m.Alerts[0].Labels["alertname"] != "ProbeDown" || m.Alerts[0].Labels["probe"] != "api" ||
		m.Alerts[0].Annotations["summary"] != "Probe api is down" {
		t.Fatalf("Alertmanager's webhook got %+v, want the firing ProbeDown of api", m)
	}
	// Resent every evaluation: Alertmanager keeps it firing, and does
	// not notify again (repeat_interval 1h).
	sink.quiet(t, 3*time.Second)
	target.down.Store(false)
	m = sink.next(t, "resolved", 20*time.Second)
	if len(m.Alerts) != 1 || m.Alerts[0].Labels["probe"] != "api" || m.Alerts[0].Status != "resolved" {
		t.Fatalf("Alertmanager's webhook got %+v, want api resolved", m)
	}

	_, metrics := d.get(t, "/metrics")
	host := strings.TrimPrefix(am.URL, "https://")
	for _, want := range []string{
		fmt.Sprintf(`lookout_alertmanager_errors_total{alertmanager=%q,receiver="existing-am"} 0`, host),
		fmt.Sprintf(`lookout_alertmanager_errors_total{alertmanager=%q,receiver="wrong-password"}`, host),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, fmt.Sprintf(`lookout_alertmanager_errors_total{alertmanager=%q,receiver="wrong-password"} 0`, host)) {
		t.Error("the receiver with the wrong password counts no errors")
	}
	if !strings.Contains(metrics, `lookout_alertmanager_alerts_sent_total{alertmanager="`+host+`",receiver="existing-am"}`) {
		t.Error("/metrics lacks lookout_alertmanager_alerts_sent_total")
	}
	logs := d.logs.String()
	if !strings.Contains(logs, "401 Unauthorized") {
		t.Errorf("the refused receiver's log does not say why:\n%s", logs)
	}
	for _, secret := range []string{"am-pass-word", "not-the-pass-word"} {
		if strings.Contains(logs, secret) || strings.Contains(metrics, secret) {
			t.Errorf("a password shows in the logs or /metrics")
		}
	}
}

// basicAuth adds basic authentication to every request.
type basicAuth struct {
	rt             http.RoundTripper
	user, password string
}

func (b basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.SetBasicAuth(b.user, b.password)
	return b.rt.RoundTrip(req)
}
