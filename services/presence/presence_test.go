package presence_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/services/presence"
)

// TestOnlineOffline opens and closes a user's only session: online is
// announced at once to the room peers, offline once the grace has passed,
// with the moment the session closed as last seen. A user without peers
// announces nothing.
func TestOnlineOffline(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {2, 3}})
	s := start(t, f.config())
	edge := s.subscribe(t, "edge-a", nil)

	opened := f.clock.Now()
	s.open(t, "edge-a", "s1", 1)
	edge.expect(t, change{user: 1, online: true, to: []int64{2, 3}, lastSeen: opened})
	now := f.clock.Advance(time.Minute)
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 1, lastSeen: now})

	closed := f.clock.Advance(time.Second)
	s.close(t, "edge-a", "s1")
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 0, lastSeen: closed})
	f.clock.Advance(grace - time.Millisecond)
	edge.expectQuiet(t, s)

	f.clock.Advance(2 * time.Millisecond)
	edge.expect(t, change{user: 1, online: false, to: []int64{2, 3}, lastSeen: closed})
	f.clock.Advance(time.Hour)
	s.expectPresence(t, 1, presenceOf{online: false, sessions: 0, lastSeen: closed})

	s.open(t, "edge-a", "s2", 5) // no room peers
	f.clock.Advance(time.Minute)
	s.close(t, "edge-a", "s2")
	f.clock.Advance(2 * grace)
	edge.expectQuiet(t, s)
}

// TestGraceReconnect closes a user's session and opens another within the
// grace: nothing is announced, then or later.
func TestGraceReconnect(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {2}})
	s := start(t, f.config())
	edge := s.subscribe(t, "edge-a", nil)
	s.open(t, "edge-a", "s1", 1)
	edge.expect(t, change{user: 1, online: true, to: []int64{2}})

	s.close(t, "edge-a", "s1")
	time.Sleep(settle) // a sweep within the grace must not end it
	f.clock.Advance(grace - time.Millisecond)
	edge.expectQuiet(t, s)
	s.open(t, "edge-a", "s2", 1)
	f.clock.Advance(10 * grace)
	edge.expectQuiet(t, s)
	now := f.clock.Now()
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 1, lastSeen: now})
}

// TestSessionsAcrossEdges counts a user's sessions on two edges (with the
// same session id on each): online once, offline only when the last one
// has closed and the grace passed. Reopening a session and closing an
// unknown one change nothing.
func TestSessionsAcrossEdges(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {1, 7}}) // the user among their peers is left out
	s := start(t, f.config())
	a := s.subscribe(t, "edge-a", nil)
	s.subscribe(t, "edge-b", nil)

	s.open(t, "edge-a", "s1", 1)
	s.open(t, "edge-b", "s1", 1)
	s.open(t, "edge-b", "s1", 1) // reported twice
	s.close(t, "edge-b", "unknown")
	s.close(t, "edge-unknown", "s1")
	a.expect(t, change{user: 1, online: true, to: []int64{7}})
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 2, lastSeen: f.clock.Now()})

	s.close(t, "edge-a", "s1")
	f.clock.Advance(3 * grace)
	a.expectQuiet(t, s)
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 1, lastSeen: f.clock.Now()})

	closed := f.clock.Now()
	s.close(t, "edge-b", "s1")
	f.clock.Advance(grace + time.Millisecond)
	a.expect(t, change{user: 1, online: false, to: []int64{7}, lastSeen: closed})
}

// TestSyncSessions replaces an edge's sessions: users gone from the list
// go through the grace, new ones come online, those kept announce nothing.
// A session id given to another user moves the session.
func TestSyncSessions(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {9}, 2: {9}, 3: {9}, 4: {9}})
	s := start(t, f.config())
	edge := s.subscribe(t, "edge-a", nil)
	s.open(t, "edge-a", "s1", 1)
	s.open(t, "edge-a", "s2", 2)
	edge.expect(t, change{user: 1, online: true, to: []int64{9}}, change{user: 2, online: true, to: []int64{9}})

	synced := f.clock.Advance(time.Second)
	s.sync(t, "edge-a", map[string]int64{"s2": 2, "s3": 3})
	edge.expect(t, change{user: 3, online: true, to: []int64{9}, lastSeen: synced})
	f.clock.Advance(grace + time.Millisecond)
	edge.expect(t, change{user: 1, online: false, to: []int64{9}, lastSeen: synced})
	edge.expectQuiet(t, s)
	s.expectPresence(t, 2, presenceOf{online: true, sessions: 1, lastSeen: f.clock.Now()})
	s.expectPresence(t, 3, presenceOf{online: true, sessions: 1, lastSeen: f.clock.Now()})

	s.sync(t, "edge-a", map[string]int64{"s2": 2, "s3": 4}) // s3 now belongs to user 4
	edge.expect(t, change{user: 4, online: true, to: []int64{9}})
	s.sync(t, "edge-a", nil)
	f.clock.Advance(grace + time.Millisecond)
	edge.expect(t, change{user: 2, online: false, to: []int64{9}}, change{user: 3, online: false, to: []int64{9}},
		change{user: 4, online: false, to: []int64{9}})
	s.expectPresence(t, 2, presenceOf{online: false, sessions: 0, lastSeen: f.clock.Now().Add(-grace - time.Millisecond)})
}

// TestEdgeLeaseExpiry loses an edge's stream without a goodbye: after the
// lease its sessions are dropped, and after the grace its users are
// announced offline. An edge that reports sessions without ever
// subscribing loses them the same way.
func TestEdgeLeaseExpiry(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {9}, 3: {9}})
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-observer", nil)
	a := s.subscribe(t, "edge-a", nil)
	opened := f.clock.Now()
	s.open(t, "edge-a", "s1", 1)
	obs.expect(t, change{user: 1, online: true, to: []int64{9}})

	a.cancel()
	time.Sleep(settle) // the service notices the stream's end; checked below
	f.clock.Advance(lease - time.Millisecond)
	obs.expectQuiet(t, s)
	if got := s.get(t, 1); got.sessions != 1 {
		t.Errorf("GetPresence(1) within the lease = %+v, want 1 session", got)
	}
	// Past the lease: the sessions go. Bounded: the lease starts when the
	// service has noticed the stream's end.
	dropped := false
	for i := 0; i < 20 && !dropped; i++ {
		f.clock.Advance(lease)
		for j := 0; j < 10 && !dropped; j++ {
			time.Sleep(20 * time.Millisecond)
			dropped = s.get(t, 1).sessions == 0
		}
	}
	if !dropped {
		t.Fatalf("edge-a's session still counted long after its lease")
	}
	if got := s.get(t, 1); !got.online {
		t.Errorf("GetPresence(1) right after the lease = %+v, want online (grace)", got)
	}
	f.clock.Advance(grace + time.Millisecond)
	ev := obs.next(t)
	sc := ev.GetStatusChanged()
	if sc.GetUserId() != 1 || sc.GetOnline() {
		t.Fatalf("got event %s, want user 1 offline", describe(ev))
	}
	if seen := sc.GetLastSeen().AsTime(); seen.Before(opened) || seen.After(f.clock.Now().Add(-grace)) {
		t.Errorf("offline last_seen = %v, want between the open (%v) and the drop", seen, opened)
	}

	s.open(t, "edge-never-subscribed", "s1", 3)
	obs.expect(t, change{user: 3, online: true, to: []int64{9}})
	f.clock.Advance(lease + time.Millisecond)
	s.waitSessions(t, 3, 0)
	f.clock.Advance(grace + time.Millisecond)
	obs.expect(t, change{user: 3, online: false, to: []int64{9}})
}

// TestEdgeLeaseResubscribe reconnects an edge's stream within the lease:
// its sessions stay, nothing is announced.
func TestEdgeLeaseResubscribe(t *testing.T) {
	f := newFixture(t, map[int64][]int64{2: {9}})
	s := start(t, f.config())
	obs := s.subscribe(t, "edge-observer", nil)
	b1 := s.subscribe(t, "edge-b", nil)
	s.open(t, "edge-b", "s1", 2)
	obs.expect(t, change{user: 2, online: true, to: []int64{9}})

	b1.cancel()
	f.clock.Advance(lease - time.Millisecond)
	s.subscribe(t, "edge-b", nil)
	f.clock.Advance(3*lease + grace)
	obs.expectQuiet(t, s)
	s.expectPresence(t, 2, presenceOf{online: true, sessions: 1, lastSeen: f.clock.Now()})
}

// TestRestart stops the service with users online and one in the grace,
// then starts it again: the edge resubscribes and resyncs one user, who
// announces nothing; the others are announced offline once the lease has
// passed, with their persisted last seen; so is one who is resynced and
// closes at once, but not before the lease. A user already offline keeps
// their last seen.
func TestRestart(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {9}, 2: {9}, 3: {9}, 4: {9}, 5: {9}})
	s := start(t, f.config())
	edge := s.subscribe(t, "edge-a", nil)
	s.open(t, "edge-a", "s4", 4)
	edge.expect(t, change{user: 4, online: true, to: []int64{9}})
	closed4 := f.clock.Advance(time.Second)
	s.close(t, "edge-a", "s4")
	f.clock.Advance(grace + time.Millisecond)
	edge.expect(t, change{user: 4, online: false, to: []int64{9}, lastSeen: closed4})

	s.open(t, "edge-a", "s1", 1)
	s.open(t, "edge-a", "s2", 2)
	s.open(t, "edge-a", "s3", 3)
	s.open(t, "edge-a", "s5", 5)
	edge.expect(t, change{user: 1, online: true, to: []int64{9}}, change{user: 2, online: true, to: []int64{9}},
		change{user: 3, online: true, to: []int64{9}}, change{user: 5, online: true, to: []int64{9}})
	closed3 := f.clock.Advance(time.Second)
	s.close(t, "edge-a", "s3")
	stopped := f.clock.Advance(time.Second)
	s.stop(t)

	s = start(t, f.config())
	obs := s.subscribe(t, "edge-observer", nil)
	for _, user := range []int64{1, 2, 3} {
		if got := s.get(t, user); !got.online || got.sessions != 0 {
			t.Errorf("GetPresence(%d) after the restart = %+v, want online without sessions until the lease passes", user, got)
		}
	}
	s.expectPresence(t, 4, presenceOf{online: false, lastSeen: closed4})
	s.subscribe(t, "edge-a", nil)
	s.sync(t, "edge-a", map[string]int64{"s1": 1, "s5": 5})
	closed5 := f.clock.Now()
	s.close(t, "edge-a", "s5")
	f.clock.Advance(lease - time.Millisecond) // more than the grace
	obs.expectQuiet(t, s)

	f.clock.Advance(2 * time.Millisecond)
	obs.expect(t, change{user: 2, online: false, to: []int64{9}, lastSeen: stopped},
		change{user: 3, online: false, to: []int64{9}, lastSeen: closed3},
		change{user: 5, online: false, to: []int64{9}, lastSeen: closed5})
	obs.expectQuiet(t, s)
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 1, lastSeen: f.clock.Now()})
	s.expectPresence(t, 2, presenceOf{online: false, lastSeen: stopped})

	// Durable across one more restart.
	s.stop(t)
	s = start(t, f.config())
	s.expectPresence(t, 2, presenceOf{online: false, lastSeen: stopped})
	s.expectPresence(t, 3, presenceOf{online: false, lastSeen: closed3})
	s.expectPresence(t, 4, presenceOf{online: false, lastSeen: closed4})
}

// TestSubscribeResume subscribes at the head, from the oldest kept event,
// after a given seq and beyond the head, with EventRetention 5.
func TestSubscribeResume(t *testing.T) {
	f := newFixture(t, nil)
	cfg := f.config()
	cfg.EventRetention = 5
	s := start(t, cfg)
	for i := range 8 {
		title := string(rune('a' + i))
		if _, err := s.admin.Announce(callCtx(t), &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: title, Message: "m"}}); err != nil {
			t.Fatalf("Announce(%q) = %v", title, err)
		}
	}
	tests := []struct {
		name          string
		after         *uint64
		wantSeqs      []uint64
		wantTruncated bool
	}{
		{"head", nil, nil, false},
		{"oldest kept", proto.Uint64(0), []uint64{4, 5, 6, 7, 8}, true},
		{"after a trimmed seq", proto.Uint64(2), []uint64{4, 5, 6, 7, 8}, true},
		{"after the last trimmed seq", proto.Uint64(3), []uint64{4, 5, 6, 7, 8}, false},
		{"after a kept seq", proto.Uint64(6), []uint64{7, 8}, false},
		{"after the head", proto.Uint64(8), nil, false},
		{"beyond the head", proto.Uint64(100), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := s.subscribe(t, "edge-"+tt.name, tt.after)
			defer st.cancel()
			var seqs []uint64
			for _, ev := range st.first.GetEvents() {
				seqs = append(seqs, ev.GetSeq())
			}
			if st.first.GetHeadSeq() != 8 || st.first.GetTruncated() != tt.wantTruncated || !equalSeqs(seqs, tt.wantSeqs) {
				t.Errorf("Subscribe(after %v) first response: head %d, truncated %v, seqs %v; want 8, %v, %v",
					tt.after, st.first.GetHeadSeq(), st.first.GetTruncated(), seqs, tt.wantTruncated, tt.wantSeqs)
			}
		})
	}
	live := s.subscribe(t, "edge-live", nil)
	if _, err := s.admin.Announce(callCtx(t), &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "live", Message: "m"}}); err != nil {
		t.Fatalf("Announce(live) = %v", err)
	}
	if ev := live.next(t); ev.GetSeq() != 9 || ev.GetAnnouncement().GetTitle() != "live" {
		t.Errorf("live event = %s, want seq 9 %q", describe(ev), "live")
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAnnounce delivers announcements to everyone and to listed users, and
// refuses invalid ones.
func TestAnnounce(t *testing.T) {
	f := newFixture(t, nil)
	s := start(t, f.config())
	a := s.subscribe(t, "edge-a", nil)
	b := s.subscribe(t, "edge-b", nil)
	all := &presencev1.Announcement{Title: "Maintenance", Message: "at noon", Type: "maintenance", Priority: "high"}
	if _, err := s.admin.Announce(callCtx(t), &presencev1.AnnounceRequest{Announcement: all}); err != nil {
		t.Fatalf("Announce(%v) = %v", all, err)
	}
	targeted := &presencev1.Announcement{Title: "Hi", Message: "you two"}
	if _, err := s.admin.Announce(callCtx(t), &presencev1.AnnounceRequest{Announcement: targeted, UserIds: []int64{5, 6}}); err != nil {
		t.Fatalf("Announce(%v to 5, 6) = %v", targeted, err)
	}
	for name, st := range map[string]*stream{"edge-a": a, "edge-b": b} {
		ev := st.next(t)
		if !proto.Equal(ev.GetAnnouncement(), all) || len(ev.GetUserIds()) != 0 {
			t.Errorf("%s: first event %v, want %v to everyone", name, ev, all)
		}
		ev = st.next(t)
		if !proto.Equal(ev.GetAnnouncement(), targeted) || !equalInts(ev.GetUserIds(), []int64{5, 6}) {
			t.Errorf("%s: second event %v, want %v to [5 6]", name, ev, targeted)
		}
	}

	long := strings.Repeat("é", presence.MaxAnnouncementChars)
	manyUsers := make([]int64, presence.MaxAnnounceUsers+1)
	for i := range manyUsers {
		manyUsers[i] = int64(i + 1)
	}
	tests := []struct {
		name string
		req  *presencev1.AnnounceRequest
		want codes.Code
	}{
		{"longest", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: long, Message: long}, UserIds: manyUsers[:presence.MaxAnnounceUsers]}, codes.OK},
		{"no announcement", &presencev1.AnnounceRequest{}, codes.InvalidArgument},
		{"no title", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Message: "m"}}, codes.InvalidArgument},
		{"no message", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "t"}}, codes.InvalidArgument},
		{"title too long", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: long + "x", Message: "m"}}, codes.InvalidArgument},
		{"message too long", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "t", Message: long + "x"}}, codes.InvalidArgument},
		{"type too long", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "t", Message: "m", Type: strings.Repeat("x", presence.MaxLabelChars+1)}}, codes.InvalidArgument},
		{"priority too long", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "t", Message: "m", Priority: strings.Repeat("x", presence.MaxLabelChars+1)}}, codes.InvalidArgument},
		{"too many users", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "t", Message: "m"}, UserIds: manyUsers}, codes.InvalidArgument},
		{"user id not positive", &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: "t", Message: "m"}, UserIds: []int64{1, 0}}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.admin.Announce(callCtx(t), tt.req)
			if got := code(err); got != tt.want {
				t.Errorf("Announce(%s) code = %v (%v), want %v", tt.name, got, err, tt.want)
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGetPresence answers in the order asked, for known and unknown users,
// and bounds the users of one call.
func TestGetPresence(t *testing.T) {
	f := newFixture(t, nil)
	s := start(t, f.config())
	s.subscribe(t, "edge-a", nil)
	s.open(t, "edge-a", "s1", 2)
	s.open(t, "edge-a", "s2", 2)
	res, err := s.presence.GetPresence(callCtx(t), &presencev1.GetPresenceRequest{UserIds: []int64{3, 2, 3}})
	if err != nil {
		t.Fatalf("GetPresence(3, 2, 3) = %v", err)
	}
	now := f.clock.Now()
	want := []*presencev1.UserPresence{{UserId: 3}, {UserId: 2, Online: true, Sessions: 2}, {UserId: 3}}
	if len(res.GetUsers()) != len(want) {
		t.Fatalf("GetPresence(3, 2, 3) = %v, want 3 entries", res)
	}
	for i, w := range want {
		g := res.GetUsers()[i]
		if g.GetUserId() != w.UserId || g.GetOnline() != w.Online || g.GetSessions() != w.Sessions {
			t.Errorf("GetPresence(3, 2, 3)[%d] = %v, want %v", i, g, w)
		}
		if w.Online != (g.LastSeen != nil) || (g.LastSeen != nil && !g.GetLastSeen().AsTime().Equal(now)) {
			t.Errorf("GetPresence(3, 2, 3)[%d].last_seen = %v, want %v for an online user, unset for one never seen", i, g.LastSeen, now)
		}
	}

	ids := make([]int64, presence.MaxPresenceUsers+1)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	tests := []struct {
		name string
		ids  []int64
		want codes.Code
	}{
		{"none", nil, codes.OK},
		{"most", ids[:presence.MaxPresenceUsers], codes.OK},
		{"too many", ids, codes.InvalidArgument},
		{"not positive", []int64{1, -1}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.presence.GetPresence(callCtx(t), &presencev1.GetPresenceRequest{UserIds: tt.ids})
			if got := code(err); got != tt.want {
				t.Fatalf("GetPresence(%d users) code = %v (%v), want %v", len(tt.ids), got, err, tt.want)
			}
			if err == nil && len(res.GetUsers()) != len(tt.ids) {
				t.Errorf("GetPresence(%d users) returned %d entries", len(tt.ids), len(res.GetUsers()))
			}
		})
	}
}

// TestSessionValidation refuses malformed session reports.
func TestSessionValidation(t *testing.T) {
	f := newFixture(t, nil)
	s := start(t, f.config())
	long := strings.Repeat("x", presence.MaxIDBytes+1)
	ok := strings.Repeat("x", presence.MaxIDBytes)
	ctx := callCtx(t)
	opened := func(edge, session string, user int64) error {
		_, err := s.presence.SessionOpened(ctx, &presencev1.SessionOpenedRequest{EdgeId: edge, Session: &presencev1.Session{SessionId: session, UserId: user}})
		return err
	}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"opened, longest ids", func() error { return opened(ok, ok, 1) }, codes.OK},
		{"opened, no edge", func() error { return opened("", "s", 1) }, codes.InvalidArgument},
		{"opened, edge too long", func() error { return opened(long, "s", 1) }, codes.InvalidArgument},
		{"opened, no session id", func() error { return opened("e", "", 1) }, codes.InvalidArgument},
		{"opened, session id too long", func() error { return opened("e", long, 1) }, codes.InvalidArgument},
		{"opened, user not positive", func() error { return opened("e", "s", 0) }, codes.InvalidArgument},
		{"opened, no session", func() error {
			_, err := s.presence.SessionOpened(ctx, &presencev1.SessionOpenedRequest{EdgeId: "e"})
			return err
		}, codes.InvalidArgument},
		{"closed, no session id", func() error {
			_, err := s.presence.SessionClosed(ctx, &presencev1.SessionClosedRequest{EdgeId: "e"})
			return err
		}, codes.InvalidArgument},
		{"closed, no edge", func() error {
			_, err := s.presence.SessionClosed(ctx, &presencev1.SessionClosedRequest{SessionId: "s"})
			return err
		}, codes.InvalidArgument},
		{"sync, no edge", func() error {
			_, err := s.presence.SyncSessions(ctx, &presencev1.SyncSessionsRequest{})
			return err
		}, codes.InvalidArgument},
		{"sync, bad session", func() error {
			_, err := s.presence.SyncSessions(ctx, &presencev1.SyncSessionsRequest{EdgeId: "e", Sessions: []*presencev1.Session{{SessionId: "s", UserId: -3}}})
			return err
		}, codes.InvalidArgument},
		{"subscribe, no edge", func() error {
			st, err := s.presence.Subscribe(ctx, &presencev1.SubscribeRequest{})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(tt.call()); got != tt.want {
				t.Errorf("%s: code = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// TestChatUnreachable points the service at a chat that accepts
// connections and never answers: SessionOpened returns at once, the user
// is online, and the announcement is dropped once every lookup has hit
// RPCTimeout.
func TestChatUnreachable(t *testing.T) {
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { hole.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	f := newFixture(t, nil)
	cfg := f.config()
	cfg.ChatAddr = hole.Addr().String()
	cfg.RPCTimeout = 100 * time.Millisecond
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := start(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := &presencev1.SessionOpenedRequest{EdgeId: "edge-a", Session: &presencev1.Session{SessionId: "s1", UserId: 1}}
	if _, err := s.presence.SessionOpened(ctx, req); err != nil {
		t.Fatalf("SessionOpened(%v) with chat unreachable = %v, want it to return without waiting for chat", req, err)
	}
	s.expectPresence(t, 1, presenceOf{online: true, sessions: 1, lastSeen: f.clock.Now()})
	const dropped = "presence announcement dropped"
	for i := 0; i < 100 && !logs.contains(dropped); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !logs.contains(dropped) {
		t.Errorf("no %q log record 10 s after SessionOpened with a chat that never answers", dropped)
	}
}

// TestChatRetry fails the first lookups: the announcement goes out after
// the retries.
func TestChatRetry(t *testing.T) {
	f := newFixture(t, map[int64][]int64{1: {2}})
	f.chat.fail = 2
	s := start(t, f.config())
	edge := s.subscribe(t, "edge-a", nil)
	s.open(t, "edge-a", "s1", 1)
	edge.expect(t, change{user: 1, online: true, to: []int64{2}})
	if got := f.chat.callCount(); got != 3 {
		t.Errorf("ListRoomPeers called %d times, want 3 (two failures, then success)", got)
	}
}

// TestRunConfig refuses configurations Run cannot serve.
func TestRunConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  presence.Config
	}{
		{"no data dir", presence.Config{}},
		{"negative grace", presence.Config{DataDir: t.TempDir(), OfflineGrace: -1}},
		{"negative lease", presence.Config{DataDir: t.TempDir(), EdgeLease: -1}},
		{"negative timeout", presence.Config{DataDir: t.TempDir(), RPCTimeout: -1}},
		{"negative retention", presence.Config{DataDir: t.TempDir(), EventRetention: -1}},
		{"bad address", presence.Config{DataDir: t.TempDir(), Addr: "not an address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := presence.Run(ctx, tt.cfg); err == nil {
				t.Errorf("Run(%+v) = nil, want an error", tt.cfg)
			}
		})
	}
}
