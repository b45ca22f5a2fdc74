package edge

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatalf("Config{}.withDefaults() error = %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"Addr", got.Addr, ":12345"},
		{"AuthAddr", got.AuthAddr, "127.0.0.1:9101"},
		{"ChatAddr", got.ChatAddr, "127.0.0.1:9102"},
		{"MaxFrameBytes", got.MaxFrameBytes, 1 << 20},
		{"MaxDepth", got.MaxDepth, 32},
		{"AuthTimeout", got.AuthTimeout, 10 * time.Second},
		{"IdleTimeout", got.IdleTimeout, 90 * time.Second},
		{"WriteTimeout", got.WriteTimeout, 10 * time.Second},
		{"OutboundQueueMessages", got.OutboundQueueMessages, 4096},
		{"OutboundQueueBytes", got.OutboundQueueBytes, 8 << 20},
		{"RPCTimeout", got.RPCTimeout, 5 * time.Second},
		{"HistoryLimit", got.HistoryLimit, 100},
		{"HeartbeatInterval", got.HeartbeatInterval, 30 * time.Second},
	} {
		if tc.got != tc.want {
			t.Errorf("default %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !strings.Contains(got.EdgeID, "-") || got.Logger == nil {
		t.Errorf("default EdgeID = %q (want hostname-random), Logger nil = %v", got.EdgeID, got.Logger == nil)
	}
	other, _ := Config{}.withDefaults()
	if other.EdgeID == got.EdgeID {
		t.Errorf("two default edge ids are both %q, want a random suffix", got.EdgeID)
	}
	if _, err := (Config{IdleTimeout: -time.Second}).withDefaults(); err == nil {
		t.Errorf("withDefaults with a negative IdleTimeout: no error")
	}
}
