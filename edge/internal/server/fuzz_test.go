package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

// signalPayloads are relayed payloads of every kind, from the protocol
// document and the table tests.
var signalPayloads = []string{
	`{"type":"offer","sdp":"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"}`,
	`{"type":"answer","sdp":"v=0\r\n"}`,
	`{"type":"pranswer","sdp":"v=0\r\n"}`,
	`{"candidate":"candidate:1 1 UDP 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}`,
	`{"candidate":"","sdpMid":"0","sdpMLineIndex":0}`,
	`{"candidate":"candidate:1","sdpMid":null,"sdpMLineIndex":null}`,
	`{"candidate":"x","sdpMLineIndex":-1}`,
	`{"candidate":"x","sdpMLineIndex":65536}`,
	`{"candidate":5}`,
	`{"type":"offer","sdp":""}`,
	`{"type":"offer"}`,
	`{"TYPE":"offer","SDP":"v=0"}`,
	`{"Candidate":"candidate:1"}`,
	`{"type":"offer","sdp":"v=0","type":"answer"}`,
	"{\"type\":\"offer\",\n\"sdp\":\"v=0\"}",
	` {"type":"offer","sdp":"v=0"}`,
	`"v=0"`, `[1]`, `null`, ``,
}

var signalKinds = []signalingv1.SignalKind{
	signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER,
	signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER,
	signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE,
}

// referenceSignal is what validSignal promises, read as the receiving
// WebRTC stack reads the payload: keys match exactly (encoding/json into a
// struct would also take "SDP" for "sdp"), and the relayed object must fit
// on the line it is written into, as signalLine requires.
func referenceSignal(kind signalingv1.SignalKind, payload []byte) bool {
	if len(payload) == 0 || payload[0] != '{' || bytes.IndexByte(payload, '\n') >= 0 || !json.Valid(payload) {
		return false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return false
	}
	str := func(key string) (string, bool) {
		var s string
		raw := fields[key]
		return s, len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil
	}
	absent := func(key string) bool { raw, ok := fields[key]; return !ok || string(raw) == "null" }
	switch kind {
	case signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE:
		_, cand := str("candidate")
		_, mid := str("sdpMid")
		_, idxErr := strconv.ParseUint(string(fields["sdpMLineIndex"]), 10, 16)
		return cand && (mid || absent("sdpMid")) && (idxErr == nil || absent("sdpMLineIndex"))
	case signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER, signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER:
		typ, _ := str("type")
		sdp, _ := str("sdp")
		if kind == signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER {
			return typ == "offer" && sdp != ""
		}
		return (typ == "answer" || typ == "pranswer") && sdp != ""
	}
	return false
}

// FuzzValidSignal checks the edge's check of relayed SDP and ICE payloads:
// an unknown kind is refused; what is accepted is what its kind carries,
// with the exact keys, and one line the target's edge will deliver; and a
// well-formed payload of any strings is accepted.
func FuzzValidSignal(f *testing.F) {
	for _, p := range signalPayloads {
		for k := range 5 {
			f.Add(uint8(k), []byte(p))
		}
	}
	f.Fuzz(func(t *testing.T, k uint8, payload []byte) {
		kind := signalingv1.SignalKind(k % 5)
		got := validSignal(kind, payload)
		if got && !referenceSignal(kind, payload) {
			t.Fatalf("validSignal(%v, %q) = true, but it is not what the kind carries on one line", kind, payload)
		}
		if kind != signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER && kind != signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER &&
			kind != signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE {
			if got {
				t.Fatalf("validSignal(%v, %q) = true for a kind that carries nothing", kind, payload)
			}
			return
		}

		// Well-formed payloads with the input as their strings.
		var wellFormed any
		switch kind {
		case signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE:
			wellFormed = map[string]any{"candidate": string(payload), "sdpMid": string(payload), "sdpMLineIndex": uint16(k)}
		case signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER:
			wellFormed = map[string]any{"type": "offer", "sdp": string(payload)}
		default:
			wellFormed = map[string]any{"type": [2]string{"answer", "pranswer"}[k%2], "sdp": string(payload)}
		}
		b, err := json.Marshal(wellFormed)
		if err != nil {
			t.Fatal(err)
		}
		want := kind == signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE || len(payload) > 0
		if got := validSignal(kind, b); got != want {
			t.Fatalf("validSignal(%v, %s) = %v, want %v", kind, b, got, want)
		}
	})
}
