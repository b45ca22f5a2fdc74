package standalone

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// chatStack is a standalone for the chat rules, with an admin client.
type chatStack struct {
	t     *testing.T
	edge  string
	admin chatv1.ChatAdminServiceClient
}

func startChat(t *testing.T, tune func(*Config)) *chatStack {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	if tune != nil {
		tune(&cfg)
	}
	addrs, _ := startStandalone(t, cfg)
	return &chatStack{t: t, edge: addrs.Edge.String(), admin: adminClient(t, addrs.Chat.String())}
}

func (s *chatStack) room(req *chatv1.CreateRoomRequest) { createRoom(s.t, s.admin, req) }

// user connects a new session of user id with the given CONNECT options.
func (s *chatStack) user(id int64, opts map[string]any) *client {
	s.t.Helper()
	c := dialEdge(s.t, s.edge, fmt.Sprint("u", id))
	data := map[string]any{"jwt_token": mint(s.t, id, fmt.Sprint("nick", id), time.Hour)}
	for k, v := range opts {
		data[k] = v
	}
	c.expect("CONNECT_SUCCESS", c.send("CONNECT", data))
	return c
}

func (c *client) join(room int64) envelope {
	c.t.Helper()
	return c.expect("JOIN_ROOM_SUCCESS", c.send("JOIN_ROOM", map[string]any{"chatroom_id": room}))
}

func (c *client) say(room int64, content string) envelope {
	c.t.Helper()
	return c.expect("NEW_MESSAGE", c.send("SEND_MESSAGE", map[string]any{"chatroom_id": room, "content": content}))
}

func adminCall[Req, Resp any](t *testing.T, call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) Resp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := call(ctx, req)
	if err != nil {
		t.Fatalf("admin %T: %v", req, err)
	}
	return resp
}

func TestMembershipRules(t *testing.T) {
	s := startChat(t, nil)
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "open", MaxMembers: 3})
	s.room(&chatv1.CreateRoomRequest{Id: 2, Name: "invite only", InviteOnly: true})
	a, b, c, d := s.user(501, nil), s.user(502, nil), s.user(503, nil), s.user(504, nil)

	a.expectError("ROOM_NOT_FOUND", a.send("JOIN_ROOM", map[string]any{"chatroom_id": 99}), "JOIN_ROOM")
	a.expectError("PERMISSION_DENIED", a.send("JOIN_ROOM", map[string]any{"chatroom_id": 2}), "JOIN_ROOM")
	adminCall(t, s.admin.InviteMember, &chatv1.InviteMemberRequest{RoomId: 2, UserId: 501})
	a.join(2)

	a.join(1)
	b.join(1)
	a.expect("USER_JOINED", "")
	c.join(1)
	a.expect("USER_JOINED", "")
	b.expect("USER_JOINED", "")
	d.expectError("ROOM_FULL", d.send("JOIN_ROOM", map[string]any{"chatroom_id": 1}), "JOIN_ROOM")
	d.expectError("PERMISSION_DENIED", d.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "x"}), "SEND_MESSAGE")

	// Joining twice is idempotent and broadcasts nothing.
	if j := b.join(1); num(j.Data["participants_count"]) != 3 {
		t.Errorf("second JOIN_ROOM_SUCCESS = %s, want 3 participants", j.raw)
	}
	a.expectSilence(200 * time.Millisecond)

	// Kick: everyone in the room, the kicked user included, is told.
	adminCall(t, s.admin.KickMember, &chatv1.KickMemberRequest{RoomId: 1, UserId: 503})
	for _, cl := range []*client{a, b, c} {
		if l := cl.expect("USER_LEFT", ""); num(l.Data["user_id"]) != 503 || l.Data["reason"] != "kicked" || num(l.Data["participants_count"]) != 2 {
			t.Errorf("%s: USER_LEFT = %s, want user 503 kicked, 2 left", cl.name, l.raw)
		}
	}
	a.say(1, "after the kick")
	b.expect("NEW_MESSAGE", "")
	c.expectSilence(200 * time.Millisecond)

	// Ban: the member is removed and cannot come back until unbanned.
	adminCall(t, s.admin.BanMember, &chatv1.BanMemberRequest{RoomId: 1, UserId: 502})
	for _, cl := range []*client{a, b} {
		if l := cl.expect("USER_LEFT", ""); num(l.Data["user_id"]) != 502 || l.Data["reason"] != "banned" {
			t.Errorf("%s: USER_LEFT = %s, want user 502 banned", cl.name, l.raw)
		}
	}
	b.expectError("USER_BLOCKED", b.send("JOIN_ROOM", map[string]any{"chatroom_id": 1}), "JOIN_ROOM")
	b.expectError("PERMISSION_DENIED", b.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "x"}), "SEND_MESSAGE")
	adminCall(t, s.admin.UnbanMember, &chatv1.UnbanMemberRequest{RoomId: 1, UserId: 502})
	b.join(1)
	a.expect("USER_JOINED", "")

	// Delete: members are told, the room is gone.
	adminCall(t, s.admin.DeleteRoom, &chatv1.DeleteRoomRequest{Id: 1})
	for _, cl := range []*client{a, b} {
		if e := cl.expect("ROOM_DELETED", ""); num(e.Data["chatroom_id"]) != 1 {
			t.Errorf("%s: ROOM_DELETED = %s, want room 1", cl.name, e.raw)
		}
	}
	a.expectError("ROOM_NOT_FOUND", a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "x"}), "SEND_MESSAGE")
}

func TestBlocks(t *testing.T) {
	s := startChat(t, nil)
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a, b, c := s.user(601, nil), s.user(602, map[string]any{"batch": true}), s.user(603, nil)
	for _, cl := range []*client{a, b, c} {
		cl.join(1)
	}
	a.expect("USER_JOINED", "")
	a.expect("USER_JOINED", "")
	b.expect("USER_JOINED", "")

	// 601 blocks 602 and 602's batching session blocks 603.
	adminCall(t, s.admin.BlockUser, &chatv1.BlockUserRequest{UserId: 601, BlockedUserId: 602})
	adminCall(t, s.admin.BlockUser, &chatv1.BlockUserRequest{UserId: 602, BlockedUserId: 603})
	b.say(1, "from 602")
	c.expect("NEW_MESSAGE", "")
	c.say(1, "from 603")
	if m := a.expect("NEW_MESSAGE", ""); m.Data["content"] != "from 603" {
		t.Errorf("601 got %s, want only 603's message (602 is blocked)", m.raw)
	}
	b.expectSilence(300 * time.Millisecond) // 602 blocks 603, even coalesced

	// History leaves out the blocked sender's messages too.
	seq := a.send("GET_MESSAGES", map[string]any{"chatroom_id": 1})
	h := a.expect("MESSAGES", seq)
	for _, m := range h.Data["messages"].([]any) {
		if num(m.(map[string]any)["user_id"]) == 602 {
			t.Errorf("601's history has a message of blocked 602: %s", h.raw)
		}
	}

	adminCall(t, s.admin.UnblockUser, &chatv1.UnblockUserRequest{UserId: 601, BlockedUserId: 602})
	b.say(1, "602 again")
	if m := a.expect("NEW_MESSAGE", ""); m.Data["content"] != "602 again" {
		t.Errorf("after unblock 601 got %s, want 602's message", m.raw)
	}
	c.expect("NEW_MESSAGE", "")
}

func TestContentValidation(t *testing.T) {
	s := startChat(t, func(cfg *Config) {
		cfg.Chat.MaxContentChars = 30
		cfg.Chat.BannedPatterns = []string{`(?i)buy\s+cheap`}
	})
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a, b := s.user(701, nil), s.user(702, nil)
	a.join(1)
	b.join(1)
	a.expect("USER_JOINED", "")

	tests := []struct {
		name string
		data map[string]any
	}{
		{"empty", map[string]any{"content": ""}},
		{"31 characters", map[string]any{"content": strings.Repeat("가", 31)}},
		{"control character", map[string]any{"content": "bell\u0007"}},
		{"image over http", map[string]any{"content": "http://x.test/a.png", "message_type": "image"}},
		{"file not a URL", map[string]any{"content": "report.pdf", "message_type": "file"}},
		{"unknown type", map[string]any{"content": "hi", "message_type": "video"}},
		{"system from a client", map[string]any{"content": "hi", "message_type": "system"}},
		{"banned pattern", map[string]any{"content": "BUY  cheap now"}},
	}
	for _, tt := range tests {
		tt.data["chatroom_id"] = 1
		a.expectError("INVALID_DATA", a.send("SEND_MESSAGE", tt.data), "SEND_MESSAGE")
	}
	// Invalid UTF-8 cannot be expressed in JSON text: it is refused as a frame.
	a.sendRaw("{\"action\":\"SEND_MESSAGE\",\"data\":{\"chatroom_id\":1,\"content\":\"\xff\xfe\"},\"seq_id\":\"bad-utf8\"}")
	if e := a.expect("ERROR", ""); e.Data["error_code"] != "INVALID_DATA" {
		t.Errorf("invalid UTF-8: got %s, want INVALID_DATA", e.raw)
	}
	b.expectSilence(200 * time.Millisecond) // nothing delivered

	// Accepted: exactly at the limit, with \n and \t, an https image, an emoji.
	for _, d := range []map[string]any{
		{"content": strings.Repeat("가", 30)},
		{"content": "line\n\ttab"},
		{"content": "https://cdn.test/a.png", "message_type": "image"},
		{"content": "🎉", "message_type": "emoji"},
	} {
		d["chatroom_id"] = 1
		a.expect("NEW_MESSAGE", a.send("SEND_MESSAGE", d))
		b.expect("NEW_MESSAGE", "")
	}
	// Nothing refused was stored: the history holds the four accepted ones.
	h := a.expect("MESSAGES", a.send("GET_MESSAGES", map[string]any{"chatroom_id": 1}))
	if msgs := h.Data["messages"].([]any); len(msgs) != 4 {
		t.Errorf("history = %s, want the 4 accepted messages", h.raw)
	}
}

func TestRateLimit(t *testing.T) {
	s := startChat(t, func(cfg *Config) {
		cfg.Chat.RateLimit = 0.001 // no refill during the test
		cfg.Chat.RateBurst = 3
	})
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a, b := s.user(801, nil), s.user(802, nil)
	a.join(1)
	b.join(1)
	a.expect("USER_JOINED", "")
	for i := range 3 {
		a.say(1, fmt.Sprint("ok ", i))
		b.expect("NEW_MESSAGE", "")
	}
	a.expectError("RATE_LIMITED", a.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "too many"}), "SEND_MESSAGE")

	// Every item of a batch counts.
	seq := b.send("BATCH_MESSAGES", map[string]any{"messages": []any{
		map[string]any{"chatroom_id": 1, "content": "1"}, map[string]any{"chatroom_id": 1, "content": "2"},
		map[string]any{"chatroom_id": 1, "content": "3"}, map[string]any{"chatroom_id": 1, "content": "4"},
	}})
	for i := range 3 {
		b.expect("NEW_MESSAGE", fmt.Sprintf("%s:%d", seq, i))
	}
	b.expectError("RATE_LIMITED", seq+":3", "BATCH_MESSAGES")
}

func TestClientBatch(t *testing.T) {
	s := startChat(t, nil)
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a, b := s.user(901, nil), s.user(902, nil)
	a.join(1)
	b.join(1)
	a.expect("USER_JOINED", "")

	seq := a.send("BATCH_MESSAGES", map[string]any{"messages": []any{
		map[string]any{"chatroom_id": 1, "content": "first", "seq_id": "mine"},
		map[string]any{"chatroom_id": 1, "content": ""}, // refused, the rest goes on
		map[string]any{"chatroom_id": 1, "content": "third", "message_type": "emoji"},
		map[string]any{"chatroom_id": 99, "content": "no such room"},
		map[string]any{"chatroom_id": 1, "content": "fifth"},
	}})
	first := a.expect("NEW_MESSAGE", "mine")
	a.expectError("INVALID_DATA", seq+":1", "BATCH_MESSAGES")
	third := a.expect("NEW_MESSAGE", seq+":2")
	a.expectError("ROOM_NOT_FOUND", seq+":3", "BATCH_MESSAGES")
	fifth := a.expect("NEW_MESSAGE", seq+":4")
	if !(num(first.Data["message_id"]) < num(third.Data["message_id"]) && num(third.Data["message_id"]) < num(fifth.Data["message_id"])) {
		t.Errorf("message ids %v %v %v not in item order", first.Data["message_id"], third.Data["message_id"], fifth.Data["message_id"])
	}
	for _, want := range []string{"first", "third", "fifth"} {
		if m := b.expect("NEW_MESSAGE", ""); m.Data["content"] != want {
			t.Errorf("other member got %s, want %q", m.raw, want)
		}
	}

	for _, n := range []int{0, 101} {
		items := make([]any, n)
		for i := range items {
			items[i] = map[string]any{"chatroom_id": 1, "content": "x"}
		}
		a.expectError("INVALID_DATA", a.send("BATCH_MESSAGES", map[string]any{"messages": items}), "BATCH_MESSAGES")
	}
	items := make([]any, 100)
	for i := range items {
		items[i] = map[string]any{"chatroom_id": 1, "content": fmt.Sprint(i)}
	}
	seq = a.send("BATCH_MESSAGES", map[string]any{"messages": items})
	for i := range 100 {
		a.expect("NEW_MESSAGE", fmt.Sprintf("%s:%d", seq, i))
	}
	for i := range 100 {
		if m := b.expect("NEW_MESSAGE", ""); m.Data["content"] != fmt.Sprint(i) {
			t.Fatalf("other member got %s, want item %d in order", m.raw, i)
		}
	}
}

// gz returns the base64 of the gzip of b, as compressed envelopes carry it.
func gz(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// inflate decodes a compressed server envelope's data.
func inflate(t *testing.T, env envelope) map[string]any {
	t.Helper()
	var raw struct {
		Data       string `json:"data"`
		Compressed bool   `json:"compressed"`
	}
	if err := json.Unmarshal([]byte(env.raw), &raw); err != nil || !raw.Compressed {
		t.Fatalf("%s: not a compressed envelope (%v)", env.raw[:min(len(env.raw), 200)], err)
	}
	var data map[string]any
	if err := json.Unmarshal(inflateString(t, raw.Data), &data); err != nil {
		t.Fatal(err)
	}
	return data
}

// inflateString decodes the base64 of gzip data.
func inflateString(t *testing.T, s string) []byte {
	t.Helper()
	z, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func TestCompression(t *testing.T) {
	s := startChat(t, nil)
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	a := s.user(1001, map[string]any{"compression": "gzip"})
	b := s.user(1002, nil)
	a.join(1)
	b.join(1)
	a.expect("USER_JOINED", "")

	// Client → server: a compressed SEND_MESSAGE.
	data, _ := json.Marshal(map[string]any{"chatroom_id": 1, "content": "squeezed"})
	a.sendRaw(fmt.Sprintf(`{"action":"SEND_MESSAGE","compressed":true,"data":%q,"seq_id":"z1"}`, gz(t, data)))
	if m := a.expect("NEW_MESSAGE", "z1"); m.Data["content"] != "squeezed" {
		t.Errorf("echo of a compressed SEND_MESSAGE = %s", m.raw)
	}
	b.expect("NEW_MESSAGE", "")

	// A gzip bomb: 2 MiB of zeros inflates past the 1 MiB limit.
	bomb, _ := json.Marshal(map[string]any{"chatroom_id": 1, "content": strings.Repeat("0", 2<<20)})
	a.sendRaw(fmt.Sprintf(`{"action":"SEND_MESSAGE","compressed":true,"data":%q,"seq_id":"bomb"}`, gz(t, bomb)))
	a.expectError("INVALID_DATA", "bomb", "SEND_MESSAGE")
	a.sendRaw(`{"action":"SEND_MESSAGE","compressed":true,"data":"not base64!","seq_id":"junk"}`)
	a.expectError("INVALID_DATA", "junk", "SEND_MESSAGE")
	a.expect("PONG", a.send("PING", map[string]any{})) // the session lives

	// Server → client: above 4 KiB only the gzip session gets it compressed.
	big := strings.Repeat("가나다라", 1000) // 4000 characters, 12000 bytes
	seq := b.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": big})
	if m := b.expect("NEW_MESSAGE", seq); m.Data["content"] != big {
		t.Errorf("plain session's echo is not plain: %.200s", m.raw)
	}
	got := a.expect("NEW_MESSAGE", "")
	if d := inflate(t, got); d["content"] != big || num(d["user_id"]) != 1002 {
		t.Errorf("compressed NEW_MESSAGE inflates to %v", d["user_id"])
	}
	// Small envelopes stay plain even for the gzip session.
	b.say(1, "small")
	if m := a.expect("NEW_MESSAGE", ""); m.Data["content"] != "small" {
		t.Errorf("small NEW_MESSAGE to the gzip session = %s, want plain", m.raw)
	}
}

func TestServerBatching(t *testing.T) {
	s := startChat(t, nil)
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	sender := s.user(1101, nil)
	batcher := s.user(1102, map[string]any{"batch": true})
	sender.join(1)
	batcher.join(1)
	sender.expect("USER_JOINED", "")

	items := make([]any, 100)
	for i := range items {
		items[i] = map[string]any{"chatroom_id": 1, "content": fmt.Sprint("burst ", i)}
	}
	seq := sender.send("BATCH_MESSAGES", map[string]any{"messages": items})
	for i := range 100 {
		sender.expect("NEW_MESSAGE", fmt.Sprintf("%s:%d", seq, i))
	}
	var got []string
	batches := 0
	for len(got) < 100 {
		env := batcher.expect("BATCH_MESSAGES", "")
		batches++
		msgs := env.Data["messages"].([]any)
		if len(msgs) > 64 {
			t.Errorf("a coalesced batch holds %d messages, want at most 64", len(msgs))
		}
		for _, m := range msgs {
			got = append(got, m.(map[string]any)["content"].(string))
		}
	}
	for i, c := range got {
		if c != fmt.Sprint("burst ", i) {
			t.Fatalf("coalesced message %d = %q, want in order", i, c)
		}
	}
	if batches >= 100 {
		t.Errorf("%d batches for 100 messages: nothing was coalesced", batches)
	}
	// The batching session's own requests are answered on their own.
	batcher.say(1, "mine")
	sender.expect("NEW_MESSAGE", "")
}

func TestHistoryPaging(t *testing.T) {
	s := startChat(t, func(cfg *Config) { cfg.Chat.RateLimit = 0 })
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r"})
	s.room(&chatv1.CreateRoomRequest{Id: 2, Name: "members only"})
	a := s.user(1201, nil)
	a.join(1)
	for batch := range 3 { // 250 messages: ids 1..250
		n := 100
		if batch == 2 {
			n = 50
		}
		items := make([]any, n)
		for i := range items {
			items[i] = map[string]any{"chatroom_id": 1, "content": fmt.Sprint(batch*100 + i + 1)}
		}
		seq := a.send("BATCH_MESSAGES", map[string]any{"messages": items})
		for i := range n {
			a.expect("NEW_MESSAGE", fmt.Sprintf("%s:%d", seq, i))
		}
	}
	ids := func(env envelope) (first, last int64, n int) {
		msgs := env.Data["messages"].([]any)
		if len(msgs) == 0 {
			return 0, 0, 0
		}
		return num(msgs[0].(map[string]any)["message_id"]), num(msgs[len(msgs)-1].(map[string]any)["message_id"]), len(msgs)
	}
	tests := []struct {
		name           string
		data           map[string]any
		first, last, n int64
		hasMore        bool
	}{
		{"newest", map[string]any{}, 201, 250, 50, true},
		{"before 201", map[string]any{"before_message_id": 201, "limit": 100}, 101, 200, 100, true},
		{"before 101", map[string]any{"before_message_id": 101, "limit": 100}, 1, 100, 100, false},
		{"after 200", map[string]any{"after_message_id": 200, "limit": 100}, 201, 250, 50, false},
		{"after 10 limit 5", map[string]any{"after_message_id": 10, "limit": 5}, 11, 15, 5, true},
	}
	for _, tt := range tests {
		tt.data["chatroom_id"] = 1
		env := a.expect("MESSAGES", a.send("GET_MESSAGES", tt.data))
		first, last, n := ids(env)
		if first != tt.first || last != tt.last || int64(n) != tt.n || env.Data["has_more"] != tt.hasMore {
			t.Errorf("GET_MESSAGES %s: ids %d..%d (%d), has_more %v; want %d..%d (%d), %v",
				tt.name, first, last, n, env.Data["has_more"], tt.first, tt.last, tt.n, tt.hasMore)
		}
	}
	// JOIN_ROOM since_message_id replays exactly the later messages, bounded.
	b := s.user(1202, nil)
	seq := b.send("JOIN_ROOM", map[string]any{"chatroom_id": 1, "since_message_id": 120})
	b.expect("JOIN_ROOM_SUCCESS", seq)
	env := b.expect("BATCH_MESSAGES", seq)
	if first, last, n := ids(env); first != 121 || last != 220 || n != 100 || env.Data["has_more"] != true {
		t.Errorf("since 120: ids %d..%d (%d) has_more %v, want 121..220 (100) true", first, last, n, env.Data["has_more"])
	}
	a.expect("USER_JOINED", "")
	b.expectError("PERMISSION_DENIED", b.send("GET_MESSAGES", map[string]any{"chatroom_id": 2}), "GET_MESSAGES")
}

func TestAdminHistorySystemMessagesAndRetention(t *testing.T) {
	s := startChat(t, func(cfg *Config) {
		cfg.Chat.RateLimit = 0
		cfg.Chat.CompactInterval = 50 * time.Millisecond
	})
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "r", RetentionMessages: 5})
	s.room(&chatv1.CreateRoomRequest{Id: 2, Name: "second"})
	list := adminCall(t, s.admin.ListRooms, &chatv1.ListRoomsRequest{})
	if len(list.GetRooms()) != 2 || list.GetRooms()[0].GetId() != 1 || list.GetHasMore() {
		t.Errorf("ListRooms = %v, want rooms 1 and 2", list)
	}
	a := s.user(1301, nil)
	a.join(1)

	sys := adminCall(t, s.admin.PostSystemMessage, &chatv1.PostSystemMessageRequest{RoomId: 1, Content: "maintenance at noon"})
	if m := a.expect("NEW_MESSAGE", ""); m.Data["message_type"] != "system" || num(m.Data["user_id"]) != 0 ||
		num(m.Data["message_id"]) != sys.GetMessage().GetId() {
		t.Errorf("system message = %s", m.raw)
	}
	for i := range 11 {
		a.say(1, fmt.Sprint("m", i))
	}
	// Compaction keeps the newest 5 and never stalls the writes above.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := adminCall(t, s.admin.ListRoomMessages, &chatv1.ListRoomMessagesRequest{RoomId: 1})
		if len(h.GetMessages()) == 5 {
			if got := h.GetMessages()[0].GetContent(); got != "m6" {
				t.Errorf("after compaction the oldest kept is %q, want m6", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention never applied: %d messages kept", len(h.GetMessages()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Ids are never reused.
	if m := a.say(1, "after"); num(m.Data["message_id"]) != 13 {
		t.Errorf("message after compaction has id %v, want 13", m.Data["message_id"])
	}
}

// TestClientMsgIDResend is a sender whose connection broke before its
// acknowledgement came: it reconnects and sends again with the same
// client_msg_id, and the message is stored and delivered once.
func TestClientMsgIDResend(t *testing.T) {
	s := startChat(t, nil)
	s.room(&chatv1.CreateRoomRequest{Id: 1, Name: "resend"})
	a := s.user(1, nil)
	a.join(1)
	b := s.user(2, nil)
	b.join(1)
	a.expect("USER_JOINED", "")

	send := func(c *client, content, id string) string {
		return c.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": content, "client_msg_id": id})
	}
	first := a.expect("NEW_MESSAGE", send(a, "hello", "k-1"))
	if first.Data["client_msg_id"] != "k-1" {
		t.Errorf("ack %s lacks client_msg_id k-1", first.raw)
	}
	if got := b.expect("NEW_MESSAGE", ""); got.Data["client_msg_id"] != "k-1" || got.Data["message_id"] != first.Data["message_id"] {
		t.Errorf("b got %s, want message %v with client_msg_id k-1", got.raw, first.Data["message_id"])
	}

	// The resend, from a new session, is answered with the stored message.
	a.conn.Close()
	a2 := s.user(1, nil)
	again := a2.expect("NEW_MESSAGE", send(a2, "hello", "k-1"))
	if again.Data["message_id"] != first.Data["message_id"] || again.Data["content"] != "hello" || again.Data["duplicate"] != true {
		t.Errorf("resend answered %s, want message %v again, duplicate", again.raw, first.Data["message_id"])
	}
	if _, ok := first.Data["duplicate"]; ok {
		t.Errorf("first ack %s says duplicate", first.raw)
	}
	// b is not told twice: its next message is the next one sent.
	next := a2.expect("NEW_MESSAGE", send(a2, "then", "k-2"))
	if got := b.expect("NEW_MESSAGE", ""); got.Data["message_id"] != next.Data["message_id"] {
		t.Errorf("b got %s, want the next message %v (not the resend)", got.raw, next.Data["message_id"])
	}
	// In a batch too: the resent item is answered as a duplicate.
	a2.send("BATCH_MESSAGES", map[string]any{"messages": []any{
		map[string]any{"chatroom_id": 1, "content": "hello", "client_msg_id": "k-1", "seq_id": "i1"},
		map[string]any{"chatroom_id": 1, "content": "third", "client_msg_id": "k-3", "seq_id": "i2"},
	}})
	if dup := a2.expect("NEW_MESSAGE", "i1"); dup.Data["message_id"] != first.Data["message_id"] || dup.Data["duplicate"] != true {
		t.Errorf("batch item k-1 answered %s, want message %v, duplicate", dup.raw, first.Data["message_id"])
	}
	third := a2.expect("NEW_MESSAGE", "i2")
	if _, ok := third.Data["duplicate"]; ok || third.Data["client_msg_id"] != "k-3" {
		t.Errorf("batch item k-3 answered %s, want a new message", third.raw)
	}
	if got := b.expect("NEW_MESSAGE", ""); got.Data["message_id"] != third.Data["message_id"] {
		t.Errorf("b got %s, want the third message %v only", got.raw, third.Data["message_id"])
	}
	hist := b.expect("MESSAGES", b.send("GET_MESSAGES", map[string]any{"chatroom_id": 1, "after_message_id": 0}))
	if msgs, _ := hist.Data["messages"].([]any); len(msgs) != 3 {
		t.Errorf("history = %s, want the 3 messages, each once", hist.raw)
	}

	// An id that is not a string of at most 64 bytes is refused, naming it.
	for _, bad := range []any{strings.Repeat("x", 65), 7} {
		seq := a2.send("SEND_MESSAGE", map[string]any{"chatroom_id": 1, "content": "x", "client_msg_id": bad})
		env := a2.expectError("INVALID_DATA", seq, "SEND_MESSAGE")
		if msg, _ := env.Data["message"].(string); !strings.Contains(msg, "client_msg_id") {
			t.Errorf("refusal of client_msg_id %v = %s, want it named", bad, env.raw)
		}
	}
}
