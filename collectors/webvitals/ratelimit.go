package webvitals

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// ClientLimiter is a token bucket per client, in a table of at most max
// clients that forgets the least recently seen one: the rate limit of
// Lookout's public endpoints (beacons here, the status pages too). An evicted client comes
// back with a full bucket: the table bounds memory, not a determined
// attacker with more addresses than the table holds.
//
// golang.org/x/time/rate would serve too, but a rate.Limiter carries a mutex
// and more; a bucket here is two words, and the table's lock covers it.
type ClientLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu    sync.Mutex
	table *lru[netip.Addr, bucket]
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewClientLimiter allows each client rate requests a second, in bursts
// of burst, and remembers at most maxIPs clients.
func NewClientLimiter(rate float64, burst, maxIPs int) *ClientLimiter {
	return &ClientLimiter{rate: rate, burst: float64(burst), table: newLRU[netip.Addr, bucket](maxIPs)}
}

// Allow takes a token from client's bucket, reporting whether there was one.
func (l *ClientLimiter) Allow(client netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.table.get(client)
	if !ok {
		b = l.table.add(client, bucket{tokens: l.burst, last: now})
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Len is how many clients the table holds.
func (l *ClientLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.table.len()
}

// ClientKey is the limiter's key for a request: its client's IP, or for
// IPv6 its /64, since one host commonly holds a whole /64 and could rotate
// through it. The client is the connection's address, unless that is one
// of trusted (reverse proxies): then X-Forwarded-For is read from the right
// and the first address not in trusted is the client, since only what the
// trusted proxies appended can be believed. Behind an untrusted proxy
// every beacon shares the proxy's bucket, which is safe, where believing
// the header would let any client choose its own bucket. An unparsable
// address yields the zero Addr, one bucket shared by all such requests.
func ClientKey(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ip := parseIP(r.RemoteAddr)
	if len(trusted) > 0 && isTrusted(ip, trusted) {
		ip = forwardedClient(r.Header.Values("X-Forwarded-For"), ip, trusted)
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// forwardedClient walks X-Forwarded-For from the right, past trusted
// proxies, to the first address that is not one: the client. When every
// address is trusted the leftmost is the client; an unparsable entry ends
// the walk at the proxy that appended it.
func forwardedClient(headers []string, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	client := peer
	for i := len(headers) - 1; i >= 0; i-- {
		hops := strings.Split(headers[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			ip := parseIP(strings.TrimSpace(hops[j]))
			if !ip.IsValid() {
				return client
			}
			client = ip
			if !isTrusted(ip, trusted) {
				return client
			}
		}
	}
	return client
}

// parseIP parses an address with or without a port, unmapped and without
// a zone; the zero Addr when it is none.
func parseIP(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
