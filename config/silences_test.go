package config

import (
	"testing"
	"time"
)

// TestSilencesLimits: alerting.silences takes its defaults when left out
// or 0, keeps what is written, and refuses a duration no silence fits in.
func TestSilencesLimits(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Silences
		wantErr string
	}{
		{"defaults", "alerting: {}\n",
			Silences{Max: 10000, MaxSize: 8 << 10, MaxDuration: Duration(90 * 24 * time.Hour)}, ""},
		{"zeros take the defaults", "alerting: {silences: {max: 0, max_duration: 0s}}\n",
			Silences{Max: 10000, MaxSize: 8 << 10, MaxDuration: Duration(90 * 24 * time.Hour)}, ""},
		{"written", "alerting: {silences: {max: 50, max_size: 1MiB, max_duration: 168h}}\n",
			Silences{Max: 50, MaxSize: 1 << 20, MaxDuration: Duration(168 * time.Hour)}, ""},
		{"too short", "alerting: {silences: {max_duration: 30s}}\n", Silences{},
			"f.yml:1:37: alerting.silences.max_duration: 30s is too short for any silence; want at least 1m, like 2160h (90 days)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("f.yml", []byte(tt.yaml), testEnv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Alerting.Silences != tt.want {
				t.Errorf("got %+v, want %+v", cfg.Alerting.Silences, tt.want)
			}
		})
	}
}
