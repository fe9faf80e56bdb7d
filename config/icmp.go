package config

// ICMP pings a host (probes[].icmp).
type ICMP struct {
	Host        string     `yaml:"host"`
	Count       int        `yaml:"count"` // echo requests per run; default DefaultICMPCount
	PayloadSize int        `yaml:"payload_size"`
	IPProtocol  IPProtocol `yaml:"ip_protocol"`
	Assert      []Expr     `yaml:"assert"`
	DegradedIf  []Expr     `yaml:"degraded_if"`
}

// Echo requests of one run of an icmp probe.
const (
	DefaultICMPCount = 1
	MaxICMPCount     = 100
)

func (i *ICMP) check(d *decoder, x exprs, path string) {
	if i.Host == "" {
		d.errorAt(path+".host", "missing; want a host name or address to ping, like 10.0.0.1")
	}
	switch {
	case i.Count == 0 && !d.has(path+".count"):
		i.Count = DefaultICMPCount
	case i.Count < 1 || i.Count > MaxICMPCount:
		d.errorAt(path+".count", "%d is not between 1 and %d; want how many echo requests a run sends", i.Count, MaxICMPCount)
	}
	if i.PayloadSize < 0 || i.PayloadSize > 65000 {
		d.errorAt(path+".payload_size", "%d is not between 0 and 65000 bytes", i.PayloadSize)
	}
	if i.IPProtocol == "" {
		i.IPProtocol = IPAny
	}
	x.compile(d, path, i.Assert, i.DegradedIf)
}
