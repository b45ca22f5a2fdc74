package protocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/server.golden")

// clientEnvelopes returns the golden client envelopes (from the protocol
// document).
func clientEnvelopes(t testing.TB) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/client.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

func TestDecodeGolden(t *testing.T) {
	for _, line := range clientEnvelopes(t) {
		env, err := Decode(line, 32)
		if err != nil || env.Action == "" || env.SeqID == "" || !json.Valid(env.Data) || env.Data[0] != '{' {
			t.Errorf("Decode(%s) = %+v, %v; want an action, a seq_id and object data", line, env, err)
		}
	}
}

func TestDecode(t *testing.T) {
	deep := func(n int) string {
		return `{"action":"PING","data":` + strings.Repeat(`{"a":`, n-1) + `1` + strings.Repeat(`}`, n-1) + `}`
	}
	for _, tc := range []struct {
		name, in string
		wantErr  error
		want     Envelope
		wantData string
		maxDepth int
	}{
		{name: "minimal", in: `{"action":"PING"}`, want: Envelope{Action: "PING"}, wantData: "{}"},
		{name: "full", in: `{"action":"PING","data":{"x":1},"timestamp":"t","seq_id":"s","user_id":7}`,
			want: Envelope{Action: "PING", SeqID: "s", UserID: 7, HasUserID: true}, wantData: `{"x":1}`},
		{name: "user_id string", in: `{"action":"PING","user_id":"12"}`, want: Envelope{Action: "PING", UserID: 12, HasUserID: true}, wantData: "{}"},
		// Found by FuzzParseID: the string was read by its bytes.
		{name: "user_id escaped string", in: `{"action":"PING","user_id":"\u0031\u0032"}`, want: Envelope{Action: "PING", UserID: 12, HasUserID: true}, wantData: "{}"},
		{name: "user_id escaped sign", in: `{"action":"PING","user_id":"\u002d1"}`, wantErr: ErrUserID, want: Envelope{Action: "PING"}},
		{name: "nulls", in: `{"action":"PING","data":null,"seq_id":null,"user_id":null}`, want: Envelope{Action: "PING"}, wantData: "{}"},
		{name: "escaped action", in: `{"action":"P\u0049NG"}`, want: Envelope{Action: "PING"}, wantData: "{}"},
		{name: "surrogate pair", in: `{"action":"PING","seq_id":"\ud83d\ude00"}`, want: Envelope{Action: "PING", SeqID: "😀"}, wantData: "{}"},
		{name: "depth 32", in: deep(32), want: Envelope{Action: "PING"}, wantData: strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat(`}`, 31)},
		{name: "depth 33", in: deep(33), wantErr: ErrTooDeep},
		{name: "depth 3 of 2", in: deep(3), wantErr: ErrTooDeep, maxDepth: 2},
		{name: "brackets in strings", in: `{"action":"PING","seq_id":"[[[[{{{{\"]]"}`, maxDepth: 1, want: Envelope{Action: "PING", SeqID: `[[[[{{{{"]]`}, wantData: "{}"},
		{name: "invalid utf8", in: "{\"action\":\"PI\xc3NG\"}", wantErr: ErrInvalidUTF8},
		{name: "lone high surrogate", in: `{"action":"PING","seq_id":"\ud800x"}`, wantErr: ErrSurrogate},
		{name: "lone low surrogate", in: `{"action":"PING","seq_id":"\udc00"}`, wantErr: ErrSurrogate},
		{name: "high then non-low", in: `{"action":"PING","seq_id":"\ud800\u0041"}`, wantErr: ErrSurrogate},
		{name: "truncated", in: `{"action":"PING"`, wantErr: ErrSyntax},
		{name: "array", in: `[]`, wantErr: ErrSyntax},
		{name: "number", in: `12`, wantErr: ErrSyntax},
		{name: "trailing garbage", in: `{"action":"PING"} x`, wantErr: ErrSyntax},
		{name: "no action", in: `{"seq_id":"s"}`, wantErr: ErrNoAction, want: Envelope{SeqID: "s"}},
		{name: "empty action", in: `{"action":""}`, wantErr: ErrNoAction},
		{name: "action number", in: `{"action":1}`, wantErr: ErrNoAction},
		{name: "seq_id 64", in: `{"action":"PING","seq_id":"` + strings.Repeat("s", 64) + `"}`, want: Envelope{Action: "PING", SeqID: strings.Repeat("s", 64)}, wantData: "{}"},
		{name: "seq_id 65", in: `{"action":"PING","seq_id":"` + strings.Repeat("s", 65) + `"}`, wantErr: ErrSeqID},
		{name: "seq_id number", in: `{"action":"PING","seq_id":1}`, wantErr: ErrSeqID},
		{name: "user_id zero", in: `{"action":"PING","seq_id":"s","user_id":0}`, wantErr: ErrUserID, want: Envelope{Action: "PING", SeqID: "s"}},
		{name: "user_id float", in: `{"action":"PING","user_id":1.5}`, wantErr: ErrUserID, want: Envelope{Action: "PING"}},
		{name: "user_id bool", in: `{"action":"PING","user_id":true}`, wantErr: ErrUserID, want: Envelope{Action: "PING"}},
		{name: "data array", in: `{"action":"PING","data":[]}`, wantErr: ErrDataNotObj, want: Envelope{Action: "PING"}},
		{name: "data string", in: `{"action":"PING","data":"e30="}`, wantErr: ErrDataNotObj, want: Envelope{Action: "PING"}},
		{name: "timestamp number", in: `{"action":"PING","timestamp":1}`, wantErr: ErrFieldType, want: Envelope{Action: "PING"}},
		{name: "compressed", in: `{"action":"PING","compressed":true,"data":"H4sI"}`, want: Envelope{Action: "PING", Compressed: true}, wantData: `"H4sI"`},
		{name: "compressed false", in: `{"action":"PING","compressed":false,"data":{"x":1}}`, want: Envelope{Action: "PING"}, wantData: `{"x":1}`},
		{name: "compressed null", in: `{"action":"PING","compressed":null}`, want: Envelope{Action: "PING"}, wantData: `{}`},
		{name: "compressed object data", in: `{"action":"PING","compressed":true,"data":{}}`, wantErr: ErrCompressed, want: Envelope{Action: "PING"}},
		{name: "compressed without data", in: `{"action":"PING","compressed":true}`, wantErr: ErrCompressed, want: Envelope{Action: "PING"}},
		{name: "compressed a string", in: `{"action":"PING","compressed":"yes","data":"x"}`, wantErr: ErrCompressed, want: Envelope{Action: "PING"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maxDepth := tc.maxDepth
			if maxDepth == 0 {
				maxDepth = 32
			}
			got, err := Decode([]byte(tc.in), maxDepth)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Decode(%.80s) error = %v, want %v", tc.in, err, tc.wantErr)
			}
			data := string(got.Data)
			got.Data, tc.want.Data = nil, nil
			if !reflect.DeepEqual(got, tc.want) || data != tc.wantData && err == nil {
				t.Errorf("Decode(%.80s) = %+v data %s, want %+v data %s", tc.in, got, data, tc.want, tc.wantData)
			}
		})
	}
}

// readLines reads every line of r through a LineReader.
func readLines(r io.Reader, max int) (lines []string, tooLong int, err error) {
	lr := NewLineReader(r, max)
	for range 1 << 16 {
		line, err := lr.ReadLine()
		switch {
		case errors.Is(err, ErrFrameTooLong):
			tooLong++
		case errors.Is(err, io.EOF):
			return lines, tooLong, nil
		case err != nil:
			return lines, tooLong, err
		default:
			lines = append(lines, string(line))
		}
	}
	return lines, tooLong, errors.New("too many lines")
}

func TestLineReader(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		max         int
		want        []string
		wantTooLong int
	}{
		{"lf", "a\nb\n", 10, []string{"a", "b"}, 0},
		{"crlf", "a\r\nb\r\n", 10, []string{"a", "b"}, 0},
		{"empty lines", "\n\r\n\na\n\n", 10, []string{"a"}, 0},
		{"unterminated last line dropped", "a\nb", 10, []string{"a"}, 0},
		{"exactly max", "12345\n", 5, []string{"12345"}, 0},
		{"exactly max crlf", "12345\r\n", 5, []string{"12345"}, 0},
		{"max plus one", "123456\nok\n", 5, []string{"ok"}, 1},
		{"long line then ok", strings.Repeat("x", 5000) + "\nok\n" + strings.Repeat("y", 70000) + "\r\nok2\n", 100, []string{"ok", "ok2"}, 2},
		{"long unterminated", strings.Repeat("x", 5000), 100, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, r := range map[string]io.Reader{
				"whole":    strings.NewReader(tc.in),
				"one byte": iotest.OneByteReader(strings.NewReader(tc.in)),
			} {
				got, tooLong, err := readLines(r, tc.max)
				if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || tooLong != tc.wantTooLong {
					t.Errorf("%s: lines %q, %d too long, err %v; want %q, %d too long", name, got, tooLong, err, tc.want, tc.wantTooLong)
				}
			}
		})
	}
}

func TestLineReaderBufferShrinks(t *testing.T) {
	big := `{"action":"PING","data":{"pad":"` + strings.Repeat("x", 200_000) + `"}}`
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, big+"\n{\"action\":\"PING\"}\n")
		pw.Close()
	}()
	lr := NewLineReader(pr, 1<<20)
	if line, err := lr.ReadLine(); err != nil || len(line) != len(big) {
		t.Fatalf("ReadLine big frame = %d bytes, %v; want %d", len(line), err, len(big))
	}
	if len(lr.buf) < len(big) {
		t.Fatalf("buffer %d bytes while holding a %d-byte frame", len(lr.buf), len(big))
	}
	if line, err := lr.ReadLine(); err != nil || string(line) != `{"action":"PING"}` {
		t.Fatalf("ReadLine after big frame = %q, %v", line, err)
	}
	if len(lr.buf) != InitialReadBuffer {
		t.Errorf("buffer after the big frame = %d bytes, want it shrunk to %d", len(lr.buf), InitialReadBuffer)
	}
}

func testMessage() *chatv1.Message {
	return &chatv1.Message{
		Id: 42, RoomId: 456, UserId: 123, Nickname: "닉네임", Content: "hello \"world\"\n\t\x01</script>\u2028",
		MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT,
		CreatedAt:   timestamppb.New(time.Date(2024, 1, 1, 12, 0, 0, 123_456_789, time.UTC)),
	}
}

// TestEncodeGolden checks every server envelope against testdata/server.golden
// (go test -update rewrites it) and that each is one valid JSON line.
func TestEncodeGolden(t *testing.T) {
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.FixedZone("KST", 9*3600))
	reply := Header{Time: at, SeqID: "msg_1"}
	server := Header{Time: at, SeqPrefix: "s-edge1-", SeqNum: 7}
	var b []byte
	b = AppendConnectSuccess(b, Header{Time: at, SeqID: "c1"}, Connected{UserID: 123, SessionID: "edge1-1", Nickname: "alice",
		ExpiresAt: at.Add(time.Hour), HeartbeatInterval: 30 * time.Second})
	b = AppendConnectError(b, Header{Time: at, SeqID: "c1"}, CodeTokenExpired)
	b = AppendPong(b, Header{Time: at, SeqID: "ping_1"})
	b = AppendJoinRoomSuccess(b, Header{Time: at, SeqID: "join_1"}, 456, 3, []Participant{{123, "alice"}, {7, "bob"}})
	b = AppendJoinRoomSuccess(b, Header{Time: at, SeqID: "join_2"}, 456, 1, nil)
	b = AppendBatchMessages(b, Header{Time: at, SeqID: "join_2"}, 456, []*chatv1.Message{testMessage(), testMessage()}, true)
	b = AppendNewMessage(b, reply, testMessage())
	b = AppendNewMessage(b, server, testMessage())
	b = AppendMember(b, server, ActionUserJoined, 456, 7, "bob", 3, "")
	b = AppendMember(b, server, ActionUserLeft, 456, 7, "bob", 2, "kicked")
	b = AppendLeaveRoomSuccess(b, Header{Time: at, SeqID: "leave_1"}, 456, 2)
	b = AppendError(b, Header{Time: at, SeqID: "x"}, CodeRoomNotFound, "x", "JOIN_ROOM")
	b = AppendError(b, server, CodeTokenExpired, "", "")
	b = AppendNewMessage(b, reply, &chatv1.Message{Content: "bad \xff utf8"})
	b = AppendConnectSuccess(b, Header{Time: at, SeqID: "c2"}, Connected{UserID: 123, SessionID: "edge1-2", Nickname: "alice",
		HeartbeatInterval: 30 * time.Second, Compression: "gzip"})
	b = AppendMember(b, server, ActionUserLeft, 456, 8, "carol", 1, "left")
	b = AppendMember(b, server, ActionUserLeft, 456, 9, "dave", 0, "banned")
	b = AppendRoomDeleted(b, server, 456)
	b = AppendMessages(b, Header{Time: at, SeqID: "h1"}, 456, []*chatv1.Message{testMessage()}, false)
	b = AppendMessages(b, Header{Time: at, SeqID: "h2"}, 456, nil, false)
	sys := testMessage()
	sys.UserId, sys.Nickname, sys.Content, sys.MessageType = 0, "system", "maintenance at noon", chatv1.MessageType_MESSAGE_TYPE_SYSTEM
	b = AppendNewMessage(b, server, sys)
	msg := AppendNewMessage(nil, server, testMessage())
	b = AppendCoalesced(b, server, [][]byte{Data(msg), Data(AppendNewMessage(nil, server, sys))})
	b = AppendRefreshTokenSuccess(b, Header{Time: at, SeqID: "r1"}, at.Add(2*time.Hour))
	b = AppendRefreshTokenSuccess(b, Header{Time: at, SeqID: "r2"}, time.Time{})
	b = AppendUserStatusChanged(b, server, 7, false, at.Add(-time.Minute))
	b = AppendUserStatusChanged(b, server, 8, true, time.Time{})
	b = AppendServerAnnouncement(b, server, Announcement{Title: "점검", Message: "down at \"noon\"\n", Type: "maintenance", Priority: "high"})
	b = AppendError(b, server, CodeTokenRevoked, "", "")
	b = AppendVideoRoomCreated(b, Header{Time: at, SeqID: "v1"}, VideoRoom{ID: 200, ChatroomID: 456, Name: "standup", HostUserID: 123, MaxParticipants: 4}, nil)
	b = AppendVideoRoomCreated(b, Header{Time: at, SeqID: "v0"}, VideoRoom{ID: 201, ChatroomID: 456, Name: "영상회의", HostUserID: 123, MaxParticipants: 10},
		[]ICEServer{{URLs: []string{"stun:stun.example.com:3478"}}})
	b = AppendJoinVideoRoomSuccess(b, Header{Time: at, SeqID: "v2"}, 200,
		[]VideoParticipant{{UserID: 123, Nickname: "alice", Media: MediaStatus{AudioEnabled: true}}, {UserID: 7, Nickname: "bob"}},
		[]ICEServer{{URLs: []string{"stun:stun.example.com:3478"}}, {URLs: []string{"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"}, Username: "1704110400:123", Credential: "c2VjcmV0"}})
	b = AppendJoinVideoRoomSuccess(b, Header{Time: at, SeqID: "v3"}, 200, nil, nil)
	b = AppendVideoParticipantJoined(b, server, 200, VideoParticipant{UserID: 7, Nickname: "bob", Media: MediaStatus{VideoEnabled: true}}, 2)
	b = AppendVideoParticipantLeft(b, server, 200, 7, "bob", 1, "disconnected")
	b = AppendLeaveVideoRoomSuccess(b, Header{Time: at, SeqID: "v4"}, 200)
	b = AppendVideoRoomClosed(b, server, 200, 456, "empty")
	b = AppendParticipantMediaChanged(b, server, 200, 7, "bob", MediaStatus{AudioEnabled: true, ScreenSharing: true})
	b = AppendSignal(b, server, ActionSDPOffer, 200, 123, "sdp", []byte(`{"type":"offer","sdp":"v=0\r\n"}`))
	b = AppendSignal(b, server, ActionICECandidate, 200, 123, "candidate", []byte(`{"candidate":"candidate:1 1 UDP 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`))
	b = AppendError(b, Header{Time: at, SeqID: "v5"}, CodeVideoRoomFull, "v5", "JOIN_VIDEO_ROOM")
	b = AppendErrorMessage(b, Header{Time: at, SeqID: "v6"}, CodeInvalidData, "invalid data: video_room_id must be a positive integer", "v6", "JOIN_VIDEO_ROOM")

	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Errorf("envelope %s is not valid JSON: %v", sc.Bytes(), err)
		}
		if _, ok := v["data"].(map[string]any); !ok || v["action"] == "" || v["timestamp"] != "2024-01-01T03:00:00.000Z" || v["seq_id"] == "" {
			t.Errorf("envelope %s lacks action, data, timestamp or seq_id", sc.Bytes())
		}
	}
	if *update {
		if err := os.WriteFile("testdata/server.golden", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/server.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("server envelopes differ from testdata/server.golden (go test -update to accept):\ngot:\n%s\nwant:\n%s", b, want)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\s/", "\x00\x1f\x7f", "한국어 😀", "\u2028\u2029", "\xff\xfe", "<>&"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("AppendString(%q) = %s: invalid JSON: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("AppendString(%q) decodes to %q, want %q", s, back, wantBack)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	line := []byte(`{"action":"SEND_MESSAGE","data":{"chatroom_id":456,"content":"hello, how are you doing today?","message_type":"text"},"timestamp":"2024-01-01T12:00:00.000Z","seq_id":"msg_12345","user_id":123}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := Decode(line, 32); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendNewMessage(b *testing.B) {
	m := testMessage()
	m.Content = "hello, how are you doing today?"
	h := Header{Time: time.Now(), SeqPrefix: "s-edge1-", SeqNum: 123456}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendNewMessage(buf[:0], h, m)
	}
	b.SetBytes(int64(len(buf)))
}

// TestVideoRoomID reads the document's numeric ids and lenient digit
// strings, and refuses anything else with an error naming the field.
func TestVideoRoomID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{`{"video_room_id":200}`, 200},
		{`{"video_room_id":"200"}`, 200},
		{`{"video_room_id":9223372036854775807}`, 9223372036854775807},
		{`{"video_room_id":null}`, 0},
		{`{}`, 0},
	} {
		var v struct {
			ID VideoRoomID `json:"video_room_id"`
		}
		if err := json.Unmarshal([]byte(tc.in), &v); err != nil || int64(v.ID) != tc.want {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d", tc.in, v.ID, err, tc.want)
		}
	}
	for _, in := range []string{`"vr_dd99"`, `0`, `-1`, `1.5`, `2e2`, `true`, `{}`, `[200]`, `""`, `" 200"`, `9223372036854775808`} {
		var v struct {
			ID VideoRoomID `json:"video_room_id"`
		}
		err := json.Unmarshal([]byte(`{"video_room_id":`+in+`}`), &v)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "video_room_id" {
			t.Errorf("Unmarshal(video_room_id %s) = %v, want a FieldError naming video_room_id", in, err)
		}
	}
}

// blockingChunks returns its chunks one Read at a time, errAgain between
// them, as a non-blocking socket returns what has arrived and then would
// block.
type blockingChunks struct {
	chunks []string
	again  bool
}

var errAgain = errors.New("would block")

func (c *blockingChunks) Read(b []byte) (int, error) {
	if c.again {
		c.again = false
		return 0, errAgain
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
		c.again = true
	}
	return n, nil
}

// TestPooledLineReader reads lines that arrive split across reads with a
// reader that would block between them, releasing its buffer each time:
// no line is lost or merged, no buffer is held while idle unless a line is
// incomplete, and long lines are still refused.
func TestPooledLineReader(t *testing.T) {
	long := strings.Repeat("x", 3*PooledBufferSize)
	r := &blockingChunks{chunks: []string{"one\ntw", "o\nthr", "ee\n", long + "\nfour\n", strings.Repeat("y", PooledBufferSize+10) + "\n", "five\n"}}
	var pool BufferPool
	var lr LineReader
	lr.Init(r, 2*PooledBufferSize, &pool)
	var got []string
	tooLong := 0
	for range 100 {
		line, err := lr.ReadLine()
		switch {
		case err == nil:
			got = append(got, string(line))
			continue
		case errors.Is(err, ErrFrameTooLong):
			tooLong++
			continue
		case errors.Is(err, errAgain):
			lr.Release()
			if pending := lr.end - lr.start; (pending == 0) != (lr.buf == nil) || len(lr.buf) > pending {
				t.Fatalf("after Release: buffer of %d bytes with %d pending, want none or just the pending bytes", len(lr.buf), pending)
			}
			continue
		case errors.Is(err, io.EOF):
		default:
			t.Fatalf("ReadLine = %v", err)
		}
		break
	}
	if want := "one|two|three|four|" + strings.Repeat("y", PooledBufferSize+10) + "|five"; strings.Join(got, "|") != want || tooLong != 1 {
		t.Errorf("lines %.80q (%d), %d too long; want one, two, three, four, the y line, five and 1 too long", strings.Join(got, "|"), len(got), tooLong)
	}
}
