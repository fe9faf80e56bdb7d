package icmpprobe

import "net"

// SetResolver makes p look host names up with r.
func SetResolver(p *Prober, r *net.Resolver) { p.resolver = r }

var (
	DeniedReason = deniedReason
	Choose       = choose
)
