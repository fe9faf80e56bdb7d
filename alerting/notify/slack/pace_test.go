package slack

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/alerting/notify"
)

func TestPacer(t *testing.T) {
	tests := []struct {
		name     string
		channels []string
		timeout  time.Duration // of the last Wait's context; 0 for none
		want     time.Duration // how long the last Wait took
		wantWait bool          // the last Wait said to retry after want
	}{
		{name: "first message goes at once", channels: []string{"#a"}, want: 0},
		{name: "second to a channel waits a second", channels: []string{"#a", "#a"}, want: time.Second},
		{name: "third waits two", channels: []string{"#a", "#a", "#a"}, want: 2 * time.Second},
		{name: "other channels do not wait", channels: []string{"#a", "#a", "#b"}, want: 0},
		{
			name: "no sleeping past the context", channels: []string{"#a", "#a", "#a"},
			timeout: 1500 * time.Millisecond, want: 2 * time.Second, wantWait: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := NewPacer(time.Second)
				last := len(tt.channels) - 1
				for _, ch := range tt.channels[:last] {
					go func() { _ = p.Wait(t.Context(), ch) }()
					synctest.Wait() // in order
				}
				ctx := t.Context()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				began := time.Now()
				err := p.Wait(ctx, tt.channels[last])
				took := time.Since(began)
				if tt.wantWait {
					var ra *notify.RetryAfterError
					if !errors.As(err, &ra) || ra.After != tt.want || took != 0 {
						t.Errorf("Wait = %v after %v; want at once a RetryAfterError after %v", err, took, tt.want)
					}
					return
				}
				if err != nil || took != tt.want {
					t.Errorf("Wait = %v after %v, want nil after %v", err, took, tt.want)
				}
			})
		})
	}
}
