package httpprobe

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// tracer measures the phases of one run, summed over redirects. Its hooks
// run on the transport's goroutines, hence the lock.
type tracer struct {
	mu                         sync.Mutex
	phases                     probes.Phases
	dnsStart, connStart        time.Time
	tlsStart, wrote, firstByte time.Time
}

func (t *tracer) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { t.mark(&t.dnsStart) },
		DNSDone:  func(httptrace.DNSDoneInfo) { t.add(&t.phases.Resolve, t.dnsStart) },
		ConnectStart: func(string, string) {
			t.mark(&t.connStart)
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.add(&t.phases.Connect, t.connStart)
			}
		},
		TLSHandshakeStart: func() { t.mark(&t.tlsStart) },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			t.add(&t.phases.TLS, t.tlsStart)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { t.mark(&t.wrote) },
		GotFirstResponseByte: func() {
			t.mark(&t.firstByte)
			t.add(&t.phases.Processing, t.wrote)
		},
	}
}

func (t *tracer) mark(at *time.Time) {
	now := time.Now()
	t.mu.Lock()
	*at = now
	t.mu.Unlock()
}

func (t *tracer) add(d *time.Duration, since time.Time) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !since.IsZero() {
		*d += now.Sub(since)
	}
}

// bodyDone ends the transfer phase of the final response.
func (t *tracer) bodyDone() {
	t.mu.Lock()
	first := t.firstByte
	t.mu.Unlock()
	t.add(&t.phases.Transfer, first)
}

func (t *tracer) result() probes.Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phases
}
