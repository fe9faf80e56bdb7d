package httpprobe

import (
	"context"
	"crypto/tls"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"

	"github.com/lookout-dev/lookout/config"
)

// run is what the transport's dialer must know of the probe run a
// request belongs to. net/http dials on goroutines of its own, with a
// context that keeps the request's values but not its cancellation (so a
// later request could use the connection): without the run's context
// carried as a value, a dial or TLS handshake to a target that never
// answers would outlive its run for ever. This is why a context sits in a
// struct here; the struct lives exactly as long as the run.
type run struct {
	ctx         context.Context
	denyPrivate bool                       // deny_private_redirects
	redirect    atomic.Pointer[redirectTo] // the redirect being followed; nil before the first
}

type runKey struct{}

// withRun returns ctx carrying r, for the dials of the requests made with it.
func withRun(ctx context.Context, r *run) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

func runOf(ctx context.Context) *run {
	r, _ := ctx.Value(runKey{}).(*run)
	return r
}

// dialFunc dials addr with d.
type dialFunc func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error)

// dialForRun dials addr for the run the request's context carries, so
// that nothing of a run outlives it although net/http dials apart from
// the request:
//   - the dial has the run's deadline and stops when the run ends;
//   - a connection the run never received (see handedOver) is closed when
//     the run ends, which also ends a TLS handshake or proxy CONNECT still
//     going on it; one that finished after the run ended is not kept for
//     later runs either;
//   - after a redirect under deny_private_redirects, an address that is
//     not public is refused once resolved, before connecting.
//
// A dial outside a run (no run in ctx) is a plain dial.
func dialForRun(ctx context.Context, dial dialFunc, network, addr string) (net.Conn, error) {
	var d net.Dialer
	r := runOf(ctx)
	if r == nil {
		return dial(ctx, &d, network, addr)
	}
	if to := r.redirect.Load(); r.denyPrivate && to != nil && addr != to.proxyAddr {
		d.ControlContext = to.refusePrivate
	}
	var dctx context.Context
	var cancel context.CancelFunc
	if deadline, ok := r.ctx.Deadline(); ok {
		dctx, cancel = context.WithDeadline(ctx, deadline) // the dialer splits it between addresses
	} else {
		dctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	c := &runConn{}
	c.release = context.AfterFunc(r.ctx, func() {
		cancel()
		c.runEnded()
	})
	conn, err := dial(dctx, &d, network, addr)
	if err != nil {
		c.release()
		return nil, err
	}
	if !c.set(conn) {
		conn.Close()
		return nil, context.Cause(r.ctx)
	}
	return c, nil
}

// runConn is a connection dialled for a run, closed when the run ends
// unless a request received it first.
type runConn struct {
	net.Conn             // set once dialled
	release  func() bool // stops the close at the run's end
	mu       sync.Mutex  // guards Conn's setting against ended
	ended    bool        // the run ended
}

// set sets the dialled connection, unless the run ended meanwhile.
func (c *runConn) set(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.Conn = conn
	return true
}

// runEnded closes the connection, if it was dialled yet.
func (c *runConn) runEnded() {
	c.mu.Lock()
	conn := c.Conn
	c.ended = true
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// handedOver keeps the connection a request received open past the end
// of the run it was dialled for: it now belongs to the transport's pool.
// The tracer calls it from GotConn.
func handedOver(info httptrace.GotConnInfo) {
	conn := info.Conn
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if c, ok := conn.(*runConn); ok {
		c.release()
	}
}

// ipDial honours ip_protocol: dial the preferred family first and, when
// fallback is on, the other one if that fails.
func ipDial(proto config.IPProtocol, fallback bool) dialFunc {
	var first, second string
	switch proto {
	case config.IP4:
		first, second = "tcp4", "tcp6"
	case config.IP6:
		first, second = "tcp6", "tcp4"
	default:
		return func(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	if !fallback {
		second = ""
	}
	return func(ctx context.Context, d *net.Dialer, _, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, first, addr)
		if err != nil && second != "" && ctx.Err() == nil {
			return d.DialContext(ctx, second, addr)
		}
		return conn, err
	}
}
