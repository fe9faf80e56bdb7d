package config

import (
	"strings"
	"testing"
)

// TestShown: a probe as the admin UI shows it has its settings as written
// and none of its secrets: not a ${VAR}'s value, not a literal password,
// token or Authorization header, not a URL's password.
func TestShown(t *testing.T) {
	env := map[string]string{"SHOP_TOKEN": "tok-8c1f77"}
	cfg, err := Parse("shown.yml", []byte(`probes:
  - name: login
    interval: 30s
    labels: {team: shop}
    http:
      url: https://probe:hunter2-pass@shop.example.com/login
      method: POST
      headers: {Authorization: "Bearer literal-9f2e", X-Trace: visible-value}
      body: '{"token": "${SHOP_TOKEN}"}'
      basic_auth: {username: probe, password: basic-pw-4d2}
      assert: ['status == 200']
  - name: home
    browser:
      url: https://shop.example.com/
      steps:
        - fill: {selector: "#coupon", value: "SPRING-24", secret: true}
`), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	login, home := cfg.Probes[0].Shown(), cfg.Probes[1].Shown()
	t.Logf("login:\n%s\nhome:\n%s", login, home)
	for _, want := range []string{"interval: 30s", "team: shop", "shop.example.com/login", "method: POST", "X-Trace: visible-value", "status == 200", "username: probe", "***"} {
		if !strings.Contains(login, want) {
			t.Errorf("login lacks %q", want)
		}
	}
	for _, secret := range []string{"tok-8c1f77", "hunter2-pass", "literal-9f2e", "basic-pw-4d2"} {
		if strings.Contains(login, secret) {
			t.Errorf("login shows the secret %q", secret)
		}
	}
	if strings.Contains(home, "SPRING-24") || !strings.Contains(home, "#coupon") {
		t.Errorf("home shows the secret fill or lacks its selector:\n%s", home)
	}
}
