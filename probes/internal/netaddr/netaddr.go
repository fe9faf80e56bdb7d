// Package netaddr is how the probe kinds honour ip_protocol: the network
// a dial or a lookup uses for it, and a host resolved to one IP address
// of its family, as blackbox_exporter resolves a target.
package netaddr

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/lookout-dev/lookout/config"
)

// Network is base ("tcp", "udp", "ip") for ip_protocol ip: base itself
// for either family, else base and 4 or 6 ("tcp4", "ip6").
func Network(base string, ip config.IPProtocol) string {
	switch ip {
	case config.IP4:
		return base + "4"
	case config.IP6:
		return base + "6"
	}
	return base
}

// Wording is how a probe's reasons speak of the host it resolves, in its
// kind's words.
type Wording struct {
	// Literal names an IP address of the other family: "Literal is an
	// IPv6 address, but ip_protocol is ip4".
	Literal string
	// Lookup names a host name that did not resolve: "resolve Lookup
	// (ip4): " and Reason's wording of the lookup's error.
	Lookup string
	Reason func(context.Context, error) string
}

// Host is a host resolved to one IP address.
type Host struct {
	IP netip.Addr
	// Named is whether the host is a name, looked up, rather than an IP
	// address, taken as it is.
	Named bool
	// Lookup is how long looking the name up took; zero for an IP
	// address.
	Lookup time.Duration
}

// Resolve returns host as one IP address of ip_protocol ip: an IP address
// as it is, unless it is of the other family; else the first address r
// finds for the name (r: net.DefaultResolver but in tests), timed. Its
// errors are worded by w.
func Resolve(ctx context.Context, r *net.Resolver, ip config.IPProtocol, host string, w Wording) (Host, error) {
	if addr, err := netip.ParseAddr(host); err == nil {
		switch addr = addr.Unmap(); {
		case ip == config.IP4 && !addr.Is4():
			return Host{}, fmt.Errorf("%s is an IPv6 address, but ip_protocol is ip4", w.Literal)
		case ip == config.IP6 && addr.Is4():
			return Host{}, fmt.Errorf("%s is an IPv4 address, but ip_protocol is ip6", w.Literal)
		}
		return Host{IP: addr}, nil
	}
	network := Network("ip", ip)
	start := time.Now()
	addrs, err := r.LookupNetIP(ctx, network, host)
	h := Host{Named: true, Lookup: time.Since(start)}
	if err != nil {
		return h, fmt.Errorf("resolve %s (%s): %s", w.Lookup, network, w.Reason(ctx, err))
	}
	h.IP = addrs[0].Unmap()
	return h, nil
}
