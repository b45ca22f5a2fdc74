package crash

import (
	"net"
	"strings"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

func hist(room int64, ids ...string) []*chatv1.Message {
	out := make([]*chatv1.Message, len(ids))
	for i, id := range ids {
		out[i] = &chatv1.Message{Id: int64(i + 1), RoomId: room, ClientMsgId: id}
	}
	return out
}

func TestCheckPasses(t *testing.T) {
	s := &sender{user: 1000, room: 1, acked: map[string]int64{"a": 1, "b": 2}, order: []string{"a", "b"}, resends: 3}
	r := newReceiver(2000, []int64{1}, nil, nil)
	r.last[1], r.got[1] = 2, map[int64]string{1: "a", 2: "b"}
	r.done = true
	rep := &Report{}
	check(rep, []*sender{s}, []*receiver{r}, map[int64][]*chatv1.Message{1: hist(1, "a", "b")})
	if !rep.OK() || rep.Sent != 2 || rep.Acked != 2 || rep.Resends != 3 || rep.History != 2 {
		t.Errorf("check = %+v; want OK with 2 sent, 2 acked, 3 resends, 2 in history", rep)
	}
}

func TestCheckFindsEachFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []*chatv1.Message
		edit    func(*sender, *receiver)
		field   func(*Report) int
	}{
		{"lost", hist(1, "a"), func(*sender, *receiver) {}, func(r *Report) int { return r.Lost }},
		{"duplicated", hist(1, "a", "b", "b"), func(_ *sender, r *receiver) { r.last[1] = 3 }, func(r *Report) int { return r.Duplicated }},
		{"history gap", append(hist(1, "a"), &chatv1.Message{Id: 3, RoomId: 1, ClientMsgId: "b"}), func(*sender, *receiver) {},
			func(r *Report) int { return r.HistoryGaps }},
		{"unacked", hist(1, "a", "b"), func(s *sender, _ *receiver) { s.inFlight = "c" }, func(r *Report) int { return r.Unacked }},
		{"receiver missing", hist(1, "a", "b"), func(_ *sender, r *receiver) { r.last[1] = 1 }, func(r *Report) int { return r.Missing }},
		{"live gap", hist(1, "a", "b"), func(_ *sender, r *receiver) { r.gaps = []string{"gap"} }, func(r *Report) int { return r.LiveGaps }},
		{"redelivered", hist(1, "a", "b"), func(_ *sender, r *receiver) { r.redelivered = 1 }, func(r *Report) int { return r.Redelivered }},
		{"refused", hist(1, "a", "b"), func(s *sender, _ *receiver) { s.refused = []string{"c: PERMISSION_DENIED"} }, func(r *Report) int { return r.Refused }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sender{user: 1000, room: 1, acked: map[string]int64{"a": 1, "b": 2}, order: []string{"a", "b"}}
			r := newReceiver(2000, []int64{1}, nil, nil)
			r.last[1], r.got[1], r.done = 2, map[int64]string{1: "a", 2: "b"}, true
			tc.edit(s, r)
			rep := &Report{}
			check(rep, []*sender{s}, []*receiver{r}, map[int64][]*chatv1.Message{1: tc.history})
			if rep.OK() || tc.field(rep) == 0 {
				t.Errorf("check = %+v; want it to fail on %s", rep, tc.name)
			}
		})
	}
}

// caughtUp returns a receiver of rooms 1 and 2, a session of it that is
// catching up on no room, and what the session sends.
func caughtUp() (*receiver, *session, *strings.Builder) {
	r := newReceiver(2000, []int64{1, 2}, nil, nil)
	var sent strings.Builder
	s := &session{c: &conn{c: writeConn{&sent}}, catching: map[int64]bool{}, held: map[int64][]message{},
		final: map[int64]bool{}, history: map[int64]int64{}}
	return r, s, &sent
}

func live(room, id int64) envelope {
	var e envelope
	e.Action = "NEW_MESSAGE"
	e.Data.message = message{ID: id, RoomID: room, ClientMsgID: "m"}
	return e
}

func page(action, seq string, room int64, more bool, ids ...int64) envelope {
	var e envelope
	e.Action, e.SeqID = action, seq
	e.Data.RoomID, e.Data.HasMore = room, more
	for _, id := range ids {
		e.Data.Messages = append(e.Data.Messages, message{ID: id, RoomID: room})
	}
	return e
}

func TestReceiverCatchUpAndLiveOrder(t *testing.T) {
	r, s, sent := caughtUp()
	s.catching[1] = true
	// Live messages during the catch-up are held; the history pages come
	// in, the first one with more to read.
	r.handle(s, live(1, 3))
	r.handle(s, page("BATCH_MESSAGES", "join-1", 1, true, 1, 2))
	if !strings.Contains(sent.String(), `"after_message_id":2`) {
		t.Fatalf("after a page with has_more the receiver sent %q, want GET_MESSAGES after 2", sent.String())
	}
	r.handle(s, live(1, 4))
	r.handle(s, page("MESSAGES", "page-1-1", 1, false, 3))
	if r.last[1] != 4 || s.catching[1] || r.overlap != 1 {
		t.Fatalf("after the catch-up: last %d, catching %v, overlap %d; want 4, false, 1 (3 came live and from history)", r.last[1], s.catching[1], r.overlap)
	}
	// Live: the next id is taken; a late live copy of a history message is
	// overlap; an id again on the connection is a redelivery; a skip is a gap.
	r.handle(s, live(1, 5))
	s.history[1] = 5
	r.handle(s, live(1, 5))
	s.history[1] = 0
	r.handle(s, live(1, 5))
	r.handle(s, live(1, 7))
	if r.last[1] != 5 || r.overlap != 2 || r.redelivered != 1 || len(r.gaps) != 1 || !s.catching[1] {
		t.Errorf("last %d, overlap %d, redelivered %d, gaps %v, catching %v; want 5, 2, 1, one gap, catching again",
			r.last[1], r.overlap, r.redelivered, r.gaps, s.catching[1])
	}
	// Messages of other rooms than its own are not the receiver's concern.
	r.handle(s, live(9, 1))
	if _, ok := r.last[9]; ok {
		t.Error("a message of room 9 was taken")
	}
}

// writeConn is a net.Conn that records what is written.
type writeConn struct{ w *strings.Builder }

func (c writeConn) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c writeConn) Read([]byte) (int, error)         { select {} }
func (c writeConn) Close() error                     { return nil }
func (c writeConn) LocalAddr() net.Addr              { return nil }
func (c writeConn) RemoteAddr() net.Addr             { return nil }
func (c writeConn) SetDeadline(time.Time) error      { return nil }
func (c writeConn) SetReadDeadline(time.Time) error  { return nil }
func (c writeConn) SetWriteDeadline(time.Time) error { return nil }

func TestQuantileMs(t *testing.T) {
	ds := []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
	if q := quantileMs(ds, 0.5); q != 20 {
		t.Errorf("p50 = %v, want 20", q)
	}
	if q := quantileMs(ds, 1); q != 30 {
		t.Errorf("max = %v, want 30", q)
	}
	if q := quantileMs(nil, 0.5); q != 0 {
		t.Errorf("p50 of nothing = %v, want 0", q)
	}
}
