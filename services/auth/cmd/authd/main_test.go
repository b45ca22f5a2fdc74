package main

import (
	"context"
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr bool
	}{
		{"env config", nil, map[string]string{
			"AUTH_ADDR": "127.0.0.1:0", "DATA_DIR": dataDir, "JWT_SECRET": "secret",
			"JWT_ISSUERS": "https://a, https://b", "JWT_LEEWAY": "5s", "JWT_MAX_TOKEN_BYTES": "4096", "LOG_LEVEL": "debug",
			"AUTH_USER_REVOCATION_TTL": "24h", "AUTH_WATCH_BUFFER": "16",
		}, false},
		{"env algo needs a key", []string{"-auth-addr", "127.0.0.1:0", "-jwt-secret", "s", "-data-dir", dataDir}, map[string]string{"JWT_ALGO": "RS256"}, true},
		{"flag config", []string{"-auth-addr", "127.0.0.1:0", "-jwt-secret", "s", "-data-dir", dataDir, "-jwt-algo", "HS512"}, nil, false},
		{"no secret", []string{"-auth-addr", "127.0.0.1:0", "-data-dir", dataDir}, nil, true},
		{"bad leeway", nil, map[string]string{"JWT_LEEWAY": "soon"}, true},
		{"bad max bytes", nil, map[string]string{"JWT_MAX_TOKEN_BYTES": "big"}, true},
		{"bad user revocation ttl", nil, map[string]string{"AUTH_USER_REVOCATION_TTL": "two weeks"}, true},
		{"negative user revocation ttl", []string{"-auth-addr", "127.0.0.1:0", "-jwt-secret", "s", "-data-dir", dataDir, "-auth-user-revocation-ttl", "-1h"}, nil, true},
		{"bad watch buffer", nil, map[string]string{"AUTH_WATCH_BUFFER": "lots"}, true},
		{"bad log level", []string{"-log-level", "loud", "-jwt-secret", "s"}, nil, true},
		{"unknown flag", []string{"-nope"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A cancelled ctx: a valid config serves and returns nil at once.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := run(ctx, tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Errorf("run(%v, env %v) = %v, want error %v", tt.args, tt.env, err, tt.wantErr)
			}
		})
	}
}
