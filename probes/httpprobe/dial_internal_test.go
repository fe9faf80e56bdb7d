package httpprobe

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/config"
)

// TestDialRefusesPrivate: after a redirect under deny_private_redirects, a
// dial refuses a private address once it is resolved, so a name that
// looked public when the redirect was checked cannot reach a private
// address when dialled; the proxy a redirect goes through is not checked.
func TestDialRefusesPrivate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name     string
		deny     bool
		redirect *redirectTo
		addr     string
		refused  string // the start of the error; "": the dial connects
	}{
		{"a name resolving to 127.0.0.1 when dialled", true,
			&redirectTo{url: "http://rebound.example/", host: "rebound.example"}, addr,
			"redirect to http://rebound.example/ refused: rebound.example resolves to 127.0.0.1, a loopback address (deny_private_redirects)"},
		{"localhost", true, &redirectTo{url: "http://localhost:" + port + "/", host: "localhost"}, "localhost:" + port,
			"redirect to http://localhost:" + port + "/ refused: localhost resolves to "},
		{"before any redirect", true, nil, addr, ""},
		{"the proxy of the redirect", true, &redirectTo{url: "http://rebound.example/", host: "rebound.example", proxyAddr: addr}, addr, ""},
		{"without deny_private_redirects", false, &redirectTo{url: "http://rebound.example/", host: "rebound.example"}, addr, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{ctx: t.Context(), denyPrivate: tt.deny}
			r.redirect.Store(tt.redirect)
			conn, err := dialForRun(withRun(t.Context(), r), ipDial(config.IPAny, true), "tcp", tt.addr)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("dial: %v; want a connection", err)
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("dial connected; want it refused")
			}
			var refused *refusedRedirect
			if !errors.As(err, &refused) || !strings.HasPrefix(refused.Error(), tt.refused) {
				t.Errorf("dial: %v; want a refused redirect starting %q", err, tt.refused)
			}
		})
	}
}

func TestPrivateKind(t *testing.T) {
	tests := []struct {
		addr, kind string
	}{
		{"127.0.0.1", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"fd00:ec2::254", "private"},
		{"100.64.0.1", "shared (carrier-grade NAT)"},
		{"100.100.100.200", "shared (carrier-grade NAT)"},
		{"100.127.255.254", "shared (carrier-grade NAT)"},
		{"::ffff:100.100.100.200", "shared (carrier-grade NAT)"},
		{"100.63.255.255", ""},
		{"100.128.0.1", ""},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"93.184.215.14", ""},
		{"172.32.0.1", ""},
		{"2606:4700::1111", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := privateKind(netip.MustParseAddr(tt.addr)); got != tt.kind {
				t.Errorf("privateKind(%s) = %q; want %q", tt.addr, got, tt.kind)
			}
		})
	}
}
