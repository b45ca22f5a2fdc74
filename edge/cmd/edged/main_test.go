package main

import (
	"context"
	"testing"
)

func TestRunRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"bad duration env", map[string]string{"EDGE_IDLE_TIMEOUT": "soon"}, nil},
		{"bad int env", map[string]string{"EDGE_QUEUE_BYTES": "lots"}, nil},
		{"bad batch window env", map[string]string{"EDGE_BATCH_WINDOW": "soon"}, nil},
		{"negative batch max flag", nil, []string{"-edge-batch-max=-1", "-edge-addr=127.0.0.1:0"}},
		{"negative inflated limit env", map[string]string{"EDGE_MAX_INFLATED_BYTES": "-5", "EDGE_ADDR": "127.0.0.1:0"}, nil},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, nil},
		{"negative limit flag", nil, []string{"-edge-max-depth=-1", "-edge-addr=127.0.0.1:0"}},
		{"unknown flag", nil, []string{"-nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // should it start, stop at once
			err := run(ctx, tc.args, func(k string) string { return tc.env[k] })
			if err == nil {
				t.Errorf("run(%v, env %v) = nil, want an error", tc.args, tc.env)
			}
		})
	}
}

func TestRunStartsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env := map[string]string{"EDGE_ADDR": "127.0.0.1:0", "AUTH_ADDR": "127.0.0.1:1", "CHAT_ADDR": "127.0.0.1:1", "PRESENCE_ADDR": "127.0.0.1:1", "LOG_LEVEL": "error"}
	if err := run(ctx, nil, func(k string) string { return env[k] }); err != nil {
		t.Errorf("run with a cancelled context = %v, want nil", err)
	}
}
