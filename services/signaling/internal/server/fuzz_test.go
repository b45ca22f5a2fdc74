package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

// deliverable is the edge's condition for writing a relayed payload into a
// client's envelope (edge/internal/server signalLine): a JSON object that
// starts the payload and is on one line. A payload the service accepted
// but an edge drops would be lost without a word to its sender.
func deliverable(payload []byte) bool {
	return len(payload) > 0 && payload[0] == '{' && bytes.IndexByte(payload, '\n') < 0 && json.Valid(payload)
}

// FuzzCheckSignal checks the service's check of relayed payloads: it
// refuses with invalidSignalError only, and accepts exactly the payloads of
// a known kind, within the size limit, that an edge delivers.
func FuzzCheckSignal(f *testing.F) {
	const maxSignal = 512
	for _, p := range []string{
		`{"type":"offer","sdp":"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"}`,
		`{"type":"answer","sdp":"v=0\r\n"}`,
		`{"candidate":"candidate:1 1 UDP 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}`,
		`{}`, `[]`, `"x"`, `null`, ``, `{`, `{}{}`, `{} `, ` {}`, "{\n}", "\t{\"a\":1}",
		`{"pad":"` + string(bytes.Repeat([]byte("a"), maxSignal-10)) + `"}`,
		`{"pad":"` + string(bytes.Repeat([]byte("a"), maxSignal-9)) + `"}`,
	} {
		for k := range 5 {
			f.Add(int32(k), []byte(p))
		}
	}
	f.Add(int32(-1), []byte(`{}`))
	s := New(nil, nil, nil, Options{MaxSignalBytes: maxSignal})
	f.Fuzz(func(t *testing.T, k int32, payload []byte) {
		kind := signalingv1.SignalKind(k)
		err := s.checkSignal(kind, payload)
		var invalid invalidSignalError
		if err != nil && !errors.As(err, &invalid) {
			t.Fatalf("checkSignal(%v, %q) error = %v, want an invalidSignalError", kind, payload, err)
		}
		known := kind == signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER || kind == signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER ||
			kind == signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE
		want := known && len(payload) <= maxSignal && deliverable(payload)
		if (err == nil) != want {
			t.Fatalf("checkSignal(%v, %q) = %v; want accepted %v (known kind %v, %d bytes of %d, deliverable %v)",
				kind, payload, err, want, known, len(payload), maxSignal, deliverable(payload))
		}
	})
}
