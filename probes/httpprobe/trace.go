package httpprobe

import (
	"crypto/tls"
	"net/http/httptrace"
	"sync"
	"time"
)

// tracer measures the phases of one run, summed over redirects. Its hooks
// run on the transport's goroutines, hence the lock.
type tracer struct {
	mu                       sync.Mutex
	phases                   Phases
	dnsStart, connStart      time.Time
	tlsStart, gotConn, wrote time.Time
	firstByte                time.Time
}

func (t *tracer) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { t.mark(&t.dnsStart) },
		DNSDone:  func(httptrace.DNSDoneInfo) { t.add(&t.phases.Resolve, &t.dnsStart) },
		ConnectStart: func(string, string) {
			t.mark(&t.connStart)
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				t.add(&t.phases.Connect, &t.connStart)
			}
		},
		TLSHandshakeStart: func() { t.mark(&t.tlsStart) },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			t.add(&t.phases.TLS, &t.tlsStart)
		},
		GotConn: func(info httptrace.GotConnInfo) {
			handedOver(info)
			t.mark(&t.gotConn)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { t.mark(&t.wrote) },
		GotFirstResponseByte: func() {
			t.mark(&t.firstByte)
			t.processing()
		},
	}
}

func (t *tracer) mark(at *time.Time) {
	now := time.Now()
	t.mu.Lock()
	*at = now
	t.mu.Unlock()
}

// add adds the time since *since to *d, and clears *since so a later hop
// of a redirect starts afresh.
func (t *tracer) add(d *time.Duration, since *time.Time) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !since.IsZero() {
		*d += now.Sub(*since)
		*since = time.Time{}
	}
}

// processing runs from the request written to the first response byte. A
// server may answer before the request is fully written (an early 413 to
// a big upload): then it runs from when the connection was obtained.
func (t *tracer) processing() {
	t.mu.Lock()
	start := t.wrote
	if start.IsZero() || start.After(t.firstByte) {
		start = t.gotConn
	}
	if !start.IsZero() {
		t.phases.Processing += t.firstByte.Sub(start)
	}
	t.wrote, t.gotConn = time.Time{}, time.Time{}
	t.mu.Unlock()
}

// bodyDone ends the transfer phase of the final response.
func (t *tracer) bodyDone() {
	t.add(&t.phases.Transfer, &t.firstByte)
}

func (t *tracer) result() Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phases
}
