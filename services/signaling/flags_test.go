package signaling

import (
	"io"
	"slices"
	"testing"
	"time"

	"switchboard.dev/platform/envflag"
)

func TestRegisterFlags(t *testing.T) {
	defaults := Config{Addr: DefaultAddr, EdgeLease: DefaultEdgeLease, EmptyRoomTimeout: DefaultEmptyRoomTimeout, MaxParticipants: DefaultMaxParticipants,
		MaxSignalBytes: DefaultMaxSignalBytes, RPCTimeout: DefaultRPCTimeout, EventRetention: DefaultEventRetention,
		SubscriberBuffer: DefaultSubscriberBuffer, TURNTTL: DefaultTURNTTL}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    Config
		wantErr bool
	}{
		{"defaults", nil, nil, defaults, false},
		{"environment", map[string]string{
			"SIGNALING_ADDR": "0.0.0.0:1", "SIGNALING_EDGE_LEASE": "30s", "SIGNALING_EMPTY_ROOM_TIMEOUT": "2m", "SIGNALING_MAX_PARTICIPANTS": "8",
			"SIGNALING_MAX_SIGNAL_BYTES": "1000", "SIGNALING_RPC_TIMEOUT": "1s", "SIGNALING_EVENT_RETENTION": "50", "SIGNALING_SUBSCRIBER_BUFFER": "7",
			"STUN_URLS": "stun:a:3478, stun:b:3478", "TURN_URLS": "turn:a:3478", "TURN_SECRET": "s3cret", "TURN_TTL": "1h",
			"TURN_USERNAME": "u", "TURN_CREDENTIAL": "p",
		}, nil, Config{Addr: "0.0.0.0:1", EdgeLease: 30 * time.Second, EmptyRoomTimeout: 2 * time.Minute, MaxParticipants: 8, MaxSignalBytes: 1000,
			RPCTimeout: time.Second, EventRetention: 50, SubscriberBuffer: 7, STUNURLs: []string{"stun:a:3478", "stun:b:3478"},
			TURNURLs: []string{"turn:a:3478"}, TURNSecret: []byte("s3cret"), TURNTTL: time.Hour, TURNUsername: "u", TURNCredential: "p"}, false},
		{"flags override", map[string]string{"SIGNALING_EDGE_LEASE": "30s", "TURN_SECRET": "env"}, []string{"-signaling-edge-lease", "1m", "-turn-secret", "flag"},
			func() Config { c := defaults; c.EdgeLease, c.TURNSecret = time.Minute, []byte("flag"); return c }(), false},
		{"malformed lease", map[string]string{"SIGNALING_EDGE_LEASE": "soon"}, nil, Config{}, true},
		{"malformed max", map[string]string{"SIGNALING_MAX_PARTICIPANTS": "many"}, nil, Config{}, true},
		{"malformed ttl flag", nil, []string{"-turn-ttl", "10"}, Config{}, true},
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
			w := tt.want
			if c.Addr != w.Addr || c.EdgeLease != w.EdgeLease || c.EmptyRoomTimeout != w.EmptyRoomTimeout || c.MaxParticipants != w.MaxParticipants ||
				c.MaxSignalBytes != w.MaxSignalBytes || c.RPCTimeout != w.RPCTimeout || c.EventRetention != w.EventRetention ||
				c.SubscriberBuffer != w.SubscriberBuffer || !slices.Equal(c.STUNURLs, w.STUNURLs) || !slices.Equal(c.TURNURLs, w.TURNURLs) ||
				string(c.TURNSecret) != string(w.TURNSecret) || c.TURNTTL != w.TURNTTL || c.TURNUsername != w.TURNUsername || c.TURNCredential != w.TURNCredential {
				t.Errorf("RegisterFlags, Parse(%v) with env %v = %+v, want %+v", tt.args, tt.env, c, w)
			}
		})
	}
}
