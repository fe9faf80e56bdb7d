package netaddr_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes/internal/netaddr"
)

func TestNetwork(t *testing.T) {
	tests := []struct {
		base string
		ip   config.IPProtocol
		want string
	}{
		{"tcp", config.IPAny, "tcp"},
		{"tcp", config.IP4, "tcp4"},
		{"udp", config.IP6, "udp6"},
		{"ip", config.IP4, "ip4"},
	}
	for _, tt := range tests {
		if got := netaddr.Network(tt.base, tt.ip); got != tt.want {
			t.Errorf("Network(%q, %s) = %q; want %q", tt.base, tt.ip, got, tt.want)
		}
	}
}

// TestResolve: an IP address is taken as it is unless of the other
// family, in the caller's words; a name is looked up, and a failed lookup
// is worded by the caller's reason. No lookup leaves this machine: the
// resolver's DNS server cannot be dialled.
func TestResolve(t *testing.T) {
	offline := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	w := netaddr.Wording{Literal: "host LITERAL", Lookup: "NAME", Reason: func(context.Context, error) string { return "REASON" }}
	tests := []struct {
		name, host string
		ip         config.IPProtocol
		want       string // the address; "" for an error
		err        string
	}{
		{"IPv4 address", "127.0.0.1", config.IPAny, "127.0.0.1", ""},
		{"IPv4 address, ip4", "127.0.0.1", config.IP4, "127.0.0.1", ""},
		{"IPv4-mapped address, ip4", "::ffff:127.0.0.1", config.IP4, "127.0.0.1", ""},
		{"IPv6 address, ip6", "::1", config.IP6, "::1", ""},
		{"IPv6 address, ip4", "::1", config.IP4, "", "host LITERAL is an IPv6 address, but ip_protocol is ip4"},
		{"IPv4 address, ip6", "127.0.0.1", config.IP6, "", "host LITERAL is an IPv4 address, but ip_protocol is ip6"},
		{"a name that does not resolve", "nosuch.invalid", config.IP4, "", "resolve NAME (ip4): REASON"},
		{"a name, either family", "nosuch.invalid", config.IPAny, "", "resolve NAME (ip): REASON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := netaddr.Resolve(t.Context(), offline, tt.ip, tt.host, w)
			named := net.ParseIP(tt.host) == nil
			switch {
			case tt.err != "" && (err == nil || err.Error() != tt.err):
				t.Errorf("error %v; want %q", err, tt.err)
			case tt.err == "" && (err != nil || h.IP.String() != tt.want):
				t.Errorf("%v, %v; want %s", h.IP, err, tt.want)
			case h.Named != named || named != (h.Lookup > 0):
				t.Errorf("named %v, lookup %s; want named %v, and a lookup time for a name only", h.Named, h.Lookup, named)
			}
		})
	}
}
