package auth

import "switchboard.dev/platform/envflag"

// RegisterFlags defines the service's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. DataDir is left to the
// binary: the standalone shares one data folder between services.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "auth-addr", "AUTH_ADDR", DefaultAddr, "gRPC address of the auth service")
	s.String(&c.Algo, "jwt-algo", "JWT_ALGO", DefaultAlgo, "JWT algorithm: HS256|HS384|HS512|RS256|RS384|RS512|ES256|ES384|ES512")
	s.Bytes(&c.Secret, "jwt-secret", "JWT_SECRET", "HMAC secret, raw bytes (prefer the environment: flags are visible in ps)")
	s.String(&c.PublicKeyPath, "jwt-public-key", "JWT_PUBLIC_KEY", "", "PEM public key file for RS and ES algorithms")
	s.Strings(&c.Issuers, "jwt-issuers", "JWT_ISSUERS", nil, "accepted iss values; empty accepts any")
	s.Duration(&c.Leeway, "jwt-leeway", "JWT_LEEWAY", 0, "clock skew tolerated on exp and nbf")
	s.Int(&c.MaxTokenBytes, "jwt-max-token-bytes", "JWT_MAX_TOKEN_BYTES", DefaultMaxTokenBytes, "longest token accepted")
	s.Duration(&c.UserRevocationTTL, "auth-user-revocation-ttl", "AUTH_USER_REVOCATION_TTL", DefaultUserRevocationTTL, "how long a user revocation lasts: at least the backend's refresh_ttl plus ttl")
	s.Int(&c.WatchBuffer, "auth-watch-buffer", "AUTH_WATCH_BUFFER", DefaultWatchBuffer, "live revocations a WatchRevocations stream may have pending before it is cut")
}
