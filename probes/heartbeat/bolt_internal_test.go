package heartbeat

import (
	"testing"
	"time"
)

// TestRecordRoundTrip: what encode writes, decode reads back the same,
// times to the nanosecond and unset ones as unset.
func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		sig  Signals
	}{
		{"created only", Signals{Created: at}},
		{"running", Signals{Created: at, Success: at.Add(time.Hour), Start: at.Add(2 * time.Hour), Running: true, Duration: 12 * time.Minute}},
		{"failed by /fail", Signals{Created: at, Fail: at.Add(time.Minute), Failed: true, ExitCode: -1, Reason: "pg_dump: disk full ✗\n"}},
		{"failed by an exit code", Signals{Created: at, Fail: at, Failed: true, ExitCode: 255, Reason: "exited with code 255"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decode(encode(tt.sig))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Created.Equal(tt.sig.Created) || !got.Success.Equal(tt.sig.Success) || !got.Start.Equal(tt.sig.Start) || !got.Fail.Equal(tt.sig.Fail) ||
				got.Success.IsZero() != tt.sig.Success.IsZero() || got.Fail.IsZero() != tt.sig.Fail.IsZero() ||
				got.Failed != tt.sig.Failed || got.Running != tt.sig.Running || got.Duration != tt.sig.Duration ||
				got.ExitCode != tt.sig.ExitCode || got.Reason != tt.sig.Reason {
				t.Errorf("decoded %+v, want %+v", got, tt.sig)
			}
		})
	}
	for _, bad := range [][]byte{nil, {2, 0}, {recordVersion, 0x80}, encode(Signals{Created: at})[:3]} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%x) read a record", bad)
		}
	}
}
