package edge

import "switchboard.dev/platform/envflag"

// RegisterFlags defines the edge's own flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. The addresses of the
// services it dials are left to the binary: the standalone knows them.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "edge-addr", "EDGE_ADDR", DefaultAddr, "TCP address clients connect to")
	s.String(&c.EdgeID, "edge-id", "EDGE_ID", "", "edge id (default hostname plus a random suffix)")
	s.String(&c.TLSCertFile, "edge-tls-cert", "EDGE_TLS_CERT", "", "PEM certificate (chain) to serve TLS with; with -edge-tls-key")
	s.String(&c.TLSKeyFile, "edge-tls-key", "EDGE_TLS_KEY", "", "PEM private key of the TLS certificate")
	s.Int(&c.MaxFrameBytes, "edge-max-frame-bytes", "EDGE_MAX_FRAME_BYTES", DefaultMaxFrameBytes, "longest envelope line")
	s.Int(&c.MaxDepth, "edge-max-depth", "EDGE_MAX_DEPTH", DefaultMaxDepth, "deepest JSON nesting")
	s.Duration(&c.AuthTimeout, "edge-auth-timeout", "EDGE_AUTH_TIMEOUT", DefaultAuthTimeout, "time a new connection has to send CONNECT")
	s.Int(&c.MaxConnsPerIP, "edge-max-conns-per-ip", "EDGE_MAX_CONNS_PER_IP", 0, "connections from one source address (0: no bound)")
	s.Int(&c.MaxUnauthenticated, "edge-max-unauthenticated", "EDGE_MAX_UNAUTHENTICATED", DefaultMaxUnauthenticated, "connections that have not sent a successful CONNECT (negative: no bound)")
	s.Duration(&c.IdleTimeout, "edge-idle-timeout", "EDGE_IDLE_TIMEOUT", DefaultIdleTimeout, "close sessions silent this long")
	s.Duration(&c.WriteTimeout, "edge-write-timeout", "EDGE_WRITE_TIMEOUT", DefaultWriteTimeout, "bound of each write to a client")
	s.Int(&c.OutboundQueueMessages, "edge-queue-messages", "EDGE_QUEUE_MESSAGES", DefaultOutboundQueueMessages, "envelopes queued per session before it is closed as too slow")
	s.Int(&c.OutboundQueueBytes, "edge-queue-bytes", "EDGE_QUEUE_BYTES", DefaultOutboundQueueBytes, "bytes queued per session before it is closed as too slow")
	s.Duration(&c.RPCTimeout, "edge-rpc-timeout", "EDGE_RPC_TIMEOUT", DefaultRPCTimeout, "deadline of every gRPC call")
	s.Int(&c.HistoryLimit, "edge-history-limit", "EDGE_HISTORY_LIMIT", DefaultHistoryLimit, "most messages of a JOIN_ROOM replay or a GET_MESSAGES page")
	s.Duration(&c.HeartbeatInterval, "edge-heartbeat-interval", "EDGE_HEARTBEAT_INTERVAL", DefaultHeartbeatInterval, "PING interval advertised to clients")
	s.Int(&c.MaxInflatedBytes, "edge-max-inflated-bytes", "EDGE_MAX_INFLATED_BYTES", 0, "largest inflated data of a compressed request (0: the max frame bytes)")
	s.Int(&c.CompressThreshold, "edge-compress-threshold", "EDGE_COMPRESS_THRESHOLD", DefaultCompressThreshold, "data bytes above which gzip sessions get compressed envelopes")
	s.Duration(&c.BatchWindow, "edge-batch-window", "EDGE_BATCH_WINDOW", DefaultBatchWindow, "longest a message waits to be coalesced for batch sessions")
	s.Int(&c.MaxSignalBytes, "edge-max-signal-bytes", "EDGE_MAX_SIGNAL_BYTES", DefaultMaxSignalBytes, "largest sdp or candidate object of a signaling request")
	s.Float64(&c.SignalRate, "edge-signal-rate", "EDGE_SIGNAL_RATE", DefaultSignalRate, "video-room requests a session may make per second")
	s.Int(&c.SignalBurst, "edge-signal-burst", "EDGE_SIGNAL_BURST", DefaultSignalBurst, "burst of a session's video-room requests")
	s.Int(&c.BatchMax, "edge-batch-max", "EDGE_BATCH_MAX", DefaultBatchMax, "most messages in one coalesced BATCH_MESSAGES")
	s.Bool(&c.BlockingIO, "edge-blocking-io", "EDGE_BLOCKING_IO", false, "a goroutine and blocking I/O per connection instead of epoll (TLS connections always have them)")
}
