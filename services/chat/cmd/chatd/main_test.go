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
		{"env config", map[string]string{"CHAT_ADDR": "127.0.0.1:0", "DATA_DIR": dir, "CHAT_EVENT_RETENTION": "10", "LOG_LEVEL": "debug"}, nil, false},
		{"flags override env", map[string]string{"CHAT_ADDR": "bad address"}, []string{"-chat-addr", "127.0.0.1:0", "-data-dir", dir}, false},
		{"bad number", map[string]string{"CHAT_DEFAULT_MAX_MEMBERS": "many", "DATA_DIR": dir}, nil, true},
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
