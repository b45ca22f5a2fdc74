package edge_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/edge"
)

// onlineIDs returns the user ids of a JOIN_ROOM_SUCCESS's
// online_participants, sorted, and checks that each is marked online.
func onlineIDs(t testing.TB, e envelope) []int64 {
	t.Helper()
	list, ok := e.Data["online_participants"].([]any)
	if !ok {
		t.Fatalf("JOIN_ROOM_SUCCESS %s has no online_participants list", e.raw)
	}
	var ids []int64
	for _, p := range list {
		m, _ := p.(map[string]any)
		id, _ := m["user_id"].(float64)
		if m["is_online"] != true || m["nickname"] != fmt.Sprintf("nick%d", int64(id)) {
			t.Errorf("online participant %v: want is_online true and nickname nick%d", m, int64(id))
		}
		ids = append(ids, int64(id))
	}
	slices.Sort(ids)
	return ids
}

func TestPresenceReports(t *testing.T) {
	h := newHarness(t, nil)
	if _, syncs := h.presence.state(); len(syncs[0]) != 0 {
		t.Errorf("first SyncSessions = %v, want no sessions", syncs[0])
	}
	a, aID := connectToken(t, h.addr, "tok-5", 5)
	_, bID := connectToken(t, h.addr, "tok-6", 6)
	unauthenticated := h.dial()
	unauthenticated.send("PING", "x", map[string]any{}) // its session exists, unreported
	unauthenticated.expectError("NOT_AUTHENTICATED", "x", "PING")
	a.conn.Close()
	wantReports := []string{"open " + aID + " 5", "open " + bID + " 6", "close " + aID}
	h.waitFor("the session reports", func() bool {
		reports, _ := h.presence.state()
		return len(reports) >= len(wantReports)
	})
	reports, _ := h.presence.state()
	sorted := slices.Clone(reports)
	slices.Sort(sorted)
	slices.Sort(wantReports)
	if !slices.Equal(sorted, wantReports) || slices.Index(reports, "open "+aID+" 5") > slices.Index(reports, "close "+aID) {
		t.Errorf("presence reports = %q, want %q with a's open before its close", reports, wantReports)
	}

	// A resubscription resumes after the last event seen, and is followed
	// by a SyncSessions of the authenticated sessions left.
	h.presence.publish([]int64{6}, &presencev1.Event{Payload: &presencev1.Event_StatusChanged{StatusChanged: &presencev1.StatusChanged{UserId: 5}}})
	h.waitFor("the edge to see event 1", func() bool { return h.presence.events.head() == 1 })
	_, syncsBefore := h.presence.state()
	h.presence.events.breakStreams()
	h.waitFor("a SyncSessions after the resubscription", func() bool {
		_, syncs := h.presence.state()
		return len(syncs) > len(syncsBefore)
	})
	_, syncs := h.presence.state()
	if want := []string{bID + " 6"}; !slices.Equal(syncs[len(syncs)-1], want) {
		t.Errorf("SyncSessions after resubscribing = %q, want %q", syncs[len(syncs)-1], want)
	}
	afters, _ := h.presence.events.subscriptions()
	if len(afters) < 2 || afters[0] != "unset" || slices.Contains(afters[1:], "unset") {
		t.Errorf("Subscribe after_seq values = %v, want unset, then resumed", afters)
	}
}

func TestPresenceStreamResume(t *testing.T) {
	h := newHarness(t, nil)
	c := h.connect(6)
	status := func(id int64) *presencev1.Event {
		return &presencev1.Event{Payload: &presencev1.Event_StatusChanged{StatusChanged: &presencev1.StatusChanged{UserId: id, Online: true}}}
	}
	h.presence.publish([]int64{6}, status(1))
	if e := c.expect("USER_STATUS_CHANGED", "s-"); e.num("user_id") != 1 {
		t.Fatalf("got %s, want USER_STATUS_CHANGED of user 1", e.raw)
	}
	h.presence.events.breakStreams()
	h.waitFor("the presence stream to break", func() bool { _, open := h.presence.events.subscriptions(); return open == 0 })
	h.presence.publish([]int64{6}, status(2)) // while the edge has no stream
	if e := c.expect("USER_STATUS_CHANGED", "s-"); e.num("user_id") != 2 {
		t.Fatalf("got %s, want USER_STATUS_CHANGED of user 2, published during the break", e.raw)
	}
	c.ping("no-dup")
	if afters, _ := h.presence.events.subscriptions(); afters[len(afters)-1] != "1" {
		t.Errorf("Subscribe after_seq values = %v, want the last one 1", afters)
	}
}

func TestPresenceEvents(t *testing.T) {
	h := newHarness(t, nil)
	u1a, u1b, u2, u3 := h.connect(1), h.connect(1), h.connect(2), h.connect(3)
	anon := h.dial()
	seen := time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

	h.presence.publish([]int64{1, 2, 1}, &presencev1.Event{Payload: &presencev1.Event_StatusChanged{StatusChanged: &presencev1.StatusChanged{
		UserId: 9, Online: false, LastSeen: timestamppb.New(seen),
	}}})
	h.presence.publish([]int64{2}, &presencev1.Event{Payload: &presencev1.Event_StatusChanged{StatusChanged: &presencev1.StatusChanged{
		UserId: 8, Online: true,
	}}})
	h.presence.publish(nil, &presencev1.Event{Payload: &presencev1.Event_Announcement{Announcement: &presencev1.Announcement{
		Title: "Maintenance", Message: "down at noon", Type: "maintenance", Priority: "high",
	}}})
	h.presence.publish([]int64{3, 404}, &presencev1.Event{Payload: &presencev1.Event_Announcement{Announcement: &presencev1.Announcement{
		Title: "Hi 3", Message: "just you", Type: "info", Priority: "low",
	}}})

	expectStatus := func(name string, c *client, user int64, online bool, lastSeen any) {
		t.Helper()
		e := c.expect("USER_STATUS_CHANGED", "s-")
		if e.num("user_id") != user || e.Data["is_online"] != online || e.Data["last_seen"] != lastSeen {
			t.Errorf("%s: got %s, want USER_STATUS_CHANGED user_id %d is_online %v last_seen %v", name, e.raw, user, online, lastSeen)
		}
	}
	expectAnnouncement := func(name string, c *client, title string) {
		t.Helper()
		e := c.expect("SERVER_ANNOUNCEMENT", "s-")
		if e.str("title") != title || e.str("message") == "" || e.str("type") == "" || e.str("priority") == "" {
			t.Errorf("%s: got %s, want SERVER_ANNOUNCEMENT %q with message, type and priority", name, e.raw, title)
		}
	}
	for name, c := range map[string]*client{"user 1 session a": u1a, "user 1 session b": u1b, "user 2": u2} {
		expectStatus(name, c, 9, false, "2024-05-06T07:08:09.123Z")
	}
	expectStatus("user 2", u2, 8, true, nil)
	for name, c := range map[string]*client{"user 1 session a": u1a, "user 1 session b": u1b, "user 2": u2, "user 3": u3} {
		expectAnnouncement(name, c, "Maintenance")
	}
	expectAnnouncement("user 3", u3, "Hi 3")
	// Nothing else was queued: no duplicate for user 1 listed twice, no
	// status for user 3, nothing for the unauthenticated connection.
	for name, c := range map[string]*client{"user 1 session a": u1a, "user 1 session b": u1b, "user 2": u2, "user 3": u3} {
		c.t = t
		c.send("PING", "end", map[string]any{})
		if e, err := c.read(); err != nil || e.Action != "PONG" {
			t.Errorf("%s: after the presence events got %s (err %v), want PONG", name, e.raw, err)
		}
	}
	anon.send("PING", "p", map[string]any{})
	anon.expectError("NOT_AUTHENTICATED", "p", "PING")
}

func TestJoinOnlineParticipants(t *testing.T) {
	h := newHarness(t, nil)
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 2, 3, 4)
	h.presence.mu.Lock()
	h.presence.online[2] = true // online on another edge
	h.presence.online[3] = false
	h.presence.mu.Unlock()
	a := h.connect(1)
	h.connect(3) // connected here; presence has not heard of it yet

	a.send("JOIN_ROOM", "j1", map[string]any{"chatroom_id": 1})
	if got, want := onlineIDs(t, a.expect("JOIN_ROOM_SUCCESS", "j1")), []int64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("online_participants = %v, want %v (presence's and this edge's)", got, want)
	}

	// A big room is asked about 1000 users at a time.
	h.chat.addRoom(2, false, 0)
	var members []int64
	for id := int64(1000); id < 3500; id++ {
		members = append(members, id)
	}
	h.chat.addMembers(2, members...)
	h.presence.mu.Lock()
	h.presence.online[1500], h.presence.online[3400] = true, true
	h.presence.getCalls = nil
	h.presence.mu.Unlock()
	a.send("JOIN_ROOM", "j2", map[string]any{"chatroom_id": 2})
	if got, want := onlineIDs(t, a.expect("JOIN_ROOM_SUCCESS", "j2")), []int64{1, 1500, 3400}; !slices.Equal(got, want) {
		t.Errorf("big room online_participants = %v, want %v", got, want)
	}
	h.presence.mu.Lock()
	var sizes []int
	for _, c := range h.presence.getCalls {
		sizes = append(sizes, len(c))
	}
	h.presence.getFails = true
	h.presence.mu.Unlock()
	if want := []int{1000, 1000, 501}; !slices.Equal(sizes, want) {
		t.Errorf("GetPresence calls for 2501 members asked %v users, want %v", sizes, want)
	}

	// Presence failing: this edge's view, and the join succeeds.
	a.send("JOIN_ROOM", "j3", map[string]any{"chatroom_id": 1})
	if got, want := onlineIDs(t, a.expect("JOIN_ROOM_SUCCESS", "j3")), []int64{1, 3}; !slices.Equal(got, want) {
		t.Errorf("online_participants with GetPresence failing = %v, want the local view %v", got, want)
	}
}

// TestPresenceDown checks that chat works without the presence service.
func TestPresenceDown(t *testing.T) {
	dead := listen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	h := newHarness(t, func(c *edge.Config) { c.PresenceAddr = deadAddr })
	h.chat.addRoom(1, false, 0)
	h.chat.addMembers(1, 2, 3)
	a := h.connect(1)
	b := h.connect(2)
	a.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 1})
	if got, want := onlineIDs(t, a.expect("JOIN_ROOM_SUCCESS", "j")), []int64{1, 2}; !slices.Equal(got, want) {
		t.Errorf("online_participants with presence down = %v, want the local view %v", got, want)
	}
	b.expect("USER_JOINED", "s-")
	a.send("SEND_MESSAGE", "m", map[string]any{"chatroom_id": 1, "content": "still chatting"})
	a.expect("NEW_MESSAGE", "m")
	if e := b.expect("NEW_MESSAGE", "m"); e.str("content") != "still chatting" {
		t.Errorf("B with presence down: got %s, want the message", e.raw)
	}
	h.waitFor("a logged presence report failure", func() bool {
		return h.logs.contains(`"service":"presence"`) && h.logs.contains("session report failed")
	})
}
