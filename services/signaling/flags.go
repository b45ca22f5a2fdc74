package signaling

import "switchboard.dev/platform/envflag"

// RegisterFlags defines the service's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. DataDir and ChatAddr
// are left to the binary: the standalone shares one data folder between
// services and gives the chat address it serves chat on.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "signaling-addr", "SIGNALING_ADDR", DefaultAddr, "gRPC address of the signaling service")
	s.Duration(&c.EdgeLease, "signaling-edge-lease", "SIGNALING_EDGE_LEASE", DefaultEdgeLease, "how long an edge's video participants outlive its Subscribe stream")
	s.Duration(&c.EmptyRoomTimeout, "signaling-empty-room-timeout", "SIGNALING_EMPTY_ROOM_TIMEOUT", DefaultEmptyRoomTimeout, "how long a video room nobody joined stays open")
	s.Int(&c.MaxParticipants, "signaling-max-participants", "SIGNALING_MAX_PARTICIPANTS", DefaultMaxParticipants, "ceiling of a video room's max_participants (at least 2)")
	s.Int(&c.MaxSignalBytes, "signaling-max-signal-bytes", "SIGNALING_MAX_SIGNAL_BYTES", DefaultMaxSignalBytes, "largest relayed SDP or ICE candidate payload")
	s.Duration(&c.RPCTimeout, "signaling-rpc-timeout", "SIGNALING_RPC_TIMEOUT", DefaultRPCTimeout, "deadline of each call to the chat service")
	s.Int(&c.EventRetention, "signaling-event-retention", "SIGNALING_EVENT_RETENTION", DefaultEventRetention, "newest events kept for Subscribe resumes")
	s.Int(&c.SubscriberBuffer, "signaling-subscriber-buffer", "SIGNALING_SUBSCRIBER_BUFFER", DefaultSubscriberBuffer, "live events a Subscribe stream may have pending before it is cut as too slow")
	s.Strings(&c.STUNURLs, "stun-urls", "STUN_URLS", nil, "STUN server URLs handed to video participants (stun:host:port)")
	s.Strings(&c.TURNURLs, "turn-urls", "TURN_URLS", nil, "TURN server URLs handed to video participants (turn:host:port?transport=udp, turns:...)")
	s.Bytes(&c.TURNSecret, "turn-secret", "TURN_SECRET", "coturn static-auth-secret: per-user TURN REST credentials (prefer the environment: flags are visible in ps)")
	s.Duration(&c.TURNTTL, "turn-ttl", "TURN_TTL", DefaultTURNTTL, "lifetime of TURN REST credentials")
	s.String(&c.TURNUsername, "turn-username", "TURN_USERNAME", "", "static TURN username, used without a TURN secret")
	s.String(&c.TURNCredential, "turn-credential", "TURN_CREDENTIAL", "", "static TURN password, used without a TURN secret")
}
