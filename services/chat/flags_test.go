package chat

import (
	"io"
	"testing"
	"time"

	"switchboard.dev/platform/envflag"
)

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    Config
		wantErr bool
	}{
		{"defaults", nil, nil, Config{RateLimit: DefaultRateLimit, RateBurst: DefaultRateBurst, RetentionMessages: DefaultRetentionMessages, CompactInterval: DefaultCompactInterval, DedupWindow: 10 * time.Minute}, false},
		{"environment", map[string]string{
			"CHAT_RATE_LIMIT": "2.5", "CHAT_RATE_BURST": "7", "CHAT_BANNED_PATTERNS_FILE": "/etc/banned",
			"CHAT_RETENTION_MESSAGES": "0", "CHAT_RETENTION_AGE": "720h", "CHAT_COMPACT_INTERVAL": "30s", "CHAT_DEDUP_WINDOW": "1h",
		}, nil, Config{RateLimit: 2.5, RateBurst: 7, BannedPatternsFile: "/etc/banned", RetentionMessages: 0, RetentionAge: 720 * time.Hour, CompactInterval: 30 * time.Second, DedupWindow: time.Hour}, false},
		{"flags override", map[string]string{"CHAT_RATE_LIMIT": "2.5", "CHAT_RETENTION_MESSAGES": "5"},
			[]string{"-chat-rate-limit", "0", "-chat-retention-messages", "9000000000"},
			Config{RateLimit: 0, RateBurst: DefaultRateBurst, RetentionMessages: 9000000000, CompactInterval: DefaultCompactInterval, DedupWindow: 10 * time.Minute}, false},
		{"malformed rate in the environment", map[string]string{"CHAT_RATE_LIMIT": "fast"}, nil, Config{}, true},
		{"malformed retention in the environment", map[string]string{"CHAT_RETENTION_MESSAGES": "1e3"}, nil, Config{}, true},
		{"malformed rate flag", nil, []string{"-chat-rate-limit", "fast"}, Config{}, true},
		{"malformed age", map[string]string{"CHAT_RETENTION_AGE": "forever"}, nil, Config{}, true},
		{"malformed dedup window", map[string]string{"CHAT_DEDUP_WINDOW": "long"}, nil, Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			s := envflag.New("test", io.Discard, func(k string) string { return tt.env[k] })
			c.RegisterFlags(s)
			err := s.Parse(tt.args)
			if tt.wantErr {
				if err == nil {
					t.Errorf("RegisterFlags, Parse(%v) with env %v: no error, want one", tt.args, tt.env)
				}
				return
			}
			if err != nil {
				t.Fatalf("RegisterFlags, Parse(%v) with env %v = %v", tt.args, tt.env, err)
			}
			got := Config{RateLimit: c.RateLimit, RateBurst: c.RateBurst, BannedPatternsFile: c.BannedPatternsFile,
				RetentionMessages: c.RetentionMessages, RetentionAge: c.RetentionAge, CompactInterval: c.CompactInterval, DedupWindow: c.DedupWindow}
			if got.RateLimit != tt.want.RateLimit || got.RateBurst != tt.want.RateBurst || got.BannedPatternsFile != tt.want.BannedPatternsFile ||
				got.RetentionMessages != tt.want.RetentionMessages || got.RetentionAge != tt.want.RetentionAge || got.CompactInterval != tt.want.CompactInterval ||
				got.DedupWindow != tt.want.DedupWindow {
				t.Errorf("RegisterFlags, Parse(%v) with env %v = %+v, want %+v", tt.args, tt.env, got, tt.want)
			}
		})
	}
}
