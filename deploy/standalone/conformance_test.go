package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/edge"
)

// The conformance suite: the original protocol document's envelopes
// (conformance_examples_test.go) replayed against a running Switchboard.

const (
	documentPath = "testdata/protocol-v1.1/decoded.md"
	originalPath = "testdata/protocol-v1.1/original.md"
)

// lostBytes are the bytes the document's broken save dropped: the code
// points Windows-1252/1254 leave undefined, and the soft hyphen.
var lostBytes = map[byte]bool{0x81: true, 0x8D: true, 0x8E: true, 0x8F: true, 0x90: true, 0x9D: true, 0x9E: true, 0xAD: true}

// cp1254High maps the bytes 0x80–0x9F of Windows-1254 to their runes; 0
// marks an undefined byte.
var cp1254High = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0, 0x0178,
}

// cp1254Turkish are the bytes of 0xA0–0xFF where Windows-1254 differs from
// Latin-1.
var cp1254Turkish = map[byte]rune{0xD0: 'Ğ', 0xDD: 'İ', 0xDE: 'Ş', 0xF0: 'ğ', 0xFD: 'ı', 0xFE: 'ş'}

// misencode breaks UTF-8 text the way the document was broken: every byte
// read as a Windows-1254 character and written back as UTF-8, the bytes
// the code page lacks dropped.
func misencode(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		switch {
		case c < 0x80:
			out = append(out, c)
		case lostBytes[c]:
		case c < 0xA0:
			out = utf8.AppendRune(out, cp1254High[c-0x80])
		case cp1254Turkish[c] != 0:
			out = utf8.AppendRune(out, cp1254Turkish[c])
		default:
			out = utf8.AppendRune(out, rune(c))
		}
	}
	return out
}

// TestProtocolDocumentDecoding proves that decoded.md is the document as
// it was written: broken the way original.md was, it is original.md, byte
// for byte.
func TestProtocolDocumentDecoding(t *testing.T) {
	decoded, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile(originalPath)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(decoded) {
		t.Fatalf("%s is not valid UTF-8", documentPath)
	}
	if got := misencode(decoded); !bytes.Equal(got, original) {
		i := 0
		for i < len(got) && i < len(original) && got[i] == original[i] {
			i++
		}
		t.Fatalf("%s broken the original's way differs from %s at byte %d: %q vs %q",
			documentPath, originalPath, i, got[max(0, i-20):min(len(got), i+20)], original[max(0, i-20):min(len(original), i+20)])
	}
	for _, korean := range []string{"안녕하세요!", "영상회의", "사용자1", "참가자", "서버 점검 안내"} {
		if !bytes.Contains(decoded, []byte(korean)) {
			t.Errorf("%s lacks %q", documentPath, korean)
		}
	}
}

// documentExamples splits the document's JSON code blocks into their
// envelopes (a "// Client → Server" line starts each of a block's).
func documentExamples(doc string) []string {
	var out []string
	for _, block := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		for _, part := range regexp.MustCompile(`\n// `).Split("\n"+block[1], -1) {
			part = strings.Trim(part, "\n")
			if part == "" {
				continue
			}
			if !strings.HasPrefix(part, "{") { // the direction line
				_, part, _ = strings.Cut(part, "\n")
			}
			out = append(out, part)
		}
	}
	return out
}

// TestProtocolExamplesAreVerbatim checks that every example of the table
// is in the document exactly as it is printed there, and that the table
// has every envelope of the document.
func TestProtocolExamplesAreVerbatim(t *testing.T) {
	b, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	inTable := map[string]bool{}
	for _, ex := range protocolExamples {
		inTable[ex.text] = true
		if !strings.Contains(doc, "```json\n"+ex.text+"\n") && !strings.Contains(doc, "\n"+ex.text+"\n") {
			t.Errorf("%s %s is not in the document verbatim:\n%s", ex.section, ex.name, ex.text)
		}
	}
	examples := documentExamples(doc)
	for _, ex := range examples {
		if !inTable[ex] {
			t.Errorf("the document's envelope is not in the table:\n%s", ex)
		}
	}
	if len(examples) != len(protocolExamples) {
		t.Errorf("the document has %d envelopes, the table %d", len(examples), len(protocolExamples))
	}
}

// stripComments drops the // comments the document writes inside its
// JSON (outside strings).
func stripComments(s string) string {
	var b strings.Builder
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString && c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case c == '"':
			inString = !inString
		case !inString && c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			if i < len(s) {
				b.WriteByte('\n')
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// decodeJSON decodes JSON with numbers as json.Number, so that an integer
// is told from a fraction.
func decodeJSON(text string) (map[string]any, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v map[string]any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// docEnvelope is a document example as a JSON object, its comments
// dropped.
func docEnvelope(t *testing.T, text string) map[string]any {
	t.Helper()
	v, err := decodeJSON(stripComments(text))
	if err != nil {
		t.Fatalf("document example is not JSON without its comments: %v\n%s", err, text)
	}
	return v
}

// messageModel is the Message model the document refers to (its "05"
// data model document, not part of the handover): edge-protocol.md §5
// decides it. An empty object in a server example of the document stands
// for it ("data": {}, // Message 모델; {}, // Message 1).
const messageModel = `{"message_id": 1, "chatroom_id": 1, "user_id": 123, "nickname": "사용자1", "content": "안녕하세요!", "message_type": "text", "created_at": "2024-01-01T12:00:00.100Z"}`

// withMessageModel returns v with every empty object replaced by the
// Message model.
func withMessageModel(t *testing.T, v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			m, err := decodeJSON(messageModel)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = withMessageModel(t, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withMessageModel(t, e)
		}
		return out
	}
	return v
}

// timeForm is the document's timestamp: ISO-8601 UTC with milliseconds.
var timeForm = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// conform reports where got differs from the document's want in shape:
// every field the document shows must be there with the same JSON type
// (numbers that are integers in the document integers, strings in the
// document's time form in that form), every element of an array shaped
// like the document's first. Fields the server adds are fine.
func conform(path string, want, got any) []string {
	jsonType := func(v any) string {
		switch v.(type) {
		case map[string]any:
			return "an object"
		case []any:
			return "an array"
		case string:
			return "a string"
		case json.Number:
			return "a number"
		case bool:
			return "a boolean"
		case nil:
			return "null"
		}
		return fmt.Sprintf("%T", v)
	}
	if want != nil && jsonType(want) != jsonType(got) {
		return []string{fmt.Sprintf("%s is %s (%v), the document has %s (%v)", path, jsonType(got), got, jsonType(want), want)}
	}
	var problems []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s is missing", path, k))
				continue
			}
			problems = append(problems, conform(path+"."+k, w[k], gv)...)
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) == 0 {
			problems = append(problems, fmt.Sprintf("%s is empty: nothing to check against the document's elements", path))
		}
		for i, e := range g {
			if len(w) > 0 {
				problems = append(problems, conform(fmt.Sprintf("%s[%d]", path, i), w[0], e)...)
			}
		}
	case string:
		if timeForm.MatchString(w) && !timeForm.MatchString(got.(string)) {
			problems = append(problems, fmt.Sprintf("%s is %q, not in the document's time form %q", path, got, w))
		}
	case json.Number:
		_, wantInt := strconv.ParseInt(string(w), 10, 64)
		_, gotInt := strconv.ParseInt(string(got.(json.Number)), 10, 64)
		if wantInt == nil && gotInt != nil {
			problems = append(problems, fmt.Sprintf("%s is %s, the document has an integer (%s)", path, got, w))
		}
	}
	return problems
}

// lookup returns the value at a dotted path ("data.media_status").
func lookup(v any, path string) (any, bool) {
	for p := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// sameValue reports whether got has the document's value want: equal
// scalars, equal arrays, objects with every field of want equal (the
// server may add fields).
func sameValue(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			if !sameValue(wv, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !sameValue(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

// oneLine puts a document example on one line, as the line protocol
// frames it: each line's indentation goes, the content is untouched.
func oneLine(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, " ")
}

// variant returns the document example with edit applied, on one line:
// for the requests the document does not show (another room, another
// user).
func variant(t *testing.T, text string, edit func(env map[string]any)) string {
	t.Helper()
	env := docEnvelope(t, text)
	edit(env)
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setData sets a field of an envelope's data.
func setData(key string, v any) func(map[string]any) {
	return func(env map[string]any) { env["data"].(map[string]any)[key] = v }
}

// replay is one run of the document against a Switchboard.
type replay struct {
	t       *testing.T
	parties map[string]*client
}

// party opens a session of user on the edge at addr, connecting with the
// document's CONNECT (its token replaced by one for the user, and any
// extra CONNECT fields), and checks CONNECT_SUCCESS.
func (r *replay) party(name, addr string, user int64, nickname string, extra map[string]any) *client {
	r.t.Helper()
	cl := dialEdge(r.t, addr, name)
	cl.presence = true
	r.parties[name] = cl
	connect := variant(r.t, exConnect, func(env map[string]any) {
		data := env["data"].(map[string]any)
		data["jwt_token"] = mint(r.t, user, nickname, time.Hour)
		for k, v := range extra {
			data[k] = v
		}
	})
	cl.sendRaw(connect)
	r.expect(name, exConnectSuccess, exConnect, where{"data.user_id": json.Number(fmt.Sprint(user))})
	return cl
}

// send writes an envelope as the party.
func (r *replay) send(from, line string) {
	r.t.Helper()
	r.parties[from].sendRaw(line)
}

// where selects, among the envelopes a party receives, the one an
// expectation is about: dotted path → value.
type where map[string]any

// expect reads the party's envelopes until the one that the document's
// server example reply stands for: the same action, the same values at
// sel's paths and, when the document echoes the seq_id of request (a
// client example, or "" for an envelope no request causes), that seq_id.
// Envelopes before it are passed over. It checks the envelope's shape
// against the document's and that the values at the paths in same are the
// document's, and returns the envelope.
func (r *replay) expect(to, reply, request string, sel where, same ...string) map[string]any {
	r.t.Helper()
	want := withMessageModel(r.t, docEnvelope(r.t, reply)).(map[string]any)
	echo := ""
	if request != "" {
		if req := docEnvelope(r.t, strings.Replace(request, "{ ... }", "{}", 1)); req["seq_id"] == want["seq_id"] {
			echo = want["seq_id"].(string)
		}
	}
	cl := r.parties[to]
	deadline := time.Now().Add(10 * time.Second)
	for {
		env, err := cl.read(time.Until(deadline))
		if err != nil {
			r.t.Fatalf("%s: waiting for %s (seq_id %q, %v): %v", to, want["action"], echo, sel, err)
		}
		got, err := decodeJSON(env.raw)
		if err != nil {
			r.t.Fatalf("%s: %s is not JSON: %v", to, env.raw, err)
		}
		if got["action"] != want["action"] || (echo != "" && got["seq_id"] != echo) || !selected(got, sel) {
			r.t.Logf("%s: passing over %.200s", to, env.raw)
			continue
		}
		for _, p := range conform("envelope", want, got) {
			r.t.Errorf("%s: %s: %s\n got %s", to, want["action"], p, env.raw)
		}
		for _, path := range same {
			wv, _ := lookup(want, path)
			if gv, ok := lookup(got, path); !ok || !sameValue(wv, gv) {
				r.t.Errorf("%s: %s %s = %v, the document has %v\n got %s", to, want["action"], path, gv, wv, env.raw)
			}
		}
		return got
	}
}

func selected(env map[string]any, sel where) bool {
	for path, v := range sel {
		if got, ok := lookup(env, path); !ok || !sameValue(v, got) {
			return false
		}
	}
	return true
}

// expectError expects an ERROR with code answering the request whose
// seq_id and action are given, shaped like the document's §6.1.
func (r *replay) expectError(to, code, seqID, action string) {
	r.t.Helper()
	r.expect(to, exError, "", where{"data.error_code": code, "data.original_seq_id": seqID, "data.original_action": action})
}

// relayed is the server's form of a relayed signal as §4.3 and §4.4 show
// it: target_user_id replaced by the sender's from_user_id, the rest as
// sent.
func relayed(t *testing.T, request string) map[string]any {
	env := docEnvelope(t, request)
	data := env["data"].(map[string]any)
	delete(data, "target_user_id")
	data["from_user_id"] = env["user_id"]
	delete(env, "user_id")
	env["timestamp"] = "2024-01-01T12:00:00.050Z"
	return env
}

// marshalJSON is json.Marshal for the test's own values.
func marshalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRelayedFormMatchesDocument checks the rule relayed applies against
// the two relays the document shows, before it is used for the one it
// does not (SDP_ANSWER).
func TestRelayedFormMatchesDocument(t *testing.T) {
	for _, tc := range []struct{ request, reply string }{{exSDPOffer, exSDPOfferRelayed}, {exICECandidate, exICECandidateRelayed}} {
		if got, want := relayed(t, tc.request), docEnvelope(t, tc.reply); !reflect.DeepEqual(got, want) {
			t.Errorf("relayed(%s) = %v, the document has %v", oneLine(tc.request), got, want)
		}
	}
}

// TestProtocolConformance replays every client → server envelope of the
// document, in its order, as clients that follow the document send them
// (their extra user_id and timestamp fields kept), with users 123 (alice)
// and 124 (bob) on two edges and 125 (carol), and checks every server →
// client envelope the document shows: the same action, field names and
// JSON types, the seq_id echoed where the document echoes it, and the
// values the document's exchange determines. Each error code of §6.2 is
// produced by the situation the document names.
func TestProtocolConformance(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Presence.OfflineGrace = 200 * time.Millisecond
	addrs, _ := startStandalone(t, cfg)
	edgeA := addrs.Edge.String()
	lisB := listen(t, "127.0.0.1:0")
	edgeB := lisB.Addr().String()
	runPart(t, func(ctx context.Context) error {
		return edge.Run(ctx, edge.Config{Listener: lisB, EdgeID: "edge-b", AuthAddr: addrs.Auth.String(), ChatAddr: addrs.Chat.String(),
			PresenceAddr: addrs.Presence.String(), SignalingAddr: addrs.Signaling.String(), RPCTimeout: 2 * time.Second, Logger: testLogger(t)})
	})
	conn := func(addr string) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	chatConn := conn(addrs.Chat.String())
	chatAdmin := chatv1.NewChatAdminServiceClient(chatConn)
	// The document's chat room 1; room 2 holds one member (ROOM_FULL);
	// carol is banned from room 3 (USER_BLOCKED).
	createRoom(t, chatAdmin, &chatv1.CreateRoomRequest{Id: 1, Name: "general"})
	createRoom(t, chatAdmin, &chatv1.CreateRoomRequest{Id: 2, Name: "pair", MaxMembers: 1})
	createRoom(t, chatAdmin, &chatv1.CreateRoomRequest{Id: 3, Name: "moderated"})
	adminCall(t, chatAdmin.BanMember, &chatv1.BanMemberRequest{RoomId: 3, UserId: 125})
	advanceVideoRoomIDs(t, chatConn, conn(addrs.Signaling.String()), 200)

	r := &replay{t: t, parties: map[string]*client{}}

	// §1.2 The structure of every envelope, sent as printed: its "{ ... }"
	// placeholder is no JSON (INVALID_DATA, wrong data format); with an
	// empty object in its place, ACTION_TYPE is no action (INVALID_ACTION,
	// an action not supported). Neither needs CONNECT, and the connection
	// stays open.
	cl := dialEdge(t, edgeA, "alice-first")
	cl.presence = true
	r.parties["alice-first"] = cl
	r.send("alice-first", oneLine(exEnvelope))
	r.expectError("alice-first", "INVALID_DATA", "", "")
	r.send("alice-first", oneLine(strings.Replace(exEnvelope, "{ ... }", "{}", 1)))
	r.expectError("alice-first", "INVALID_ACTION", "unique_sequence_id", "ACTION_TYPE")

	// §2.1 CONNECT as printed: its token is a placeholder, refused as the
	// document's failure shows (INVALID_TOKEN), and the server closes.
	r.send("alice-first", oneLine(exConnect))
	r.expect("alice-first", exConnectError, exConnect, where{"data.error_code": "INVALID_TOKEN"}, "data.error_code")
	cl.expectClosed()
	// With tokens of the backend: alice and carol on one edge, bob on the
	// other.
	r.party("alice", edgeA, 123, "사용자1", nil)
	r.party("bob", edgeB, 124, "참가자", nil)
	r.party("carol", edgeA, 125, "user125", nil)

	// §2.2 Heartbeat.
	r.send("alice", oneLine(exPing))
	r.expect("alice", exPong, exPing, nil)

	// §3.1 Joining a room: bob and carol are members already (so they are
	// told), alice joins with the document's request.
	r.send("bob", variant(t, exJoinRoom, func(env map[string]any) { env["user_id"] = 124; env["seq_id"] = "join_bob" }))
	r.send("carol", variant(t, exJoinRoom, func(env map[string]any) { env["user_id"] = 125; env["seq_id"] = "join_carol" }))
	r.expect("bob", exJoinRoomSuccess, "", where{"seq_id": "join_bob"})
	r.expect("carol", exJoinRoomSuccess, "", where{"seq_id": "join_carol"})
	r.send("alice", oneLine(exJoinRoom))
	r.expect("alice", exJoinRoomSuccess, exJoinRoom, nil, "data.chatroom_id")
	for _, member := range []string{"bob", "carol"} {
		r.expect(member, exUserJoined, exJoinRoom, where{"data.user_id": json.Number("123")}, "data.chatroom_id", "data.user_id", "data.nickname")
	}

	// §3.2 A message, to every member, the sender's copy its ack.
	r.send("alice", oneLine(exSendMessage))
	for _, member := range []string{"alice", "bob", "carol"} {
		r.expect(member, exNewMessage, exSendMessage, nil,
			"data.chatroom_id", "data.user_id", "data.nickname", "data.content", "data.message_type")
	}

	// §3.3 Leaving: the others are told.
	r.send("alice", oneLine(exLeaveRoom))
	for _, member := range []string{"bob", "carol"} {
		r.expect(member, exUserLeft, exLeaveRoom, where{"data.user_id": json.Number("123")}, "data.chatroom_id", "data.user_id", "data.nickname")
	}
	// alice joins again (§3.1's request once more): the video room of §4
	// is created in room 1, whose members may create one.
	r.send("alice", oneLine(exJoinRoom))
	r.expect("alice", exJoinRoomSuccess, exJoinRoom, nil)

	// §4.1 The video room: announced to the chat room's members with the
	// creator's seq_id; the server gives it the document's id, 200.
	r.send("alice", oneLine(exCreateVideoRoom))
	for _, member := range []string{"alice", "bob", "carol"} {
		r.expect(member, exVideoRoomCreated, exCreateVideoRoom, nil,
			"data.video_room_id", "data.chatroom_id", "data.video_room_name", "data.host_user_id", "data.max_participants")
	}
	// §4.2 bob joins, on the other edge: every participant is told, the
	// host alice included (she is in the room she created).
	r.send("bob", oneLine(exJoinVideoRoom))
	for _, participant := range []string{"bob", "alice"} {
		r.expect(participant, exVideoParticipantJoined, exJoinVideoRoom, nil,
			"data.video_room_id", "data.user_id", "data.nickname", "data.media_status", "data.participants_count")
	}
	// §4.3 The offer reaches its target only, from_user_id in place of
	// target_user_id; the answer goes back the same way (the document
	// shows its request, not its delivery).
	r.send("alice", oneLine(exSDPOffer))
	r.expect("bob", exSDPOfferRelayed, exSDPOffer, nil, "data.video_room_id", "data.from_user_id", "data.sdp")
	r.send("bob", oneLine(exSDPAnswer))
	answer := marshalJSON(t, relayed(t, exSDPAnswer))
	r.expect("alice", answer, exSDPAnswer, nil, "data.video_room_id", "data.from_user_id", "data.sdp")
	// §4.4 A candidate.
	r.send("alice", oneLine(exICECandidate))
	r.expect("bob", exICECandidateRelayed, exICECandidate, nil, "data.video_room_id", "data.from_user_id", "data.candidate")
	// §4.5 Media status, to every participant.
	r.send("alice", oneLine(exMediaStatusChange))
	for _, participant := range []string{"alice", "bob"} {
		r.expect(participant, exParticipantMediaChanged, exMediaStatusChange, nil,
			"data.video_room_id", "data.user_id", "data.nickname", "data.media_status")
	}
	// (added) Leaving the call: the last one out closes the room.
	r.send("bob", `{"action":"LEAVE_VIDEO_ROOM","data":{"video_room_id":200},"seq_id":"video_leave_001","user_id":124}`)
	r.expect("alice", `{"action":"VIDEO_PARTICIPANT_LEFT","data":{"video_room_id":200,"user_id":124,"nickname":"참가자","participants_count":1,"reason":"left"},"timestamp":"2024-01-01T12:00:00.100Z","seq_id":"s-1"}`,
		"", nil, "data.video_room_id", "data.user_id", "data.participants_count")
	r.send("alice", `{"action":"LEAVE_VIDEO_ROOM","data":{"video_room_id":200},"seq_id":"video_leave_002","user_id":123}`)
	for _, member := range []string{"bob", "carol"} {
		r.expect(member, `{"action":"VIDEO_ROOM_CLOSED","data":{"video_room_id":200,"chatroom_id":1,"reason":"empty"},"timestamp":"2024-01-01T12:00:00.100Z","seq_id":"s-1"}`,
			"", nil, "data.video_room_id", "data.chatroom_id", "data.reason")
	}

	// §5.1 carol goes offline: the users who share a room with her are
	// told, with her last_seen.
	r.parties["carol"].conn.Close()
	for _, user := range []string{"alice", "bob"} {
		r.expect(user, exUserStatusChanged, "", where{"data.user_id": json.Number("125"), "data.is_online": false}, "data.is_online")
	}
	// §5.2 An announcement, sent through the admin API, to everyone.
	announcement := docEnvelope(t, exServerAnnouncement)["data"].(map[string]any)
	adminCall(t, presencev1.NewPresenceAdminServiceClient(conn(addrs.Presence.String())).Announce, &presencev1.AnnounceRequest{
		Announcement: &presencev1.Announcement{Title: announcement["title"].(string), Message: announcement["message"].(string),
			Type: announcement["type"].(string), Priority: announcement["priority"].(string)}})
	for _, user := range []string{"alice", "bob"} {
		r.expect(user, exServerAnnouncement, "", nil, "data.title", "data.message", "data.type", "data.priority")
	}

	// §6 Errors, each code of §6.2 in the situation the document names.
	// INVALID_TOKEN, INVALID_ACTION and INVALID_DATA came above. carol is
	// back, asking for compressed envelopes (§7.1).
	r.party("carol", edgeA, 125, "user125", map[string]any{"compression": "gzip"})
	// ROOM_NOT_FOUND: no such chat room.
	r.send("alice", variant(t, exJoinRoom, setData("chatroom_id", 404)))
	r.expectError("alice", "ROOM_NOT_FOUND", "join_001", "JOIN_ROOM")
	// PERMISSION_DENIED: the document's message sent by bob, who is not
	// the user_id it names.
	r.send("bob", oneLine(exSendMessage))
	r.expectError("bob", "PERMISSION_DENIED", "msg_001", "SEND_MESSAGE")
	// USER_BLOCKED: carol is banned from room 3.
	r.send("carol", variant(t, exJoinRoom, func(env map[string]any) { env["user_id"] = 125; setData("chatroom_id", 3)(env) }))
	r.expectError("carol", "USER_BLOCKED", "join_001", "JOIN_ROOM")
	// ROOM_FULL: room 2 holds one member, bob.
	r.send("bob", variant(t, exJoinRoom, func(env map[string]any) { env["user_id"] = 124; setData("chatroom_id", 2)(env) }))
	r.expect("bob", exJoinRoomSuccess, exJoinRoom, where{"data.chatroom_id": json.Number("2")})
	r.send("carol", variant(t, exJoinRoom, func(env map[string]any) { env["user_id"] = 125; setData("chatroom_id", 2)(env) }))
	r.expectError("carol", "ROOM_FULL", "join_001", "JOIN_ROOM")
	// VIDEO_ROOM_FULL: bob's call for two, alice in it.
	r.send("bob", variant(t, exCreateVideoRoom, func(env map[string]any) { env["user_id"] = 124; setData("max_participants", 2)(env) }))
	r.expect("bob", exVideoRoomCreated, exCreateVideoRoom, where{"data.video_room_id": json.Number("201"), "data.max_participants": json.Number("2")})
	r.send("alice", variant(t, exJoinVideoRoom, func(env map[string]any) { env["user_id"] = 123; setData("video_room_id", 201)(env) }))
	r.expect("alice", exVideoParticipantJoined, exJoinVideoRoom, where{"data.video_room_id": json.Number("201")})
	r.send("carol", variant(t, exJoinVideoRoom, func(env map[string]any) { env["user_id"] = 125; setData("video_room_id", 201)(env) }))
	r.expectError("carol", "VIDEO_ROOM_FULL", "video_join_001", "JOIN_VIDEO_ROOM")

	// §7.1 Compression. As printed, "gzipped_json_data" is no gzip
	// (INVALID_DATA); with the gzip of §3.2's data in its place it is
	// §3.2's message.
	r.send("alice", oneLine(exCompressed))
	r.expectError("alice", "INVALID_DATA", "msg_001", "SEND_MESSAGE")
	compressed := docEnvelope(t, exCompressed)
	compressed["data"] = gz(t, []byte(marshalJSON(t, docEnvelope(t, exSendMessage)["data"])))
	r.send("alice", marshalJSON(t, compressed))
	for _, member := range []string{"alice", "bob"} {
		r.expect(member, exNewMessage, exSendMessage, nil, "data.content", "data.user_id")
	}
	// The server compresses for carol, who asked, what exceeds 4 KiB.
	long := strings.Repeat("가", 2000)
	r.send("alice", variant(t, exSendMessage, func(env map[string]any) { setData("content", long)(env); env["seq_id"] = "msg_long" }))
	env := r.expect("carol", `{"action":"NEW_MESSAGE","data":"H4sI...","compressed":true,"timestamp":"2024-01-01T12:00:00.100Z","seq_id":"msg_long"}`,
		"", where{"seq_id": "msg_long"}, "compressed")
	data, err := decodeJSON(string(inflateString(t, env["data"].(string))))
	if err != nil {
		t.Fatalf("carol's compressed NEW_MESSAGE data: %v", err)
	}
	want, _ := decodeJSON(messageModel)
	for _, p := range conform("data", want, data) {
		t.Errorf("carol's compressed NEW_MESSAGE: %s", p)
	}
	if data["content"] != long {
		t.Errorf("carol's compressed NEW_MESSAGE inflates to content of %d bytes, want the %d sent", len(fmt.Sprint(data["content"])), len(long))
	}

	// §7.2 Batches. bob has a second session that asked for them: the
	// history of a room comes as a batch, and so do messages that arrive
	// together.
	r.party("bob-batch", edgeB, 124, "참가자", map[string]any{"batch": true})
	r.send("bob-batch", variant(t, exJoinRoom, func(env map[string]any) { env["user_id"] = 124; setData("since_message_id", 0)(env) }))
	r.expect("bob-batch", exBatchMessages, "", where{"seq_id": "join_001"})
	// The document's batch as printed holds comments, no JSON
	// (INVALID_DATA); with three messages in place of its placeholders
	// each is sent, in order, and echoed with "<seq_id>:<index>".
	r.send("alice", oneLine(exBatchMessages))
	r.expectError("alice", "INVALID_DATA", "", "")
	batch := docEnvelope(t, exBatchMessages)
	var items []any
	for _, content := range []string{"하나", "둘", "셋"} {
		items = append(items, map[string]any{"chatroom_id": 1, "content": content, "message_type": "text"})
	}
	batch["data"].(map[string]any)["messages"] = items
	r.send("alice", marshalJSON(t, batch))
	for i, content := range []string{"하나", "둘", "셋"} {
		seq := fmt.Sprintf("batch_001:%d", i)
		r.expect("alice", exNewMessage, "", where{"seq_id": seq, "data.content": content})
		r.expect("bob", exNewMessage, "", where{"seq_id": seq, "data.content": content})
	}
	// The three arrive coalesced (in one batch, or more when the batch
	// window ends between them), in order.
	var coalesced []any
	for len(coalesced) < 3 {
		got := r.expect("bob-batch", exBatchMessages, "", nil)
		for _, m := range got["data"].(map[string]any)["messages"].([]any) {
			coalesced = append(coalesced, m.(map[string]any)["content"])
		}
	}
	if want := []any{"하나", "둘", "셋"}; !reflect.DeepEqual(coalesced, want) {
		t.Errorf("bob's batching session got %v coalesced, want %v", coalesced, want)
	}
}

// advanceVideoRoomIDs creates and closes video rooms, in a chat room of
// their own, until the next one created gets the id next: the document's
// video room is 200, and the replay sends that id as printed.
func advanceVideoRoomIDs(t *testing.T, chatConn, signalingConn *grpc.ClientConn, next int64) {
	t.Helper()
	const room, user = 99, 999
	createRoom(t, chatv1.NewChatAdminServiceClient(chatConn), &chatv1.CreateRoomRequest{Id: room, Name: "ids"})
	adminCall(t, chatv1.NewChatServiceClient(chatConn).JoinRoom, &chatv1.JoinRoomRequest{RoomId: room, UserId: user, Nickname: "ids"})
	api := signalingv1.NewSignalingServiceClient(signalingConn)
	admin := signalingv1.NewSignalingAdminServiceClient(signalingConn)
	caller := &signalingv1.Caller{EdgeId: "ids", SessionId: "ids", UserId: user}
	for {
		created := adminCall(t, api.CreateVideoRoom, &signalingv1.CreateVideoRoomRequest{Caller: caller, ChatroomId: room, Name: "ids"})
		id := created.GetRoom().GetVideoRoomId()
		adminCall(t, admin.CloseVideoRoom, &signalingv1.CloseVideoRoomRequest{VideoRoomId: id})
		if id >= next-1 {
			if id != next-1 {
				t.Fatalf("video room ids are past %d already (%d)", next, id)
			}
			return
		}
	}
}

// TestConformDetectsChanges checks that the shape check fails on what the
// suite must catch: a field renamed, retyped, missing, or a time in
// another form; and passes the document's own envelopes and additions.
func TestConformDetectsChanges(t *testing.T) {
	doc := docEnvelope(t, exVideoRoomCreated)
	for _, ex := range protocolExamples {
		if ex.dir == toClient {
			env := withMessageModel(t, docEnvelope(t, ex.text))
			if p := conform("envelope", env, env); len(p) > 0 {
				t.Errorf("%s %s against itself: %v", ex.section, ex.name, p)
			}
		}
	}
	tests := []struct {
		name string
		edit func(env, data map[string]any)
		ok   bool
	}{
		{"a field added", func(_, data map[string]any) { data["ice_servers"] = []any{} }, true},
		{"an id as a string", func(_, data map[string]any) { data["video_room_id"] = "vr_dd99" }, false},
		{"an id as a fraction", func(_, data map[string]any) { data["video_room_id"] = json.Number("200.5") }, false},
		{"a field renamed", func(_, data map[string]any) { data["host_id"] = data["host_user_id"]; delete(data, "host_user_id") }, false},
		{"a number as a string", func(_, data map[string]any) { data["max_participants"] = "10" }, false},
		{"a timestamp in another form", func(env, _ map[string]any) { env["timestamp"] = "2024-01-01T12:00:00Z" }, false},
		{"seq_id a number", func(env, _ map[string]any) { env["seq_id"] = json.Number("1") }, false},
		{"data a string", func(env, _ map[string]any) { env["data"] = "{}" }, false},
	}
	for _, tc := range tests {
		got := docEnvelope(t, exVideoRoomCreated)
		if data, ok := got["data"].(map[string]any); ok {
			tc.edit(got, data)
		}
		if p := conform("envelope", doc, got); (len(p) == 0) != tc.ok {
			t.Errorf("conform(%s) = %v, want ok %v", tc.name, p, tc.ok)
		}
	}
}
