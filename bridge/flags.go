package bridge

import "switchboard.dev/platform/envflag"

// RegisterFlags defines the bridge's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed, the nodes' ICE flags
// (MEDIA_*) included. AuthAddr is left to the binary: the standalone gives
// the address it serves auth on.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "bridge-addr", "BRIDGE_ADDR", DefaultAddr, "HTTP address of the bridge's /client WebSocket, /healthz and /metrics")
	s.String(&c.TLSCertFile, "bridge-tls-cert", "BRIDGE_TLS_CERT", "", "PEM certificate chain: serve wss:// (with -bridge-tls-key)")
	s.String(&c.TLSKeyFile, "bridge-tls-key", "BRIDGE_TLS_KEY", "", "PEM private key of -bridge-tls-cert")
	s.Strings(&c.AllowedOrigins, "bridge-allowed-origins", "BRIDGE_ALLOWED_ORIGINS", nil, "Origin host patterns browsers may connect from; empty accepts any")
	s.Duration(&c.AuthTimeout, "bridge-auth-timeout", "BRIDGE_AUTH_TIMEOUT", DefaultAuthTimeout, "time a connection has to send its CREDENTIAL")
	s.Duration(&c.RPCTimeout, "bridge-rpc-timeout", "BRIDGE_RPC_TIMEOUT", DefaultRPCTimeout, "deadline of each call to the auth service")
	s.Duration(&c.WriteTimeout, "bridge-write-timeout", "BRIDGE_WRITE_TIMEOUT", DefaultWriteTimeout, "deadline of each message written to a client")
	s.Int(&c.ReadLimit, "bridge-read-limit", "BRIDGE_READ_LIMIT", DefaultReadLimit, "largest client message in bytes")
	s.Int(&c.MaxSDPBytes, "bridge-max-sdp-bytes", "BRIDGE_MAX_SDP_BYTES", DefaultMaxSDPBytes, "largest offer SDP in bytes")
	s.Int(&c.MaxCandidates, "bridge-max-candidates", "BRIDGE_MAX_CANDIDATES", DefaultMaxCandidates, "client candidates that may wait for the node")
	s.String(&c.Provisioner, "bridge-provisioner", "BRIDGE_PROVISIONER", DefaultProvisioner, "how media nodes run: inprocess|process")
	s.String(&c.MediaNodePath, "bridge-medianode-path", "BRIDGE_MEDIANODE_PATH", DefaultMediaNodePath, "medianode binary of the process provisioner (path, or name in PATH)")
	s.Int(&c.MaxPoolSize, "bridge-max-pool-size", "BRIDGE_MAX_POOL_SIZE", DefaultMaxPoolSize, "most media nodes, stopped ones included")
	s.Int(&c.NodeCapacity, "bridge-node-capacity", "BRIDGE_NODE_CAPACITY", DefaultNodeCapacity, "sessions per media node")
	s.Int(&c.WarmNodes, "bridge-warm-nodes", "BRIDGE_WARM_NODES", DefaultWarmNodes, "idle media nodes kept ready")
	s.Duration(&c.NodeIdleTimeout, "bridge-node-idle-timeout", "BRIDGE_NODE_IDLE_TIMEOUT", DefaultNodeIdleTimeout, "idle time after which a media node is stopped (negative: never)")
	s.Duration(&c.HealthInterval, "bridge-health-interval", "BRIDGE_HEALTH_INTERVAL", DefaultHealthInterval, "period of the media nodes' health checks")
	s.Duration(&c.HealthTimeout, "bridge-health-timeout", "BRIDGE_HEALTH_TIMEOUT", DefaultHealthTimeout, "deadline of one health check")
	s.Int(&c.HealthFailures, "bridge-health-failures", "BRIDGE_HEALTH_FAILURES", DefaultHealthFailures, "failed health checks in a row that take a node out of the pool")
	s.Duration(&c.ProvisionTimeout, "bridge-provision-timeout", "BRIDGE_PROVISION_TIMEOUT", DefaultProvisionTimeout, "deadline of making, starting or stopping a media node")
	c.Media.RegisterFlags(s)
}
