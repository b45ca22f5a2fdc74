package edge_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge"
)

// addMembers makes users members of room before they connect, so that
// CONNECT indexes them there without any USER_JOINED traffic.
func (f *fakeChat) addMembers(room int64, users ...int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range users {
		f.rooms[room].members[u] = fmt.Sprintf("nick%d", u)
	}
}

// connectWith dials and authenticates as user id with extra CONNECT data.
func (h *harness) connectWith(id int64, opts map[string]any) *client {
	h.t.Helper()
	c := h.dial()
	data := map[string]any{"jwt_token": fmt.Sprintf("tok-%d", id)}
	for k, v := range opts {
		data[k] = v
	}
	c.send("CONNECT", "c", data)
	c.expect("CONNECT_SUCCESS", "c")
	return c
}

// gzipB64 is compressed envelope data: the standard base64 of the gzip of b.
func gzipB64(t testing.TB, b []byte) string {
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

// sendCompressed sends action with data given as the JSON string value of
// a compressed envelope's data.
func (c *client) sendCompressed(action, seq, data string) {
	c.t.Helper()
	c.sendRaw(fmt.Sprintf(`{"action":%q,"seq_id":%q,"compressed":true,"data":%s}`, action, seq, data))
}

// rawData returns the data JSON of an envelope exactly as sent.
func rawData(t testing.TB, e envelope) string {
	t.Helper()
	start := strings.Index(e.raw, `"data":`)
	end := strings.LastIndex(e.raw, `,"timestamp":`)
	if start < 0 || end < start {
		t.Fatalf("envelope %.200s has no data", e.raw)
	}
	return e.raw[start+len(`"data":`) : end]
}

// inflated returns the data JSON of a compressed envelope, and its decoding.
func inflated(t testing.TB, e envelope) (string, map[string]any) {
	t.Helper()
	var w struct {
		Data       string `json:"data"`
		Compressed bool   `json:"compressed"`
	}
	if err := json.Unmarshal([]byte(e.raw), &w); err != nil || !w.Compressed {
		t.Fatalf("envelope %.200s is not compressed (%v)", e.raw, err)
	}
	z, err := base64.StdEncoding.DecodeString(w.Data)
	if err != nil {
		t.Fatalf("compressed data of %.200s: %v", e.raw, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("compressed data of %.200s: %v", e.raw, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("compressed data of %.200s: %v", e.raw, err)
	}
	var m map[string]any
	if err := json.Unmarshal(plain, &m); err != nil {
		t.Fatalf("inflated data %.200s: %v", plain, err)
	}
	return string(plain), m
}

// batchContents lists the contents of a BATCH_MESSAGES' messages (data
// given decoded).
func batchContents(data map[string]any) []string {
	var out []string
	msgs, _ := data["messages"].([]any)
	for _, m := range msgs {
		c, _ := m.(map[string]any)["content"].(string)
		out = append(out, c)
	}
	return out
}

func TestBlocks(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 1, 2, 3, 4)
	h.chat.setBlock(4, 2, true) // before 4 connects: listed at CONNECT
	a := h.connect(1)
	a2 := h.connectWith(1, map[string]any{"batch": true})
	b := h.connect(2)
	c := h.connect(3)
	d := h.connect(4)

	h.chat.setBlock(1, 2, true) // live: both of user 1's sessions
	b.send("SEND_MESSAGE", "b1", map[string]any{"chatroom_id": 1, "content": "from 2"})
	b.expect("NEW_MESSAGE", "b1") // the blocked sender is told nothing
	if e := c.expect("NEW_MESSAGE", "b1"); e.str("content") != "from 2" {
		t.Errorf("C (blocks no one): got %s, want user 2's message", e.raw)
	}
	c.send("SEND_MESSAGE", "c1", map[string]any{"chatroom_id": 1, "content": "from 3"})
	c.expect("NEW_MESSAGE", "c1")
	// The first thing A, D and the batching A2 get is user 3's message:
	// user 2's was skipped.
	for name, cl := range map[string]*client{"A": a, "D": d} {
		if e := cl.expect("NEW_MESSAGE", "c1"); e.str("content") != "from 3" {
			t.Errorf("%s (blocks 2): got %s, want only user 3's message", name, e.raw)
		}
	}
	if e := a2.expect("BATCH_MESSAGES", "s-"); fmt.Sprint(batchContents(e.Data)) != "[from 3]" {
		t.Errorf("A2 (batching, blocks 2): got %s, want a batch of user 3's message only", e.raw)
	}
	if e := b.expect("NEW_MESSAGE", "c1"); e.str("content") != "from 3" {
		t.Errorf("B: got %s, want user 3's message", e.raw)
	}

	h.chat.setBlock(1, 2, false)
	b.send("SEND_MESSAGE", "b2", map[string]any{"chatroom_id": 1, "content": "2 again"})
	b.expect("NEW_MESSAGE", "b2")
	if e := a.expect("NEW_MESSAGE", "b2"); e.str("content") != "2 again" {
		t.Errorf("A after unblocking 2: got %s, want user 2's message", e.raw)
	}
	if e := a2.expect("BATCH_MESSAGES", "s-"); fmt.Sprint(batchContents(e.Data)) != "[2 again]" {
		t.Errorf("A2 after unblocking 2: got %s, want user 2's message", e.raw)
	}
	c.expect("NEW_MESSAGE", "b2")
	c.send("SEND_MESSAGE", "c2", map[string]any{"chatroom_id": 1, "content": "3 again"})
	c.expect("NEW_MESSAGE", "c2")
	if e := d.expect("NEW_MESSAGE", "c2"); e.str("content") != "3 again" {
		t.Errorf("D (still blocks 2): got %s, want user 3's second message only", e.raw)
	}
	for _, cl := range []*client{a, b} {
		cl.expect("NEW_MESSAGE", "c2")
		cl.ping("nothing-else")
	}
	a2.expect("BATCH_MESSAGES", "s-")
	a2.ping("nothing-else")
}

func TestMemberLeftReasons(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addRoom(2, false, 0)
	h.chat.addMembers(1, 1, 2)
	h.chat.addMembers(2, 1, 2)
	a := h.connect(1)
	b1 := h.connect(2)
	b2 := h.connect(2)
	expectLeft := func(who string, cl *client, room, user int64, reason string, count int64) {
		t.Helper()
		e := cl.expect("USER_LEFT", "s-")
		if e.num("chatroom_id") != room || e.num("user_id") != user || e.str("reason") != reason ||
			e.num("participants_count") != count || e.str("nickname") != fmt.Sprintf("nick%d", user) {
			t.Errorf("%s: got %s, want USER_LEFT room %d user %d reason %s count %d", who, e.raw, room, user, reason, count)
		}
	}

	// Kicked: everyone in the room is told, the kicked user's own sessions
	// included, and they hear nothing of the room after.
	h.chat.remove(1, 2, chatv1.LeaveReason_LEAVE_REASON_KICKED)
	for name, cl := range map[string]*client{"A": a, "B1": b1, "B2": b2} {
		expectLeft(name, cl, 1, 2, "kicked", 1)
	}
	a.send("SEND_MESSAGE", "m1", map[string]any{"chatroom_id": 1, "content": "after the kick"})
	a.expect("NEW_MESSAGE", "m1")
	b1.ping("kicked-hears-nothing")
	b2.ping("kicked-hears-nothing")

	// A kicked user may come back; a banned one may not.
	b1.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 1})
	b1.expect("JOIN_ROOM_SUCCESS", "j")
	a.expect("USER_JOINED", "s-")
	b2.expect("USER_JOINED", "s-")
	h.chat.remove(1, 2, chatv1.LeaveReason_LEAVE_REASON_BANNED)
	for name, cl := range map[string]*client{"A": a, "B1": b1, "B2": b2} {
		expectLeft(name, cl, 1, 2, "banned", 1)
	}
	b1.send("JOIN_ROOM", "j2", map[string]any{"chatroom_id": 1})
	b1.expectError("USER_BLOCKED", "j2", "JOIN_ROOM")

	// Left: the leaving session has its LEAVE_ROOM_SUCCESS and no USER_LEFT;
	// the user's other session and the others get reason "left".
	b1.send("LEAVE_ROOM", "l", map[string]any{"chatroom_id": 2})
	b1.expect("LEAVE_ROOM_SUCCESS", "l")
	expectLeft("B2", b2, 2, 2, "left", 1)
	expectLeft("A", a, 2, 2, "left", 1)
	b1.ping("origin-skipped")
	a.send("SEND_MESSAGE", "m2", map[string]any{"chatroom_id": 2, "content": "after the leave"})
	a.expect("NEW_MESSAGE", "m2")
	b1.ping("left-hears-nothing")
	b2.ping("left-hears-nothing")
}

func TestRoomDeleted(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addRoom(2, false, 0)
	h.chat.addMembers(1, 1, 2)
	h.chat.addMembers(2, 1)
	a := h.connect(1)
	b := h.connectWith(2, map[string]any{"batch": true})
	h.chat.deleteRoom(1)
	for name, cl := range map[string]*client{"A": a, "B": b} {
		if e := cl.expect("ROOM_DELETED", "s-"); e.num("chatroom_id") != 1 || len(e.Data) != 1 {
			t.Errorf("%s: got %s, want ROOM_DELETED {chatroom_id: 1}", name, e.raw)
		}
	}
	// The room is out of the index: a (late) event of it reaches no one,
	// while the other room still works.
	h.chat.publish(postEvent(1, "ghost"))
	h.chat.publish(postEvent(2, "alive"))
	if e := a.expect("NEW_MESSAGE", "s-"); e.num("chatroom_id") != 2 || e.str("content") != "alive" {
		t.Errorf("A after room 1 was deleted: got %s, want room 2's message only", e.raw)
	}
	b.ping("nothing")
}

func TestSystemMessage(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 1, 2)
	a := h.connect(1)
	b := h.connectWith(2, map[string]any{"batch": true})
	m := h.chat.postSystem(1, "maintenance at noon")
	e := a.expect("NEW_MESSAGE", "s-")
	if e.str("message_type") != "system" || e.num("user_id") != 0 || e.str("nickname") != "system" ||
		e.str("content") != "maintenance at noon" || e.num("message_id") != m.GetId() || e.num("chatroom_id") != 1 {
		t.Errorf("system message: got %s, want NEW_MESSAGE type system, user_id 0, nickname system", e.raw)
	}
	be := b.expect("BATCH_MESSAGES", "s-")
	if msgs, _ := be.Data["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["message_type"] != "system" {
		t.Errorf("system message to a batching session: got %s, want it coalesced", be.raw)
	}
}

func TestGetMessages(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addRoom(2, false, 0)
	h.chat.addMessages(1, 60) // ids 1..60
	h.chat.addMembers(1, 1)
	c := h.connect(1)
	for _, tc := range []struct {
		name        string
		data        map[string]any
		first, last int64
		n           int
		hasMore     bool
	}{
		{"newest, default limit 50", map[string]any{}, 11, 60, 50, true},
		{"newest, limit 100", map[string]any{"limit": 100}, 1, 60, 60, false},
		{"before 11 limit 5", map[string]any{"before_message_id": 11, "limit": 5}, 6, 10, 5, true},
		{"before 6 limit 5", map[string]any{"before_message_id": "6", "limit": 5}, 1, 5, 5, false},
		{"before 3 limit 5", map[string]any{"before_message_id": 3, "limit": 5}, 1, 2, 2, false},
		{"after 55 limit 3", map[string]any{"after_message_id": 55, "limit": 3}, 56, 58, 3, true},
		{"after 57 limit 3", map[string]any{"after_message_id": 57, "limit": 3}, 58, 60, 3, false},
		{"after 60", map[string]any{"after_message_id": 60}, 0, 0, 0, false},
		{"before 0 and a negative after are unset", map[string]any{"before_message_id": 0, "after_message_id": -4, "limit": 2}, 59, 60, 2, true},
		{"null ids are unset", map[string]any{"before_message_id": nil, "after_message_id": nil, "limit": 2}, 59, 60, 2, true},
		{"after 0 reads from the oldest", map[string]any{"after_message_id": 0, "limit": 3}, 1, 3, 3, true},
		{"limit 0 is the default", map[string]any{"limit": 0}, 11, 60, 50, true},
		{"limit above 100 is lowered", map[string]any{"after_message_id": 0, "limit": 1000}, 1, 60, 60, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			tc.data["chatroom_id"] = 1
			c.send("GET_MESSAGES", "g", tc.data)
			e := c.expect("MESSAGES", "g")
			msgs, ok := e.Data["messages"].([]any)
			var first, last int64
			if len(msgs) > 0 {
				first = int64(msgs[0].(map[string]any)["message_id"].(float64))
				last = int64(msgs[len(msgs)-1].(map[string]any)["message_id"].(float64))
			}
			if !ok || e.num("chatroom_id") != 1 || first != tc.first || last != tc.last || len(msgs) != tc.n || e.Data["has_more"] != tc.hasMore {
				t.Errorf("GET_MESSAGES %v: got ids %d..%d (%d) has_more %v, want %d..%d (%d) has_more %v",
					tc.data, first, last, len(msgs), e.Data["has_more"], tc.first, tc.last, tc.n, tc.hasMore)
			}
		})
	}
	c.t = t
	for _, tc := range []struct {
		name string
		data map[string]any
		code string
	}{
		{"both ids", map[string]any{"chatroom_id": 1, "before_message_id": 10, "after_message_id": 2}, "INVALID_DATA"},
		{"both ids, after 0", map[string]any{"chatroom_id": 1, "before_message_id": 10, "after_message_id": 0}, "INVALID_DATA"},
		{"negative limit", map[string]any{"chatroom_id": 1, "limit": -1}, "INVALID_DATA"},
		{"limit a word", map[string]any{"chatroom_id": 1, "limit": "ten"}, "INVALID_DATA"},
		{"id a word", map[string]any{"chatroom_id": 1, "before_message_id": "ten"}, "INVALID_DATA"},
		{"no room", map[string]any{}, "INVALID_DATA"},
		{"not a member", map[string]any{"chatroom_id": 2}, "PERMISSION_DENIED"},
		{"unknown room", map[string]any{"chatroom_id": 99}, "ROOM_NOT_FOUND"},
	} {
		c.send("GET_MESSAGES", tc.name, tc.data)
		c.expectError(tc.code, tc.name, "GET_MESSAGES")
	}
	c.ping("alive")
}

func TestGetMessagesHistoryLimit(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.HistoryLimit = 4 })
	h.chat.addRoom(1, false, 0)
	h.chat.addMessages(1, 10)
	h.chat.addMembers(1, 1)
	c := h.connect(1)
	for _, data := range []map[string]any{{"chatroom_id": 1}, {"chatroom_id": 1, "limit": 10}} {
		c.send("GET_MESSAGES", "g", data)
		if e := c.expect("MESSAGES", "g"); len(e.Data["messages"].([]any)) != 4 || e.Data["has_more"] != true {
			t.Errorf("GET_MESSAGES %v with HistoryLimit 4: got %s, want 4 messages and has_more", data, e.raw)
		}
	}
}

func TestClientBatch(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addRoom(3, false, 0) // user 1 is not a member
	h.chat.addMembers(1, 1, 2)
	a := h.connect(1)
	a2 := h.connect(1)
	b := h.connect(2)

	a.sendRaw(strings.NewReplacer("\n", "", "\t", "").Replace(`{"action":"BATCH_MESSAGES","seq_id":"b1","data":{"messages":[
		{"chatroom_id":1,"content":"first","seq_id":"mine"},
		{"chatroom_id":1},
		{"chatroom_id":1,"content":"third","message_type":"emoji"},
		{"chatroom_id":3,"content":"x","seq_id":"other"},
		{"chatroom_id":1,"content":"slow down"},
		{"chatroom_id":1,"content":"x","message_type":"system"},
		"not an object",
		{"chatroom_id":1,"content":"x","seq_id":5},
		{"chatroom_id":99,"content":"x"},
		{"chatroom_id":"1","content":"last","message_type":null}]}}`))
	for _, want := range []struct{ id, code, content string }{
		{"mine", "", "first"},
		{"b1:1", "INVALID_DATA", ""},
		{"b1:2", "", "third"},
		{"other", "PERMISSION_DENIED", ""},
		{"b1:4", "RATE_LIMITED", ""},
		{"b1:5", "INVALID_DATA", ""},
		{"b1:6", "INVALID_DATA", ""},
		{"b1:7", "INVALID_DATA", ""},
		{"b1:8", "ROOM_NOT_FOUND", ""},
		{"b1:9", "", "last"},
	} {
		if want.code != "" {
			a.expectError(want.code, want.id, "BATCH_MESSAGES")
			continue
		}
		if e := a.expect("NEW_MESSAGE", want.id); e.str("content") != want.content || e.num("user_id") != 1 {
			t.Errorf("batch item %s: got %s, want the echo of %q", want.id, e.raw, want.content)
		}
	}
	if calls := h.chat.batchCalls(); len(calls) != 1 || len(calls[0]) != 7 {
		t.Errorf("SendMessages batches: %d (items %v), want one batch of the 7 well-formed items", len(calls), calls)
	}
	for name, cl := range map[string]*client{"A2": a2, "B": b} {
		for _, want := range []struct{ id, content string }{{"mine", "first"}, {"b1:2", "third"}, {"b1:9", "last"}} {
			if e := cl.expect("NEW_MESSAGE", want.id); e.str("content") != want.content {
				t.Errorf("%s: got %s, want the stored message %q in order, echoing its item's id", name, e.raw, want.content)
			}
		}
	}
	a.ping("origin-skipped")

	// Refused whole: nothing sent.
	many := make([]map[string]any, 101)
	for i := range many {
		many[i] = map[string]any{"chatroom_id": 1, "content": fmt.Sprint(i)}
	}
	for _, tc := range []struct {
		name string
		data any
	}{
		{"empty", map[string]any{"messages": []any{}}},
		{"101 items", map[string]any{"messages": many}},
		{"not an array", map[string]any{"messages": map[string]any{"chatroom_id": 1, "content": "x"}}},
		{"null", map[string]any{"messages": nil}},
		{"missing", map[string]any{}},
	} {
		a.send("BATCH_MESSAGES", tc.name, tc.data)
		a.expectError("INVALID_DATA", tc.name, "BATCH_MESSAGES")
	}
	// All malformed: every item answered, no call.
	a.send("BATCH_MESSAGES", "bad", map[string]any{"messages": []any{1, map[string]any{"content": "no room"}}})
	a.expectError("INVALID_DATA", "bad:0", "BATCH_MESSAGES")
	a.expectError("INVALID_DATA", "bad:1", "BATCH_MESSAGES")
	if calls := h.chat.batchCalls(); len(calls) != 1 {
		t.Errorf("SendMessages batches after refused client batches: %d, want still 1", len(calls))
	}

	// Exactly 100 items pass, in order.
	a.send("BATCH_MESSAGES", "full", map[string]any{"messages": many[:100]})
	for i := range 100 {
		if e := a.expect("NEW_MESSAGE", fmt.Sprintf("full:%d", i)); e.str("content") != fmt.Sprint(i) {
			t.Fatalf("item %d of 100: got %s", i, e.raw)
		}
	}
	for i := range 100 {
		if e := b.expect("NEW_MESSAGE", fmt.Sprintf("full:%d", i)); e.str("content") != fmt.Sprint(i) {
			t.Fatalf("B, item %d of 100: got %s, want in order", i, e.raw)
		}
	}
	if calls := h.chat.batchCalls(); len(calls) != 2 || len(calls[1]) != 100 {
		t.Errorf("SendMessages batches: %d, want a second batch of 100 items", len(calls))
	}
}

func TestCompressedRequests(t *testing.T) {
	const limit = 4096
	// The inputs are made first: the gzip bomb takes seconds under -race
	// on a busy machine, longer than the session may stay idle.
	pad := func(n int) []byte { // a PING data object of exactly n bytes
		return []byte(`{"pad":"` + strings.Repeat("a", n-10) + `"}`)
	}
	z, _ := base64.StdEncoding.DecodeString(gzipB64(t, []byte(`{}`)))
	cases := []struct {
		name, action, data string
		ok                 bool
	}{
		{"exactly the limit", "PING", `"` + gzipB64(t, pad(limit)) + `"`, true},
		{"one byte over", "PING", `"` + gzipB64(t, pad(limit+1)) + `"`, false},
		{"gzip bomb", "SEND_MESSAGE", `"` + gzipB64(t, []byte(`{"chatroom_id":1,"content":"`+strings.Repeat("0", 20<<20)+`"}`)) + `"`, false},
		{"bad base64", "SEND_MESSAGE", `"not base64!"`, false},
		{"bad gzip", "PING", `"` + base64.StdEncoding.EncodeToString([]byte("not gzip at all")) + `"`, false},
		{"truncated gzip", "PING", `"` + base64.StdEncoding.EncodeToString(z[:len(z)-4]) + `"`, false},
		{"inflates to an array", "PING", `"` + gzipB64(t, []byte(`[1]`)) + `"`, false},
		{"inflates to invalid UTF-8", "PING", `"` + gzipB64(t, []byte("{\"x\":\"\xff\"}")) + `"`, false},
		{"inflates too deep", "PING", `"` + gzipB64(t, []byte(strings.Repeat(`{"a":`, 32)+"1"+strings.Repeat("}", 32))) + `"`, false},
		{"data an object", "PING", `{}`, false},
	}
	h := newHarness(t, func(c *edge.Config) { c.MaxInflatedBytes = limit })
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 1, 2)
	b := h.connect(2)

	// Any action, CONNECT included; before CONNECT only CONNECT is inflated.
	a := h.dial()
	a.sendCompressed("PING", "early", `"`+gzipB64(t, []byte(`{}`))+`"`)
	a.expectError("NOT_AUTHENTICATED", "early", "PING")
	a.sendCompressed("CONNECT", "c", `"`+gzipB64(t, []byte(`{"jwt_token":"tok-1"}`))+`"`)
	a.expect("CONNECT_SUCCESS", "c")
	a.sendCompressed("SEND_MESSAGE", "z1", `"`+gzipB64(t, []byte(`{"chatroom_id":1,"content":"squeezed"}`))+`"`)
	if e := a.expect("NEW_MESSAGE", "z1"); e.str("content") != "squeezed" {
		t.Errorf("compressed SEND_MESSAGE: echo %s", e.raw)
	}
	if e := b.expect("NEW_MESSAGE", "z1"); e.str("content") != "squeezed" {
		t.Errorf("compressed SEND_MESSAGE: B got %s", e.raw)
	}
	a.sendCompressed("BATCH_MESSAGES", "zb", `"`+gzipB64(t, []byte(`{"messages":[{"chatroom_id":1,"content":"z"}]}`))+`"`)
	a.expect("NEW_MESSAGE", "zb:0")
	b.expect("NEW_MESSAGE", "zb:0")

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.t = t
			a.sendCompressed(tc.action, "x", tc.data)
			if tc.ok {
				a.expect("PONG", "x")
			} else {
				a.expectError("INVALID_DATA", "x", tc.action)
			}
			a.ping("alive")
		})
	}
	a.t = t
	a.sendCompressed("DANCE", "d", `"`+gzipB64(t, []byte(`{}`))+`"`)
	a.expectError("INVALID_ACTION", "d", "DANCE")
	a.ping("still alive")
	b.ping("nothing leaked to B")
}

func TestServerCompression(t *testing.T) {
	const threshold = 512
	h := newHarness(t, func(c *edge.Config) { c.CompressThreshold = threshold })
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 1, 2, 3)
	g := h.connectWith(1, map[string]any{"compression": "gzip"})
	p := h.connect(2)
	s := h.connect(3)

	say := func(seq, content string) (plain, compressedOrNot envelope) {
		t.Helper()
		s.send("SEND_MESSAGE", seq, map[string]any{"chatroom_id": 1, "content": content})
		if e := s.expect("NEW_MESSAGE", seq); strings.Contains(e.raw, `"compressed"`) {
			t.Errorf("echo to a plain session is compressed: %.200s", e.raw)
		}
		return p.expect("NEW_MESSAGE", seq), g.expect("NEW_MESSAGE", seq)
	}
	// The data size of a message grows with its content: measure it once,
	// then send data of exactly the threshold and one byte more.
	pe, ge := say("m1", strings.Repeat("x", 100))
	base := len(rawData(t, pe)) - 100
	if strings.Contains(ge.raw, `"compressed"`) || rawData(t, ge) != rawData(t, pe) {
		t.Errorf("small message: gzip session got %.200s, want it plain like %.200s", ge.raw, pe.raw)
	}
	pe, ge = say("m2", strings.Repeat("y", threshold-base))
	if n := len(rawData(t, pe)); n != threshold || strings.Contains(ge.raw, `"compressed"`) {
		t.Errorf("data of %d bytes (threshold %d): gzip session got %.200s, want plain", n, threshold, ge.raw)
	}
	pe, ge = say("m3", strings.Repeat("z", threshold-base+1))
	plain, data := inflated(t, ge)
	if len(rawData(t, pe)) != threshold+1 || plain != rawData(t, pe) || data["content"] != strings.Repeat("z", threshold-base+1) {
		t.Errorf("data of %d bytes: gzip session's envelope inflates to %.200s, want the plain session's data %.200s", threshold+1, plain, rawData(t, pe))
	}
	if !strings.HasPrefix(ge.raw, `{"action":"NEW_MESSAGE","data":"`) || ge.SeqID != "m3" {
		t.Errorf("compressed envelope %.200s: want action first, data a string, the sender's seq_id m3", ge.raw)
	}

	// Replies to the gzip session are compressed too.
	big := strings.Repeat("가나다라", 300)
	g.send("SEND_MESSAGE", "mine", map[string]any{"chatroom_id": 1, "content": big})
	echo := g.expect("NEW_MESSAGE", "mine")
	if _, d := inflated(t, echo); d["content"] != big {
		t.Errorf("echo to the gzip session inflates to %v", d["content"])
	}
	p.expect("NEW_MESSAGE", "mine")
	s.expect("NEW_MESSAGE", "mine")
	g.send("GET_MESSAGES", "h", map[string]any{"chatroom_id": 1})
	hist := g.expect("MESSAGES", "h")
	if _, d := inflated(t, hist); len(d["messages"].([]any)) != 4 || d["has_more"] != false {
		t.Errorf("MESSAGES to the gzip session inflates to %v", d)
	}
	g.ping("small-stays-plain")
}

func TestServerBatching(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) {
		c.BatchMax = 3
		c.BatchWindow = 200 * time.Millisecond
		c.CompressThreshold = 600
	})
	h.chat.addRoom(1, false, 0)
	h.chat.addRoom(2, false, 0)
	h.chat.addMembers(1, 1, 2, 3)
	h.chat.addMembers(2, 1)
	bs := h.connectWith(1, map[string]any{"batch": true})
	gz := h.connectWith(2, map[string]any{"batch": true, "compression": "gzip"})
	plain := h.connect(3)
	expectBatch := func(who string, cl *client, want string) envelope {
		t.Helper()
		e := cl.expect("BATCH_MESSAGES", "s-")
		if got := fmt.Sprint(batchContents(e.Data)); got != want {
			t.Errorf("%s: got batch %s, want %s (envelope %.300s)", who, got, want, e.raw)
		}
		if _, ok := e.Data["chatroom_id"]; ok {
			t.Errorf("%s: coalesced batch %.200s has a chatroom_id", who, e.raw)
		}
		return e
	}

	// BatchMax 3: seven messages published back to back make batches of 3,
	// 3 and, once the window closes, 1; in order.
	var evs []*chatv1.Event
	for i := range 7 {
		evs = append(evs, postEvent(1, fmt.Sprint("m", i)))
	}
	h.chat.publishAll(evs...)
	expectBatch("BS", bs, "[m0 m1 m2]")
	expectBatch("BS", bs, "[m3 m4 m5]")
	expectBatch("BS", bs, "[m6]")
	for i := range 7 {
		if e := plain.expect("NEW_MESSAGE", "s-"); e.str("content") != fmt.Sprint("m", i) {
			t.Errorf("plain session: got %s, want m%d on its own", e.raw, i)
		}
	}
	for range 3 {
		gz.expect("BATCH_MESSAGES", "s-")
	}

	// Another envelope closes the open batch first; rooms mix in a batch.
	joined := &chatv1.Event{RoomId: 1, Payload: &chatv1.Event_MemberJoined{MemberJoined: &chatv1.MemberJoined{UserId: 5, Nickname: "nick5", MemberCount: 4}}}
	h.chat.publishAll(postEvent(1, "a"), postEvent(2, "b"), joined, postEvent(1, "c"))
	e := expectBatch("BS", bs, "[a b]")
	if msgs := e.Data["messages"].([]any); msgs[0].(map[string]any)["chatroom_id"] != 1.0 || msgs[1].(map[string]any)["chatroom_id"] != 2.0 {
		t.Errorf("batch of two rooms: %s, want each message with its chatroom_id", e.raw)
	}
	bs.expect("USER_JOINED", "s-")
	expectBatch("BS", bs, "[c]")

	// The batching session's own requests are answered on their own.
	bs.send("SEND_MESSAGE", "own", map[string]any{"chatroom_id": 1, "content": "mine"})
	bs.expect("NEW_MESSAGE", "own")
	bs.ping("after-own")

	// A gzip batching session gets batches above the threshold compressed.
	expectBatch("GZ", gz, "[a]")
	gz.expect("USER_JOINED", "s-")
	var rest []string // c then mine, in one batch or two (their windows may meet)
	for i := 0; i < 2 && len(rest) < 2; i++ {
		rest = append(rest, batchContents(gz.expect("BATCH_MESSAGES", "s-").Data)...)
	}
	if fmt.Sprint(rest) != "[c mine]" {
		t.Errorf("GZ after USER_JOINED: got %v, want [c mine]", rest)
	}
	long := strings.Repeat("l", 300)
	h.chat.publishAll(postEvent(1, long), postEvent(1, long))
	_, d := inflated(t, gz.expect("BATCH_MESSAGES", "s-"))
	if fmt.Sprint(batchContents(d)) != fmt.Sprint([]string{long, long}) {
		t.Errorf("compressed batch inflates to %v, want the two long messages", batchContents(d))
	}
	expectBatch("BS", bs, fmt.Sprint([]string{long, long})) // plain: BS did not ask for gzip
}

func TestServerBatchingWindow(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) { c.BatchWindow = 50 * time.Millisecond })
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 1)
	bs := h.connectWith(1, map[string]any{"batch": true})
	// Far below BatchMax (64): the window alone closes each batch.
	for i := range 3 {
		h.chat.publish(postEvent(1, fmt.Sprint("w", i)))
		if e := bs.expect("BATCH_MESSAGES", "s-"); fmt.Sprint(batchContents(e.Data)) != fmt.Sprintf("[w%d]", i) {
			t.Errorf("batch %d: got %s, want [w%d] once the window closed", i, e.raw, i)
		}
	}
}
