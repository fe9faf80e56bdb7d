package webvitals

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// ipLimiter is a token bucket per client, in a table of at most max
// clients that forgets the least recently seen one. An evicted client comes
// back with a full bucket: the table bounds memory, not a determined
// attacker with more addresses than the table holds.
//
// golang.org/x/time/rate would serve too, but a rate.Limiter carries a mutex
// and more; a bucket here is two words, and the table's lock covers it.
type ipLimiter struct {
	rate  float64 // tokens per second
	burst float64

	mu    sync.Mutex
	table *lru[netip.Addr, bucket]
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newIPLimiter(rate float64, burst, maxIPs int) *ipLimiter {
	return &ipLimiter{rate: rate, burst: float64(burst), table: newLRU[netip.Addr, bucket](maxIPs)}
}

// allow takes a token from client's bucket, reporting whether there was one.
func (l *ipLimiter) allow(client netip.Addr, now time.Time) bool {
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

func (l *ipLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.table.len()
}

// clientKey is the limiter's key for a request's RemoteAddr: the IP, or for
// IPv6 its /64, since one host commonly holds a whole /64 and could rotate
// through it. X-Forwarded-For is not read: behind a reverse proxy every
// beacon shares the proxy's bucket, which is safe, where trusting the header
// would let any client choose its own bucket. An unparsable address yields
// the zero Addr, one bucket shared by all such requests.
func clientKey(remoteAddr string) netip.Addr {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
