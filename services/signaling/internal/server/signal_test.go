package server

import (
	"testing"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

func TestCheckSignal(t *testing.T) {
	offer := signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER
	s := New(nil, nil, nil, Options{MaxSignalBytes: 64})
	for _, tc := range []struct {
		name    string
		kind    signalingv1.SignalKind
		payload string
		ok      bool
	}{
		{"offer", offer, `{"type":"offer","sdp":"v=0\r\n"}`, true},
		{"candidate", signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE, `{"candidate":""}`, true},
		{"at the limit", offer, `{"sdp":"012345678901234567890123456789012345678901234567890123"}`, true},
		{"over the limit", offer, `{"sdp":"0123456789012345678901234567890123456789012345678901234"}`, false},
		{"no kind", signalingv1.SignalKind_SIGNAL_KIND_UNSPECIFIED, `{}`, false},
		{"unknown kind", signalingv1.SignalKind(9), `{}`, false},
		{"empty", offer, ``, false},
		{"not JSON", offer, `{"type":`, false},
		{"array", offer, `[{}]`, false},
		// Found by FuzzCheckSignal: accepted, then dropped by the edge
		// that was to deliver them.
		{"leading space", offer, ` {"type":"offer","sdp":"v=0"}`, false},
		{"newline inside", offer, "{\"type\":\"offer\",\n\"sdp\":\"v=0\"}", false},
		{"trailing newline", offer, "{\"type\":\"offer\",\"sdp\":\"v=0\"}\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.checkSignal(tc.kind, []byte(tc.payload)); (err == nil) != tc.ok {
				t.Errorf("checkSignal(%v, %q) = %v, want accepted %v", tc.kind, tc.payload, err, tc.ok)
			}
		})
	}
}
