package config

// GRPC asks a server's grpc.health.v1 Health service (probes[].grpc).
type GRPC struct {
	Address string `yaml:"address"`
	// Service is the name asked about; empty asks about the server as a
	// whole.
	Service    string            `yaml:"service"`
	TLS        ClientTLS         `yaml:"tls"`
	Metadata   map[string]string `yaml:"metadata"`
	IPProtocol IPProtocol        `yaml:"ip_protocol"`
	Assert     []Expr            `yaml:"assert"`
	DegradedIf []Expr            `yaml:"degraded_if"`
}

func (g *GRPC) check(d *decoder, x exprs, path string) {
	checkAddress(d, path+".address", g.Address, "orders.internal:9090")
	if g.TLS.Enabled {
		g.TLS.TLS.check(d, path+".tls")
	}
	checkHeaders(d, path+".metadata", g.Metadata)
	if g.IPProtocol == "" {
		g.IPProtocol = IPAny
	}
	x.compile(d, path, g.Assert, g.DegradedIf)
}
