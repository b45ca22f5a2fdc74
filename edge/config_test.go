package edge

import (
	"io"
	"strings"
	"testing"
	"time"

	"switchboard.dev/platform/envflag"
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
		{"PresenceAddr", got.PresenceAddr, "127.0.0.1:9103"},
		{"SignalingAddr", got.SignalingAddr, "127.0.0.1:9104"},
		{"MaxSignalBytes", got.MaxSignalBytes, 64 << 10},
		{"SignalRate", got.SignalRate, 20.0},
		{"SignalBurst", got.SignalBurst, 100},
		{"MaxFrameBytes", got.MaxFrameBytes, 1 << 20},
		{"MaxDepth", got.MaxDepth, 32},
		{"AuthTimeout", got.AuthTimeout, 10 * time.Second},
		{"MaxConnsPerIP", got.MaxConnsPerIP, 0},
		{"MaxUnauthenticated", got.MaxUnauthenticated, 10000},
		{"IdleTimeout", got.IdleTimeout, 90 * time.Second},
		{"WriteTimeout", got.WriteTimeout, 10 * time.Second},
		{"OutboundQueueMessages", got.OutboundQueueMessages, 4096},
		{"OutboundQueueBytes", got.OutboundQueueBytes, 8 << 20},
		{"RPCTimeout", got.RPCTimeout, 5 * time.Second},
		{"HistoryLimit", got.HistoryLimit, 100},
		{"HeartbeatInterval", got.HeartbeatInterval, 30 * time.Second},
		{"MaxInflatedBytes", got.MaxInflatedBytes, 1 << 20},
		{"CompressThreshold", got.CompressThreshold, 4096},
		{"BatchWindow", got.BatchWindow, 10 * time.Millisecond},
		{"BatchMax", got.BatchMax, 64},
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
	for name, c := range map[string]Config{
		"IdleTimeout":       {IdleTimeout: -time.Second},
		"MaxInflatedBytes":  {MaxInflatedBytes: -1},
		"CompressThreshold": {CompressThreshold: -1},
		"BatchWindow":       {BatchWindow: -time.Millisecond},
		"MaxSignalBytes":    {MaxSignalBytes: -1},
		"SignalRate":        {SignalRate: -1},
		"BatchMax":          {BatchMax: -1},
		"MaxConnsPerIP":     {MaxConnsPerIP: -1},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("withDefaults with a negative %s: no error", name)
		}
	}
	// The inflated limit follows a configured frame limit.
	if c, _ := (Config{MaxFrameBytes: 2048}).withDefaults(); c.MaxInflatedBytes != 2048 {
		t.Errorf("MaxInflatedBytes with MaxFrameBytes 2048 = %d, want 2048", c.MaxInflatedBytes)
	}
}

func TestRegisterFlags(t *testing.T) {
	env := map[string]string{
		"EDGE_MAX_INFLATED_BYTES": "5000",
		"EDGE_COMPRESS_THRESHOLD": "100",
		"EDGE_BATCH_WINDOW":       "25ms",
		"EDGE_BATCH_MAX":          "8",
		"EDGE_HISTORY_LIMIT":      "40",
		"EDGE_HEARTBEAT_INTERVAL": "15s",
		"EDGE_MAX_CONNS_PER_IP":   "50",
	}
	var c Config
	fs := envflag.New("edged", io.Discard, func(k string) string { return env[k] })
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-edge-batch-max=16", "-edge-max-unauthenticated=-1"}); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Config{Addr: DefaultAddr, MaxFrameBytes: DefaultMaxFrameBytes, MaxDepth: DefaultMaxDepth,
		MaxSignalBytes: DefaultMaxSignalBytes, SignalRate: DefaultSignalRate, SignalBurst: DefaultSignalBurst,
		AuthTimeout: DefaultAuthTimeout, IdleTimeout: DefaultIdleTimeout, WriteTimeout: DefaultWriteTimeout,
		OutboundQueueMessages: DefaultOutboundQueueMessages, OutboundQueueBytes: DefaultOutboundQueueBytes,
		RPCTimeout: DefaultRPCTimeout, HistoryLimit: 40, HeartbeatInterval: 15 * time.Second,
		MaxInflatedBytes: 5000, CompressThreshold: 100, BatchWindow: 25 * time.Millisecond, BatchMax: 16,
		MaxConnsPerIP: 50, MaxUnauthenticated: -1}
	if c != want {
		t.Errorf("RegisterFlags from env %v, -edge-batch-max=16 and -edge-max-unauthenticated=-1:\n got %+v\nwant %+v", env, c, want)
	}
}
