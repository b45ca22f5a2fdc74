package presence

import "switchboard.dev/platform/envflag"

// RegisterFlags defines the service's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. DataDir and ChatAddr
// are left to the binary: the standalone shares one data folder between
// services and gives the chat address it serves chat on.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "presence-addr", "PRESENCE_ADDR", DefaultAddr, "gRPC address of the presence service")
	s.Duration(&c.OfflineGrace, "presence-offline-grace", "PRESENCE_OFFLINE_GRACE", DefaultOfflineGrace, "how long a user stays online after their last session closed")
	s.Duration(&c.EdgeLease, "presence-edge-lease", "PRESENCE_EDGE_LEASE", DefaultEdgeLease, "how long an edge's sessions outlive its Subscribe stream")
	s.Duration(&c.RPCTimeout, "presence-rpc-timeout", "PRESENCE_RPC_TIMEOUT", DefaultRPCTimeout, "deadline of each call to the chat service")
	s.Int(&c.EventRetention, "presence-event-retention", "PRESENCE_EVENT_RETENTION", DefaultEventRetention, "newest events kept for Subscribe resumes")
	s.Int(&c.SubscriberBuffer, "presence-subscriber-buffer", "PRESENCE_SUBSCRIBER_BUFFER", DefaultSubscriberBuffer, "live events a Subscribe stream may have pending before it is cut as too slow")
}
