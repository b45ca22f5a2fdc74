package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
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

// FuzzDecode checks that Decode refuses with exactly one of its two
// errors, ErrBadType only for a well-formed message of an unknown type;
// that what it accepts is valid JSON of a client type with that type's
// fields; and that it encodes to a message it decodes to the same value.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"CREDENTIAL","payload":{"credential":"sk_TEST01_my0Secret1Token2Value3"}}`,
		`{"type":"session_start"}`,
		`{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`,
		`{"type":"candidate","candidate":{"sdpMid":"0","sdpMLineIndex":0,"candidate":"candidate:1 1 udp 1 127.0.0.1 1 typ host"}}`,
		`{"type":"candidate","candidate":{"candidate":"","usernameFragment":"u"}}`,
		`{"type":"bogus"}`, `{}`, `[]`, `null`, `{"type":"offer","sdp":5}`, `{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","candidate":{"candidate":"c","sdpMLineIndex":70000}}`, `{"TYPE":"offer","SDP":"v=0"}`,
	} {
		f.Add([]byte(s))
		for i := 1; i < len(s); i++ { // cut at every byte
			f.Add([]byte(s[:i]))
		}
	}
	clientTypes := map[string]bool{TypeCredential: true, TypeSessionStart: true, TypeOffer: true, TypeCandidate: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if errors.Is(err, ErrBadMessage) == errors.Is(err, ErrBadType) {
				t.Fatalf("Decode(%q) error = %v, want exactly one of ErrBadMessage, ErrBadType", data, err)
			}
			if errors.Is(err, ErrBadType) && (!json.Valid(data) || m.Type == "" || clientTypes[m.Type]) {
				t.Fatalf("Decode(%q) = %+v, ErrBadType: want a well-formed message of an unknown type", data, m)
			}
			return
		}
		if !json.Valid(data) || !clientTypes[m.Type] {
			t.Fatalf("Decode(%q) accepted %+v: not a client message", data, m)
		}
		switch {
		case m.Type == TypeCredential && (m.Payload == nil || m.Payload.Credential == ""),
			m.Type == TypeOffer && m.SDP == "",
			m.Type == TypeCandidate && m.Candidate == nil:
			t.Fatalf("Decode(%q) accepted %+v without the fields of its type", data, m)
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

// validUTF8 is s as encoding/json writes it: each invalid byte replaced
// by U+FFFD.
func validUTF8(s string) string { return string([]rune(s)) }

// FuzzEncode builds messages of any strings and checks that Encode writes
// one valid JSON object that reads back to the message (invalid UTF-8
// replaced), and that the client messages among them decode to themselves.
func FuzzEncode(f *testing.F) {
	f.Add(TypeAnswer, "", "v=0\r\n", "", "", "", uint16(0), uint8(0))
	f.Add(TypeCandidate, "", "", "", "candidate:1 1 udp 1 127.0.0.1 1 typ host", "0", uint16(1), uint8(0b110))
	f.Add(TypeError, "", "", ErrPoolFull, "", "", uint16(0), uint8(0))
	f.Add(TypeCredential, "", "", "", "sk_TEST01_0123456789ABCDEFGHIJKLMNOPQRSTUV", "", uint16(0), uint8(0b1000))
	f.Add(TypeNodeStatus, StatusWaiting, "", "", "", "", uint16(0), uint8(0))
	f.Add("\xff<\u2028>", "\x00", "\"\\", "\xc3", "\xed\xa0\x80", "é", uint16(65535), uint8(0xff))
	f.Fuzz(func(t *testing.T, typ, status, sdp, message, candidate, mid string, index uint16, opts uint8) {
		m := Message{Type: typ, Status: status, SDP: sdp, Message: message}
		if opts&1 != 0 {
			m.Candidate = &Candidate{Candidate: candidate}
			if opts&2 != 0 {
				m.Candidate.SDPMid = &mid
			}
			if opts&4 != 0 {
				m.Candidate.SDPMLineIndex = &index
			}
			if opts&16 != 0 {
				m.Candidate.UsernameFragment = &status
			}
		}
		if opts&8 != 0 {
			m.Payload = &CredentialPayload{Credential: candidate}
		}
		b := Encode(m)
		var back Message
		if err := json.Unmarshal(b, &back); err != nil || b[0] != '{' || !utf8.Valid(b) {
			t.Fatalf("Encode(%+v) = %s: not one JSON object (%v)", m, b, err)
		}
		want := m
		want.Type, want.Status, want.SDP, want.Message = validUTF8(typ), validUTF8(status), validUTF8(sdp), validUTF8(message)
		if m.Candidate != nil {
			c := Candidate{Candidate: validUTF8(candidate), SDPMLineIndex: m.Candidate.SDPMLineIndex}
			if m.Candidate.SDPMid != nil {
				v := validUTF8(mid)
				c.SDPMid = &v
			}
			if m.Candidate.UsernameFragment != nil {
				v := validUTF8(status)
				c.UsernameFragment = &v
			}
			want.Candidate = &c
		}
		if m.Payload != nil {
			want.Payload = &CredentialPayload{Credential: validUTF8(candidate)}
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("Encode(%+v) = %s, reads back as %+v", m, b, back)
		}
		if got, err := Decode(b); err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(Encode(%+v)) = %+v, want %+v", m, got, want)
		}
	})
}
