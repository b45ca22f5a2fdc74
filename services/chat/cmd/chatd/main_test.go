package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	patterns := filepath.Join(t.TempDir(), "banned.txt")
	if err := os.WriteFile(patterns, []byte("# words\nbad\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badPatterns := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(badPatterns, []byte("(\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr bool
	}{
		{"env config", map[string]string{"CHAT_ADDR": "127.0.0.1:0", "DATA_DIR": dir, "CHAT_EVENT_RETENTION": "10", "LOG_LEVEL": "debug"}, nil, false},
		{"flags override env", map[string]string{"CHAT_ADDR": "bad address"}, []string{"-chat-addr", "127.0.0.1:0", "-data-dir", dir}, false},
		{"retention, rate limit and patterns", map[string]string{
			"CHAT_ADDR": "127.0.0.1:0", "DATA_DIR": dir, "CHAT_RATE_LIMIT": "0.5", "CHAT_RATE_BURST": "3",
			"CHAT_RETENTION_MESSAGES": "0", "CHAT_RETENTION_AGE": "24h", "CHAT_COMPACT_INTERVAL": "5m", "CHAT_BANNED_PATTERNS_FILE": patterns,
		}, nil, false},
		{"bad number", map[string]string{"CHAT_DEFAULT_MAX_MEMBERS": "many", "DATA_DIR": dir}, nil, true},
		{"bad rate", map[string]string{"CHAT_ADDR": "127.0.0.1:0", "CHAT_RATE_LIMIT": "fast", "DATA_DIR": dir}, nil, true},
		{"negative rate flag", map[string]string{"CHAT_ADDR": "127.0.0.1:0", "DATA_DIR": dir}, []string{"-chat-rate-limit", "-1"}, true},
		{"bad pattern file", map[string]string{"CHAT_ADDR": "127.0.0.1:0", "CHAT_BANNED_PATTERNS_FILE": badPatterns, "DATA_DIR": dir}, nil, true},
		{"missing pattern file", map[string]string{"CHAT_ADDR": "127.0.0.1:0", "CHAT_BANNED_PATTERNS_FILE": patterns + ".none", "DATA_DIR": dir}, nil, true},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud", "DATA_DIR": dir}, nil, true},
		{"unknown flag", nil, []string{"-nope"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // serve, then shut down at once
			err := run(ctx, tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("run(%v, env %v) = %v, want error %v", tt.args, tt.env, err, tt.wantErr)
			}
			if !tt.wantErr {
				if _, err := os.Stat(filepath.Join(dir, "chat.db")); err != nil {
					t.Errorf("run(%v, env %v) left no chat.db: %v", tt.args, tt.env, err)
				}
			}
		})
	}
}
