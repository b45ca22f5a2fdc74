package auth

import (
	"io"
	"testing"
	"time"

	"switchboard.dev/platform/envflag"
)

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantTTL time.Duration
		wantBuf int
	}{
		{"defaults", nil, nil, DefaultUserRevocationTTL, DefaultWatchBuffer},
		{"env", nil, map[string]string{"AUTH_USER_REVOCATION_TTL": "721h", "AUTH_WATCH_BUFFER": "64"}, 721 * time.Hour, 64},
		{"flags over env", []string{"-auth-user-revocation-ttl", "2h", "-auth-watch-buffer", "8"},
			map[string]string{"AUTH_USER_REVOCATION_TTL": "721h", "AUTH_WATCH_BUFFER": "64"}, 2 * time.Hour, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			s := envflag.New("authd", io.Discard, func(k string) string { return tt.env[k] })
			c.RegisterFlags(s)
			if err := s.Parse(tt.args); err != nil {
				t.Fatalf("Parse(%v) with env %v error = %v", tt.args, tt.env, err)
			}
			if c.UserRevocationTTL != tt.wantTTL || c.WatchBuffer != tt.wantBuf {
				t.Errorf("Parse(%v) with env %v = UserRevocationTTL %v WatchBuffer %d; want %v %d",
					tt.args, tt.env, c.UserRevocationTTL, c.WatchBuffer, tt.wantTTL, tt.wantBuf)
			}
		})
	}
	if DefaultUserRevocationTTL != 14*24*time.Hour+time.Hour {
		t.Errorf("DefaultUserRevocationTTL = %v, want jwt-auth's refresh_ttl of 14 days plus its ttl of 60 minutes", DefaultUserRevocationTTL)
	}
}
