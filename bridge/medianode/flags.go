package medianode

import "switchboard.dev/platform/envflag"

// RegisterFlags defines the ICE flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. The bridge registers
// them too: they configure its in-process nodes and are passed on to the
// node processes it starts.
func (c *ICEConfig) RegisterFlags(s *envflag.Set) {
	s.Strings(&c.Interfaces, "media-ice-interfaces", "MEDIA_ICE_INTERFACES", nil, "network interfaces of the ICE candidates, loopback included when set (e.g. lo); empty means all but loopback")
	s.Int(&c.UDPPortMin, "media-udp-port-min", "MEDIA_UDP_PORT_MIN", 0, "lowest UDP port of the ICE candidates (0 with max 0: any)")
	s.Int(&c.UDPPortMax, "media-udp-port-max", "MEDIA_UDP_PORT_MAX", 0, "highest UDP port of the ICE candidates")
	s.Strings(&c.NAT1To1IPs, "media-nat-1to1-ips", "MEDIA_NAT_1TO1_IPS", nil, "public IPs announced instead of the host addresses behind a 1:1 NAT (IP or IP/localIP)")
}

// RegisterFlags defines the node's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "media-addr", "MEDIA_ADDR", DefaultAddr, "gRPC address of the media node")
	s.Int(&c.MaxSessions, "media-max-sessions", "MEDIA_MAX_SESSIONS", 0, "sessions the node accepts at once (0: no limit of its own)")
	c.ICE.RegisterFlags(s)
}
