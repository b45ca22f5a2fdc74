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
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr bool
	}{
		{"env config", map[string]string{"SIGNALING_ADDR": "127.0.0.1:0", "DATA_DIR": dir, "CHAT_ADDR": "127.0.0.1:1",
			"SIGNALING_EDGE_LEASE": "3s", "STUN_URLS": "stun:127.0.0.1:3478", "TURN_SECRET": "s", "LOG_LEVEL": "debug"}, nil, false},
		{"flags override env", map[string]string{"SIGNALING_ADDR": "bad address"}, []string{"-signaling-addr", "127.0.0.1:0", "-data-dir", dir, "-chat-addr", "127.0.0.1:1"}, false},
		{"bad duration", map[string]string{"SIGNALING_EDGE_LEASE": "long", "DATA_DIR": dir}, nil, true},
		{"negative lease", map[string]string{"SIGNALING_ADDR": "127.0.0.1:0", "SIGNALING_EDGE_LEASE": "-1s", "DATA_DIR": dir}, nil, true},
		{"ceiling of one", map[string]string{"SIGNALING_ADDR": "127.0.0.1:0", "SIGNALING_MAX_PARTICIPANTS": "1", "DATA_DIR": dir}, nil, true},
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
				if _, err := os.Stat(filepath.Join(dir, "signaling.db")); err != nil {
					t.Errorf("run(%v, env %v) left no signaling.db: %v", tt.args, tt.env, err)
				}
			}
		})
	}
}
