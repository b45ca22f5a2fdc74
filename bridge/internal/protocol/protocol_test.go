package protocol

import (
	"errors"
	"reflect"
	"testing"
)

func TestDecode(t *testing.T) {
	mid, idx := "0", uint16(0)
	tests := []struct {
		name    string
		in      string
		want    Message
		wantErr error
	}{
		{"credential (the seed's example)", `{"type":"CREDENTIAL","payload":{"credential":"sk_TEST01_my0Secret1Token2Value3"}}`,
			Message{Type: TypeCredential, Payload: &CredentialPayload{Credential: "sk_TEST01_my0Secret1Token2Value3"}}, nil},
		{"session_start", `{"type":"session_start"}`, Message{Type: TypeSessionStart}, nil},
		{"offer", `{"type":"offer","sdp":"v=0\r\n"}`, Message{Type: TypeOffer, SDP: "v=0\r\n"}, nil},
		{"candidate", `{"type":"candidate","candidate":{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}}`,
			Message{Type: TypeCandidate, Candidate: &Candidate{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx}}, nil},
		{"end of candidates", `{"type":"candidate","candidate":{"candidate":""}}`, Message{Type: TypeCandidate, Candidate: &Candidate{}}, nil},
		{"unknown type", `{"type":"bogus"}`, Message{Type: "bogus"}, ErrBadType},
		{"no type", `{"sdp":"x"}`, Message{SDP: "x"}, ErrBadMessage},
		{"not JSON", `{"type":`, Message{}, ErrBadMessage},
		{"JSON array", `[]`, Message{}, ErrBadMessage},
		{"type not a string", `{"type":1}`, Message{}, ErrBadMessage},
		{"credential without payload", `{"type":"CREDENTIAL"}`, Message{Type: TypeCredential}, ErrBadMessage},
		{"credential empty", `{"type":"CREDENTIAL","payload":{"credential":""}}`, Message{Type: TypeCredential, Payload: &CredentialPayload{}}, ErrBadMessage},
		{"offer without sdp", `{"type":"offer"}`, Message{Type: TypeOffer}, ErrBadMessage},
		{"candidate without candidate", `{"type":"candidate"}`, Message{Type: TypeCandidate}, ErrBadMessage},
		{"m-line index out of range", `{"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":70000}}`, Message{}, ErrBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Decode(%s) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr != ErrBadMessage && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	mid, idx := "0", uint16(1)
	tests := []struct {
		in   Message
		want string
	}{
		{Message{Type: TypeAuthSuccess}, `{"type":"auth_success"}`},
		{Message{Type: TypeNodeStatus, Status: StatusPending}, `{"type":"node_status","status":"pending"}`},
		{Message{Type: TypeServerProvisioning}, `{"type":"server_provisioning"}`},
		{Message{Type: TypeAnswer, SDP: "v=0"}, `{"type":"answer","sdp":"v=0"}`},
		{Message{Type: TypeCandidate, Candidate: &Candidate{Candidate: "candidate:x", SDPMid: &mid, SDPMLineIndex: &idx}},
			`{"type":"candidate","candidate":{"candidate":"candidate:x","sdpMid":"0","sdpMLineIndex":1}}`},
		{Message{Type: TypeError, Message: ErrPoolFull}, `{"type":"error","message":"Maximum pool size reached. Cannot assign a new node."}`},
	}
	for _, tt := range tests {
		if got := string(Encode(tt.in)); got != tt.want {
			t.Errorf("Encode(%+v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// FuzzDecode checks that Decode never panics, and that what it accepts
// encodes to a message it decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"CREDENTIAL","payload":{"credential":"sk_TEST01_my0Secret1Token2Value3"}}`,
		`{"type":"session_start"}`,
		`{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`,
		`{"type":"candidate","candidate":{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:1 1 udp 1 127.0.0.1 1 typ host"}}`,
		`{"type":"bogus"}`, `{}`, `[]`, `null`, `{"type":"offer","sdp":5}`,
	} {
		f.Add([]byte(s))
		for i := 1; i < len(s); i += 7 { // split inputs
			f.Add([]byte(s[:i]))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)) = %v", m, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("Decode(Encode(m)) = %+v, want %+v", again, m)
		}
	})
}
