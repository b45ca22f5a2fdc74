package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/edge/internal/hub"
)

func TestValidSignal(t *testing.T) {
	offer := signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER
	answer := signalingv1.SignalKind_SIGNAL_KIND_SDP_ANSWER
	cand := signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE
	for _, tc := range []struct {
		kind    signalingv1.SignalKind
		payload string
		want    bool
	}{
		{offer, `{"type":"offer","sdp":"v=0\r\n"}`, true},
		{offer, `{"type":"answer","sdp":"v=0\r\n"}`, false},
		{offer, `{"type":"offer","sdp":""}`, false},
		{offer, `{"type":"offer"}`, false},
		{offer, `"v=0"`, false},
		{offer, ``, false},
		{answer, `{"type":"answer","sdp":"v=0\r\n"}`, true},
		{answer, `{"type":"pranswer","sdp":"v=0\r\n"}`, true},
		{answer, `{"type":"offer","sdp":"v=0\r\n"}`, false},
		{cand, `{"candidate":"candidate:1 1 UDP 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`, true},
		{cand, `{"candidate":"","sdpMid":"0","sdpMLineIndex":0}`, true}, // end of candidates
		{cand, `{"candidate":"candidate:1","sdpMid":null,"sdpMLineIndex":null}`, true},
		{cand, `{"sdpMid":"0"}`, false},
		{cand, `{"candidate":5}`, false},
		{cand, `{"candidate":"x","sdpMLineIndex":-1}`, false},
		{cand, `[1]`, false},
		// Found by FuzzValidSignal: what the target's WebRTC stack would
		// not read as the kind's object, or what its edge would not deliver.
		{offer, `{"TYPE":"offer","SDP":"v=0\r\n"}`, false},
		{offer, `{"type":"offer","Sdp":"v=0\r\n"}`, false},
		{cand, `{"Candidate":"candidate:1"}`, false},
		{cand, `{"candidate":"candidate:1","sdpMid":5}`, false},
		{offer, "{\"type\":\"offer\",\n\"sdp\":\"v=0\"}", false},
		{offer, `{"type":"answer","sdp":"v=0","type":"offer"}`, true}, // the last of a repeated key counts, as in JSON.parse
		{signalingv1.SignalKind_SIGNAL_KIND_UNSPECIFIED, `{"type":"answer","sdp":"v=0\r\n"}`, false},
		{signalingv1.SignalKind(4), `{"type":"answer","sdp":"v=0\r\n"}`, false},
	} {
		if got := validSignal(tc.kind, json.RawMessage(tc.payload)); got != tc.want {
			t.Errorf("validSignal(%v, %s) = %v, want %v", tc.kind, tc.payload, got, tc.want)
		}
	}
}

func TestSignalBucket(t *testing.T) {
	var b signalBucket
	now := time.Unix(1000, 0)
	for i := range 5 {
		if !b.take(now, 2, 5) {
			t.Fatalf("take %d of a full bucket of 5 = false, want true", i+1)
		}
	}
	if b.take(now, 2, 5) {
		t.Fatal("take from an empty bucket = true, want false")
	}
	if !b.take(now.Add(500*time.Millisecond), 2, 5) {
		t.Fatal("take after 0.5 s at 2/s = false, want true (one token earned)")
	}
	if b.take(now.Add(500*time.Millisecond), 2, 5) {
		t.Fatal("second take after 0.5 s at 2/s = true, want false")
	}
	if !b.take(now.Add(time.Hour), 2, 5) {
		t.Fatal("take after an hour = false, want true")
	}
	var unlimited signalBucket
	for range 100 {
		if !unlimited.take(now, 0, 0) {
			t.Fatal("take with rate 0 = false, want true (no limit)")
		}
	}
}

// lineConn is a client connection that keeps the lines written to it.
type lineConn struct {
	mu    sync.Mutex
	lines []string
	buf   []byte
}

func (c *lineConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		c.lines = append(c.lines, string(c.buf[:i]))
		c.buf = c.buf[i+1:]
	}
}

func (c *lineConn) Close() error                     { return nil }
func (c *lineConn) SetWriteDeadline(time.Time) error { return nil }

// actionsUntil waits for the line containing marker and returns the
// actions written before it.
func (c *lineConn) actionsUntil(t *testing.T, marker string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		for i, l := range c.lines {
			if strings.Contains(l, marker) {
				var actions []string
				for _, l := range c.lines[:i] {
					var env struct{ Action string }
					json.Unmarshal([]byte(l), &env)
					actions = append(actions, env.Action)
				}
				c.mu.Unlock()
				return actions
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no line with %q written in 5 s", marker)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDeliverSignaling checks who gets each kind of event: the chat room's
// sessions but the origin, the listed sessions of this edge only, and each
// session once when it is both in the room and listed; a signal whose
// payload is not one line of JSON is dropped.
func TestDeliverSignaling(t *testing.T) {
	srv := newDeliverServer(0, false, nil)
	conns := map[string]*lineConn{}
	for i, id := range []string{"0", "1", "2", "3", "x"} {
		conns[id] = &lineConn{}
		rooms := []int64{1}
		if id == "x" {
			rooms = []int64{2}
		}
		srv.hub.Register(srv.hub.NewSession(id, conns[id]), hub.Registration{UserID: int64(i + 1), Rooms: rooms}, nil)
	}
	ref := func(edge, id string) *signalingv1.SessionRef {
		return &signalingv1.SessionRef{EdgeId: edge, SessionId: id}
	}
	srv.DeliverSignaling(&signalingv1.Event{Seq: 1, ChatroomId: 1, Origin: ref("e1", "0"),
		Payload: &signalingv1.Event_RoomCreated{RoomCreated: &signalingv1.VideoRoomCreated{Room: &signalingv1.VideoRoom{VideoRoomId: 7, ChatroomId: 1}}}})
	srv.DeliverSignaling(&signalingv1.Event{Seq: 2, Sessions: []*signalingv1.SessionRef{ref("e1", "2"), ref("e2", "3")}, SeqId: "sdp_001",
		Payload: &signalingv1.Event_Signal{Signal: &signalingv1.Signal{VideoRoomId: 7, Kind: signalingv1.SignalKind_SIGNAL_KIND_SDP_OFFER,
			FromUserId: 1, ToUserId: 3, Payload: []byte(`{"type":"offer","sdp":"v=0"}`)}}})
	srv.DeliverSignaling(&signalingv1.Event{Seq: 3, ChatroomId: 1, Sessions: []*signalingv1.SessionRef{ref("e1", "1"), ref("e1", "x")},
		Payload: &signalingv1.Event_RoomClosed{RoomClosed: &signalingv1.VideoRoomClosed{VideoRoomId: 7, ChatroomId: 1, Reason: "closed"}}})
	srv.DeliverSignaling(&signalingv1.Event{Seq: 4, Sessions: []*signalingv1.SessionRef{ref("e1", "1")},
		Payload: &signalingv1.Event_Signal{Signal: &signalingv1.Signal{VideoRoomId: 7, Kind: signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE,
			Payload: []byte("{\"candidate\":\n\"x\"}")}}})
	srv.hub.SendAll(&hub.Broadcast{Line: []byte("{\"action\":\"MARK\"}\n")})

	want := map[string][]string{
		"0": {"VIDEO_ROOM_CLOSED"},
		"1": {"VIDEO_ROOM_CREATED", "VIDEO_ROOM_CLOSED"},
		"2": {"VIDEO_ROOM_CREATED", "SDP_OFFER", "VIDEO_ROOM_CLOSED"},
		"3": {"VIDEO_ROOM_CREATED", "VIDEO_ROOM_CLOSED"},
		"x": {"VIDEO_ROOM_CLOSED"},
	}
	for id, w := range want {
		if got := conns[id].actionsUntil(t, "MARK"); !slices.Equal(got, w) {
			t.Errorf("session %s got %q, want %q", id, got, w)
		}
	}
	// The relayed offer echoes the sender's seq_id, as the protocol
	// document shows; the others carry server seq_ids.
	conns["2"].mu.Lock()
	defer conns["2"].mu.Unlock()
	for _, l := range conns["2"].lines[:3] {
		var env struct {
			Action string `json:"action"`
			SeqID  string `json:"seq_id"`
		}
		json.Unmarshal([]byte(l), &env)
		if echoed := env.SeqID == "sdp_001"; echoed != (env.Action == "SDP_OFFER") {
			t.Errorf("session 2 got %s: seq_id %q, want sdp_001 on the SDP_OFFER alone", l, env.SeqID)
		}
	}
}

// TestDeliverSignalingAllocs checks that an event to every participant is
// encoded once, not once per recipient.
func TestDeliverSignalingAllocs(t *testing.T) {
	const n = 200
	srv := newDeliverServer(n, true, nil)
	ev := &signalingv1.Event{Payload: &signalingv1.Event_ParticipantJoined{ParticipantJoined: &signalingv1.ParticipantJoined{
		VideoRoomId: 7, Participant: &signalingv1.Participant{UserId: 5, Nickname: "eve"}, ParticipantsCount: n,
	}}}
	for i := range n {
		ev.Sessions = append(ev.Sessions, &signalingv1.SessionRef{EdgeId: "e1", SessionId: fmt.Sprint(i)})
	}
	allocs := testing.AllocsPerRun(50, func() { srv.DeliverSignaling(ev) })
	t.Logf("%.1f allocs per event to %d sessions", allocs, n)
	if allocs/n > 1 {
		t.Errorf("DeliverSignaling allocates %.2f times per delivery, want well under 1", allocs/n)
	}
}
