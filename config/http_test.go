package config

import "testing"

func TestDenyPrivateRedirects(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       bool
	}{
		{"off by default", "", false},
		{"on", "deny_private_redirects: true", true},
		{"off", "deny_private_redirects: false", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := "probes:\n  - name: api\n    http:\n      url: https://api.example.com/health\n      " + tt.yaml + "\n"
			cfg, err := Parse("test.yml", []byte(yml), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Probes[0].HTTP.DenyPrivateRedirects; got != tt.want {
				t.Errorf("DenyPrivateRedirects = %v; want %v", got, tt.want)
			}
		})
	}
}
