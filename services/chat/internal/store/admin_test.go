package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// recorder collects published events.
type recorder struct {
	mu  sync.Mutex
	evs []*chatv1.Event
}

func (r *recorder) publish(evs []*chatv1.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, evs...)
}

func (r *recorder) since(n int) []*chatv1.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*chatv1.Event(nil), r.evs[n:]...)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

func TestBanKickLeave(t *testing.T) {
	ctx := ctxT(t)
	var rec recorder
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{Publish: rec.publish})
	roomWith(t, s, 1, 1, 2, 3)
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 2, Name: "invite only, full", MaxMembers: 1, InviteOnly: true}); err != nil {
		t.Fatal(err)
	}
	mark := rec.len()

	if err := s.Ban(ctx, 1, 2); err != nil {
		t.Fatalf("Ban(1, 2) = %v", err)
	}
	if err := s.Ban(ctx, 1, 2); err != nil {
		t.Errorf("Ban(1, 2) again = %v, want nil", err)
	}
	if err := s.Ban(ctx, 1, 9); err != nil { // not a member: recorded, nothing published
		t.Errorf("Ban(1, 9) = %v, want nil", err)
	}
	if err := s.Kick(ctx, 1, 3); err != nil {
		t.Fatalf("Kick(1, 3) = %v", err)
	}
	if _, err := s.Leave(ctx, 1, 1, &chatv1.Origin{SessionId: "s1"}); err != nil {
		t.Fatal(err)
	}
	evs := rec.since(mark)
	want := []struct {
		user   int64
		count  int32
		reason chatv1.LeaveReason
	}{
		{2, 2, chatv1.LeaveReason_LEAVE_REASON_BANNED},
		{3, 1, chatv1.LeaveReason_LEAVE_REASON_KICKED},
		{1, 0, chatv1.LeaveReason_LEAVE_REASON_LEFT},
	}
	if len(evs) != len(want) {
		t.Fatalf("ban, ban again, ban of a non-member, kick, leave published %d events, want %d: %v", len(evs), len(want), evs)
	}
	for i, w := range want {
		l := evs[i].GetMemberLeft()
		if l.GetUserId() != w.user || l.GetMemberCount() != w.count || l.GetReason() != w.reason || evs[i].RoomId != 1 {
			t.Errorf("event %d = %v, want MemberLeft of user %d, count %d, reason %v", i, evs[i], w.user, w.count, w.reason)
		}
	}
	if evs[2].GetMemberLeft().GetOrigin().GetSessionId() != "s1" || evs[0].GetMemberLeft().GetOrigin() != nil {
		t.Errorf("origins: leave %v, ban %v; want s1 and none", evs[2].GetMemberLeft().GetOrigin(), evs[0].GetMemberLeft().GetOrigin())
	}
	if rooms, _ := s.UserRooms(ctx, 2); len(rooms) != 0 {
		t.Errorf("UserRooms(2) after the ban = %v, want none", rooms)
	}

	// The ban is checked before the invitation and the member limit.
	if err := s.Ban(ctx, 2, 5); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		room, user int64
		err        error
	}{
		{"banned", 1, 2, ErrBanned},
		{"banned non-member", 1, 9, ErrBanned},
		{"banned, uninvited room", 2, 5, ErrBanned},
		{"kicked may rejoin", 1, 3, nil},
	}
	for _, tt := range tests {
		if _, err := s.Join(ctx, tt.room, tt.user, "n", nil); !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("%s: Join(%d, %d) = %v, want %v", tt.name, tt.room, tt.user, err, tt.err)
		}
	}
	if err := s.Unban(ctx, 1, 2); err != nil {
		t.Fatalf("Unban(1, 2) = %v", err)
	}
	if res, err := s.Join(ctx, 1, 2, "n", nil); err != nil || !res.Joined {
		t.Errorf("Join(1, 2) after the unban = %+v, %v; want joined", res, err)
	}

	refusals := []struct {
		name string
		call func() error
		want error
	}{
		{"Kick non-member", func() error { return s.Kick(ctx, 1, 9) }, ErrNotMember},
		{"Kick unknown room", func() error { return s.Kick(ctx, 7, 1) }, ErrRoomNotFound},
		{"Ban unknown room", func() error { return s.Ban(ctx, 7, 1) }, ErrRoomNotFound},
		{"Unban unknown room", func() error { return s.Unban(ctx, 7, 1) }, ErrRoomNotFound},
		{"DeleteRoom unknown room", func() error { return s.DeleteRoom(ctx, 7) }, ErrRoomNotFound},
	}
	for _, tt := range refusals {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestBlocks(t *testing.T) {
	ctx := ctxT(t)
	var rec recorder
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{Publish: rec.publish})
	steps := []struct {
		block         bool
		user, blocked int64
		changed       bool
	}{
		{true, 1, 2, true},
		{true, 1, 2, false},
		{true, 1, 3, true},
		{false, 1, 2, true},
		{false, 1, 2, false},
		{false, 1, 4, false},
	}
	for _, st := range steps {
		call, f := "Block", s.Block
		if !st.block {
			call, f = "Unblock", s.Unblock
		}
		mark := rec.len()
		changed, err := f(ctx, st.user, st.blocked)
		if err != nil || changed != st.changed {
			t.Fatalf("%s(%d, %d) = %v, %v; want changed %v", call, st.user, st.blocked, changed, err, st.changed)
		}
		evs := rec.since(mark)
		switch {
		case !st.changed && len(evs) != 0:
			t.Errorf("%s(%d, %d) without a change published %v", call, st.user, st.blocked, evs)
		case st.changed && st.block && (len(evs) != 1 || evs[0].RoomId != 0 || evs[0].GetUserBlocked().GetBlockedUserId() != st.blocked):
			t.Errorf("%s(%d, %d) published %v, want one UserBlocked in room 0", call, st.user, st.blocked, evs)
		case st.changed && !st.block && (len(evs) != 1 || evs[0].RoomId != 0 || evs[0].GetUserUnblocked().GetBlockedUserId() != st.blocked):
			t.Errorf("%s(%d, %d) published %v, want one UserUnblocked in room 0", call, st.user, st.blocked, evs)
		}
	}
	if ids, err := s.Blocks(ctx, 1); err != nil || fmt.Sprint(ids) != "[3]" {
		t.Errorf("Blocks(1) = %v, %v; want [3]", ids, err)
	}
}

// TestListMessagesBlocked fills pages past the messages of blocked users;
// has_more describes the unfiltered history.
func TestListMessagesBlocked(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{})
	roomWith(t, s, 1, 1, 2, 3)
	// ids 1..9, senders 2 3 2 3 2 3 3 3 2.
	for i, u := range []int64{2, 3, 2, 3, 2, 3, 3, 3, 2} {
		send(t, s, 1, u, fmt.Sprint(i+1))
	}
	if _, err := s.Block(ctx, 1, 3); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, after, before int64
		limit               int
		want                string
		more                bool
	}{
		{1, 0, 0, 2, "[5 9]", true},
		{1, 0, 5, 2, "[1 3]", false},
		{1, 5, 0, 10, "[9]", false},
		{1, 5, 0, 1, "[9]", false},
		{1, 4, 0, 1, "[5]", true}, // 6..9 remain, 9 visible
		{1, 5, 9, 5, "[]", false}, // only blocked messages in range
		{3, 0, 0, 3, "[7 8 9]", true},
		{0, 0, 0, 3, "[7 8 9]", true}, // the backend sees everything
	}
	for _, tt := range tests {
		msgs, more, err := s.ListMessages(ctx, MessageQuery{RoomID: 1, UserID: tt.user, AfterID: tt.after, BeforeID: tt.before, Limit: tt.limit})
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.Id
		}
		if err != nil || fmt.Sprint(ids) != tt.want || more != tt.more {
			t.Errorf("ListMessages(user %d, after %d, before %d, limit %d) = %v, more %v, %v; want %s, more %v", tt.user, tt.after, tt.before, tt.limit, ids, more, err, tt.want, tt.more)
		}
	}
	if _, _, err := s.ListMessages(ctx, MessageQuery{RoomID: 2, Limit: 1}); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("ListMessages(backend, unknown room) = %v, want ErrRoomNotFound", err)
	}
}

func TestListRooms(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{})
	for _, id := range []int64{5, 1, 3, 9} {
		roomWith(t, s, id)
	}
	tests := []struct {
		after int64
		limit int
		want  string
		more  bool
	}{
		{0, 10, "[1 3 5 9]", false},
		{0, 4, "[1 3 5 9]", false},
		{0, 2, "[1 3]", true},
		{3, 2, "[5 9]", false},
		{1, 1, "[3]", true},
		{9, 5, "[]", false},
	}
	for _, tt := range tests {
		rooms, more, err := s.ListRooms(ctx, tt.after, tt.limit)
		ids := make([]int64, len(rooms))
		for i, r := range rooms {
			ids[i] = r.Id
		}
		if err != nil || fmt.Sprint(ids) != tt.want || more != tt.more {
			t.Errorf("ListRooms(after %d, limit %d) = %v, more %v, %v; want %s, more %v", tt.after, tt.limit, ids, more, err, tt.want, tt.more)
		}
	}
}

// TestSendBatch stores a batch with refused items in one commit, ids and
// events in item order.
func TestSendBatch(t *testing.T) {
	ctx := ctxT(t)
	var rec recorder
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{Publish: rec.publish})
	roomWith(t, s, 1, 1)
	roomWith(t, s, 2, 1)
	send(t, s, 1, 1, "first")
	mark, before := rec.len(), s.Commits()
	text := chatv1.MessageType_MESSAGE_TYPE_TEXT
	in := []NewMessage{
		{RoomID: 1, UserID: 1, Content: "a", Type: text},
		{RoomID: 1, UserID: 9, Content: "not a member", Type: text},
		{RoomID: 2, UserID: 1, Content: "b", Type: text},
		{RoomID: 8, UserID: 1, Content: "no room", Type: text},
		{RoomID: 1, UserID: 1, Content: "c", Type: text},
	}
	res, err := s.SendBatch(ctx, in)
	if err != nil {
		t.Fatalf("SendBatch = %v", err)
	}
	if got := s.Commits() - before; got != 1 {
		t.Errorf("SendBatch of %d took %d commits, want 1", len(in), got)
	}
	wantErr := []error{nil, ErrNotMember, nil, ErrRoomNotFound, nil}
	wantID := []int64{2, 0, 1, 0, 3}
	for i := range in {
		if !errors.Is(res[i].Err, wantErr[i]) || (wantErr[i] == nil && res[i].Err != nil) || res[i].Message.GetId() != wantID[i] {
			t.Errorf("SendBatch result %d = %v, %v; want id %d, %v", i, res[i].Message, res[i].Err, wantID[i], wantErr[i])
		}
	}
	evs := rec.since(mark)
	var got []string
	for _, e := range evs {
		got = append(got, e.GetMessagePosted().GetMessage().GetContent())
	}
	if fmt.Sprint(got) != "[a b c]" {
		t.Errorf("SendBatch published %v, want [a b c] in order", got)
	}
}

func TestSystemMessage(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{})
	roomWith(t, s, 1) // no members
	m, err := s.Send(ctxT(t), NewMessage{RoomID: 1, UserID: 5, Nickname: "x", Content: "hello", Type: chatv1.MessageType_MESSAGE_TYPE_SYSTEM})
	if err != nil || m.UserId != 0 || m.Nickname != SystemNickname || m.Id != 1 {
		t.Errorf("Send(SYSTEM) = %v, %v; want id 1 from user 0 %q without membership", m, err, SystemNickname)
	}
	if _, err := s.Send(ctxT(t), NewMessage{RoomID: 2, Content: "x", Type: chatv1.MessageType_MESSAGE_TYPE_SYSTEM}); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("Send(SYSTEM) to an unknown room = %v, want ErrRoomNotFound", err)
	}
}

// clock is a fake time source, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ids returns the ids of room's messages, read by the backend.
func ids(t *testing.T, s *Store, room int64) []int64 {
	t.Helper()
	var out []int64
	after := int64(0)
	for range 1000 {
		msgs, more, err := s.ListMessages(ctxT(t), MessageQuery{RoomID: room, AfterID: after, Limit: 100})
		if err != nil {
			t.Fatalf("ListMessages(room %d, after %d) = %v", room, after, err)
		}
		for _, m := range msgs {
			out = append(out, m.Id)
		}
		if !more {
			return out
		}
		after = msgs[len(msgs)-1].Id
	}
	t.Fatalf("room %d: more than 1000 pages", room)
	return nil
}

func span(ids []int64) string {
	if len(ids) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d ids %d..%d", len(ids), ids[0], ids[len(ids)-1])
}

func sendN(t *testing.T, s *Store, room, user int64, n int) {
	t.Helper()
	in := make([]NewMessage, n)
	for i := range in {
		in[i] = NewMessage{RoomID: room, UserID: user, Content: "m", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT}
	}
	for len(in) > 0 {
		k := min(len(in), 500)
		res, err := s.SendBatch(ctxT(t), in[:k])
		if err != nil || res[0].Err != nil {
			t.Fatalf("SendBatch to room %d = %v", room, err)
		}
		in = in[k:]
	}
}

func TestCompactByCount(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{RetentionMessages: 10})
	roomWith(t, s, 1, 1) // the default: 10
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 2, Name: "own", RetentionMessages: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, 2, 1, "n", nil); err != nil {
		t.Fatal(err)
	}
	roomWith(t, s, 3, 1)    // fewer than kept
	sendN(t, s, 1, 1, 2500) // 2490 to delete: three chunks
	sendN(t, s, 2, 1, 7)
	sendN(t, s, 3, 1, 4)
	before := s.Commits()
	if err := s.Compact(ctx); err != nil {
		t.Fatalf("Compact = %v", err)
	}
	if n := s.Commits() - before; n < 3 {
		t.Errorf("compacting 2494 messages took %d transactions, want at least 3 (chunks of %d)", n, compactChunk)
	}
	want := map[int64]string{1: "10 ids 2491..2500", 2: "3 ids 5..7", 3: "4 ids 1..4"}
	for room, w := range want {
		if got := span(ids(t, s, room)); got != w {
			t.Errorf("room %d after Compact holds %s, want %s", room, got, w)
		}
	}
	// Ids are never reused, and compacting again changes nothing.
	if m := send(t, s, 2, 1, "next"); m.Id != 8 {
		t.Errorf("send after compaction: id %d, want 8", m.Id)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := span(ids(t, s, 2)); got != "3 ids 6..8" {
		t.Errorf("room 2 after a second Compact holds %s, want 3 ids 6..8", got)
	}
}

func TestCompactByAge(t *testing.T) {
	ctx := ctxT(t)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{Now: c.now, RetentionAge: time.Hour})
	roomWith(t, s, 1, 1) // the default: an hour
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 2, Name: "own", RetentionSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, 2, 1, "n", nil); err != nil {
		t.Fatal(err)
	}
	sendN(t, s, 1, 1, 5) // at 0
	sendN(t, s, 2, 1, 5)
	c.advance(30 * time.Minute)
	sendN(t, s, 1, 1, 5) // at 30 min: ids 6..10
	sendN(t, s, 2, 1, 5)
	c.advance(31 * time.Minute) // now 61 min
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := span(ids(t, s, 1)); got != "5 ids 6..10" {
		t.Errorf("room 1 (1 h) at 61 min holds %s, want 5 ids 6..10", got)
	}
	if got := span(ids(t, s, 2)); got != "none" {
		t.Errorf("room 2 (60 s) at 61 min holds %s, want none", got)
	}
	if m := send(t, s, 2, 1, "fresh"); m.Id != 11 {
		t.Errorf("send to the emptied room: id %d, want 11", m.Id)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got := span(ids(t, s, 2)); got != "1 ids 11..11" {
		t.Errorf("room 2 after a fresh message and Compact holds %s, want 1 ids 11..11", got)
	}
}

// TestCompactInterleaved writes while a long compaction runs: writes go on
// between its chunks, and the end state keeps exactly the newest messages.
func TestCompactInterleaved(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{RetentionMessages: 5})
	roomWith(t, s, 1, 1)
	sendN(t, s, 1, 1, 5000)
	done := make(chan error, 1)
	go func() { done <- s.Compact(ctx) }()
	var last int64
	for i := 0; ; i++ {
		last = send(t, s, 1, 1, "during").Id
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Compact = %v", err)
			}
			if err := s.Compact(ctx); err != nil { // a pass that starts after the last send
				t.Fatal(err)
			}
			if got, want := span(ids(t, s, 1)), fmt.Sprintf("5 ids %d..%d", last-4, last); got != want {
				t.Errorf("after Compact with %d interleaved sends, room 1 holds %s, want %s", i+1, got, want)
			}
			t.Logf("%d sends during the compaction of 5000 messages", i+1)
			return
		default:
		}
		if i == 10000 {
			t.Fatal("Compact did not end after 10000 interleaved sends")
		}
	}
}

func TestCompactClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "chat.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Compact(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Compact after Close = %v, want ErrClosed", err)
	}
}

// TestCompactInterval compacts without Compact, on the ticker.
func TestCompactInterval(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{RetentionMessages: 2, CompactInterval: 10 * time.Millisecond})
	roomWith(t, s, 1, 1)
	sendN(t, s, 1, 1, 10)
	for i := 0; ; i++ {
		if got := span(ids(t, s, 1)); got == "2 ids 9..10" {
			return
		} else if i == 500 {
			t.Fatalf("5 s after 10 sends with retention 2, room 1 holds %s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkSendBatch measures durable batches of 100 messages, one commit
// each; ns/op is per batch.
func BenchmarkSendBatch(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "chat.db"), Options{})
	roomWith(b, s, 1, 1)
	in := make([]NewMessage, 100)
	for i := range in {
		in[i] = NewMessage{RoomID: 1, UserID: 1, Content: "hello, benchmark", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.SendBatch(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(in))/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkCompact measures a compaction pass deleting 10000 messages.
func BenchmarkCompact(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "chat.db"), Options{RetentionMessages: 1})
	roomWith(b, s, 1, 1)
	in := make([]NewMessage, 500)
	for i := range in {
		in[i] = NewMessage{RoomID: 1, UserID: 1, Content: "hello, benchmark", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT}
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		for range 20 {
			if _, err := s.SendBatch(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := s.Compact(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
