package presence

import (
	"io"
	"testing"
	"time"

	"switchboard.dev/platform/envflag"
)

func TestRegisterFlags(t *testing.T) {
	defaults := Config{Addr: DefaultAddr, OfflineGrace: DefaultOfflineGrace, EdgeLease: DefaultEdgeLease, RPCTimeout: DefaultRPCTimeout,
		EventRetention: DefaultEventRetention, SubscriberBuffer: DefaultSubscriberBuffer}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    Config
		wantErr bool
	}{
		{"defaults", nil, nil, defaults, false},
		{"environment", map[string]string{
			"PRESENCE_ADDR": "0.0.0.0:1", "PRESENCE_OFFLINE_GRACE": "2s", "PRESENCE_EDGE_LEASE": "30s", "PRESENCE_RPC_TIMEOUT": "1s",
			"PRESENCE_EVENT_RETENTION": "50", "PRESENCE_SUBSCRIBER_BUFFER": "7",
		}, nil, Config{Addr: "0.0.0.0:1", OfflineGrace: 2 * time.Second, EdgeLease: 30 * time.Second, RPCTimeout: time.Second, EventRetention: 50, SubscriberBuffer: 7}, false},
		{"flags override", map[string]string{"PRESENCE_OFFLINE_GRACE": "2s"}, []string{"-presence-offline-grace", "3s", "-presence-edge-lease", "1m"},
			func() Config { c := defaults; c.OfflineGrace, c.EdgeLease = 3*time.Second, time.Minute; return c }(), false},
		{"malformed grace", map[string]string{"PRESENCE_OFFLINE_GRACE": "soon"}, nil, Config{}, true},
		{"malformed retention", map[string]string{"PRESENCE_EVENT_RETENTION": "many"}, nil, Config{}, true},
		{"malformed lease flag", nil, []string{"-presence-edge-lease", "10"}, Config{}, true},
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
			if c.Addr != tt.want.Addr || c.OfflineGrace != tt.want.OfflineGrace || c.EdgeLease != tt.want.EdgeLease || c.RPCTimeout != tt.want.RPCTimeout ||
				c.EventRetention != tt.want.EventRetention || c.SubscriberBuffer != tt.want.SubscriberBuffer {
				t.Errorf("RegisterFlags, Parse(%v) with env %v = %+v, want %+v", tt.args, tt.env, c, tt.want)
			}
		})
	}
}
