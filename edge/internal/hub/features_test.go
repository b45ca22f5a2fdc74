package hub

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

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge/internal/protocol"
)

// message returns a broadcast NEW_MESSAGE from sender, encoded as the
// server encodes it.
func message(id, sender int64, content string) *Broadcast {
	m := &chatv1.Message{Id: id, RoomId: 1, UserId: sender, Nickname: fmt.Sprint("n", sender), Content: content,
		MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT, CreatedAt: timestamppb.Now()}
	line := protocol.AppendNewMessage(nil, protocol.Header{Time: time.Now(), SeqPrefix: "s-", SeqNum: uint64(id)}, m)
	return &Broadcast{Line: line, Message: protocol.Data(line), SenderID: sender}
}

type wireEnvelope struct {
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data"`
	Compressed bool            `json:"compressed"`
}

// envelopes splits written output into envelopes, inflating compressed data.
func envelopes(t *testing.T, out string) []wireEnvelope {
	t.Helper()
	var envs []wireEnvelope
	for line := range strings.Lines(out) {
		var e wireEnvelope
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("written line %.100q: %v", line, err)
		}
		if e.Compressed {
			var s string
			json.Unmarshal(e.Data, &s)
			z, _ := base64.StdEncoding.DecodeString(s)
			zr, err := gzip.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatalf("compressed data of %.100q: %v", line, err)
			}
			e.Data, _ = io.ReadAll(zr)
		}
		envs = append(envs, e)
	}
	return envs
}

// contents lists the contents of a NEW_MESSAGE or a BATCH_MESSAGES.
func contents(t *testing.T, e wireEnvelope) []string {
	t.Helper()
	var d struct {
		Content  *string `json:"content"`
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("%s data %s: %v", e.Action, e.Data, err)
	}
	if d.Content != nil {
		return []string{*d.Content}
	}
	var out []string
	for _, m := range d.Messages {
		out = append(out, m.Content)
	}
	return out
}

// summary renders envelopes as "ACTION[contents]" for comparison.
func summary(t *testing.T, envs []wireEnvelope) string {
	var parts []string
	for _, e := range envs {
		switch e.Action {
		case "NEW_MESSAGE", "BATCH_MESSAGES":
			parts = append(parts, e.Action+"["+strings.Join(contents(t, e), ",")+"]")
		default:
			parts = append(parts, e.Action)
		}
	}
	return strings.Join(parts, " ")
}

// closeAndRead closes s after its queue (and open batch) is written and
// returns what it wrote.
func closeAndRead(t *testing.T, s *Session, c *recordConn) string {
	t.Helper()
	s.CloseAfterFlush()
	waitDone(t, s)
	out, _ := c.state()
	return out
}

func TestBlockFiltering(t *testing.T) {
	h := New(Options{QueueMessages: 100, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 64})
	conns := map[string]*recordConn{}
	sess := map[string]*Session{}
	for _, tc := range []struct {
		id      string
		reg     Registration
		batches bool
	}{
		{"a1", Registration{UserID: 1, Rooms: []int64{1}, Blocked: []int64{2}}, false},
		{"a2", Registration{UserID: 1, Rooms: []int64{1}, Blocked: []int64{3}}, true}, // a1's list wins: user 1 is known
		{"b1", Registration{UserID: 2, Rooms: []int64{1}}, false},
		{"c1", Registration{UserID: 3, Rooms: []int64{1}}, false},
	} {
		conns[tc.id] = &recordConn{}
		sess[tc.id] = h.NewSession(tc.id, conns[tc.id])
		tc.reg.Batch = tc.batches
		h.Register(sess[tc.id], tc.reg, nil)
	}
	if !h.Blocks(1, 2) || h.Blocks(1, 3) || h.Blocks(2, 1) {
		t.Fatalf("Blocks(1,2), (1,3), (2,1) = %v, %v, %v; want true, false, false", h.Blocks(1, 2), h.Blocks(1, 3), h.Blocks(2, 1))
	}
	if n := h.SendRoom(1, "b1", message(1, 2, "from 2")); n != 1 {
		t.Errorf("SendRoom of user 2's message = %d sessions, want 1 (c1; user 1 blocks 2)", n)
	}
	h.SendRoom(1, "", message(2, 3, "from 3"))
	h.SendRoom(1, "", &Broadcast{Line: []byte(`{"action":"USER_JOINED","data":{}}` + "\n"), SenderID: 0})
	h.SetBlocked(1, 2, false)
	if h.users[1].blocked != nil {
		t.Errorf("user 1's block set after the last unblock = %v, want nil (the fast path)", h.users[1].blocked)
	}
	h.SendRoom(1, "b1", message(3, 2, "2 again"))
	h.SetBlocked(3, 1, true)
	h.SendRoom(1, "a1", message(4, 1, "from 1")) // c1 blocks 1 now
	h.SetBlocked(99, 1, true)                    // no local session: ignored
	if _, ok := h.users[99]; ok {
		t.Errorf("SetBlocked for a user without a local session created an entry")
	}
	for id, want := range map[string]string{
		"a1": "NEW_MESSAGE[from 3] USER_JOINED NEW_MESSAGE[2 again]",
		"a2": "BATCH_MESSAGES[from 3] USER_JOINED BATCH_MESSAGES[2 again,from 1]", // a1 sent it: a2 is told
		"b1": "NEW_MESSAGE[from 3] USER_JOINED NEW_MESSAGE[from 1]",
		"c1": "NEW_MESSAGE[from 2] NEW_MESSAGE[from 3] USER_JOINED NEW_MESSAGE[2 again]",
	} {
		if got := summary(t, envelopes(t, closeAndRead(t, sess[id], conns[id]))); got != want {
			t.Errorf("session %s received %s, want %s", id, got, want)
		}
	}
}

func TestBatchMaxAndOrder(t *testing.T) {
	h := New(Options{QueueMessages: 100, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: time.Hour, BatchMax: 3})
	c := &recordConn{}
	s := h.NewSession("s", c)
	h.Register(s, Registration{UserID: 1, Rooms: []int64{1, 2}, Batch: true}, nil)
	for i := range 7 {
		h.SendRoom(1, "", message(int64(i+1), 2, fmt.Sprint("m", i)))
	}
	s.Send([]byte(`{"action":"PONG","data":{}}` + "\n")) // closes the open batch first
	h.SendRoom(2, "", message(8, 2, "room 2"))
	h.SendRoom(1, "", message(9, 2, "room 1"))
	got := envelopes(t, closeAndRead(t, s, c)) // closing flushes the open batch
	want := "BATCH_MESSAGES[m0,m1,m2] BATCH_MESSAGES[m3,m4,m5] BATCH_MESSAGES[m6] PONG BATCH_MESSAGES[room 2,room 1]"
	if s := summary(t, got); s != want {
		t.Errorf("batching session with BatchMax 3 received %s, want %s", s, want)
	}
	for _, e := range got {
		if e.Action == "BATCH_MESSAGES" && bytes.Contains(e.Data[:20], []byte("chatroom_id")) {
			t.Errorf("coalesced batch %s has a chatroom_id, want none (messages of several rooms)", e.Data)
		}
	}
}

func TestBatchWindow(t *testing.T) {
	h := New(Options{QueueMessages: 100, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 4096, BatchWindow: 30 * time.Millisecond, BatchMax: 64})
	c := &recordConn{}
	s := h.NewSession("s", c)
	h.Register(s, Registration{UserID: 1, Rooms: []int64{1}, Batch: true}, nil)
	h.SendRoom(1, "", message(1, 2, "a"))
	h.SendRoom(1, "", message(2, 2, "b"))
	waitWritten := func(want string) {
		t.Helper()
		for range 500 {
			if out, _ := c.state(); summary(t, envelopes(t, out)) == want {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		out, _ := c.state()
		t.Fatalf("written %s, want %s once the window closed", summary(t, envelopes(t, out)), want)
	}
	waitWritten("BATCH_MESSAGES[a,b]")
	h.SendRoom(1, "", message(3, 2, "c")) // a new window
	waitWritten("BATCH_MESSAGES[a,b] BATCH_MESSAGES[c]")
	s.Close()
}

// TestCompressOncePerEvent checks that gzip sessions share one compressed
// variant of a large broadcast, and that only they get it.
func TestCompressOncePerEvent(t *testing.T) {
	const n = 100
	big := message(1, 1000, strings.Repeat("large ", 1000))
	allocs := func(gzip bool) float64 {
		h := New(Options{QueueMessages: 4096, QueueBytes: 64 << 20, WriteTimeout: time.Second, CompressThreshold: 1024, BatchWindow: time.Hour, BatchMax: 64})
		for i := range n {
			h.Register(h.NewSession(fmt.Sprint(i), discardConn{}), Registration{UserID: int64(i + 1), Rooms: []int64{1}, Gzip: gzip}, nil)
		}
		return testing.AllocsPerRun(200, func() {
			b := *big
			h.SendRoom(1, "", &b)
		})
	}
	// Starting flusher goroutines may allocate: compare with plain sessions.
	// Compressing once costs a handful of allocations (more under the race
	// detector, whose sync.Pool drops items); once per recipient would cost
	// at least one per session.
	plainAllocs, gzipAllocs := allocs(false), allocs(true)
	t.Logf("SendRoom of a large envelope to %d sessions: %.1f allocations plain, %.1f gzip", n, plainAllocs, gzipAllocs)
	if gzipAllocs-plainAllocs > n/2 {
		t.Errorf("SendRoom of a large envelope to %d gzip sessions: %.1f allocations, %.1f for plain sessions; want a handful more (compressed once)",
			n, gzipAllocs, plainAllocs)
	}

	gz, plain := &recordConn{}, &recordConn{}
	h2 := New(Options{QueueMessages: 100, QueueBytes: 1 << 20, WriteTimeout: time.Second, CompressThreshold: 1024, BatchWindow: time.Hour, BatchMax: 64})
	sg, sp := h2.NewSession("g", gz), h2.NewSession("p", plain)
	h2.Register(sg, Registration{UserID: 1, Rooms: []int64{1}, Gzip: true}, nil)
	h2.Register(sp, Registration{UserID: 2, Rooms: []int64{1}}, nil)
	small := message(2, 1000, "small")
	for _, b := range []*Broadcast{big, small} {
		h2.SendRoom(1, "", b)
	}
	outG, outP := closeAndRead(t, sg, gz), closeAndRead(t, sp, plain)
	if !strings.Contains(outG, `"compressed":true`) || strings.Count(outG, `"compressed":true`) != 1 {
		t.Errorf("gzip session: want exactly the large envelope compressed, got %.300s", outG)
	}
	if strings.Contains(outP, "compressed") {
		t.Errorf("plain session got a compressed envelope: %.300s", outP)
	}
	eg, ep := envelopes(t, outG), envelopes(t, outP)
	if len(eg) != 2 || len(ep) != 2 || !bytes.Equal(eg[0].Data, ep[0].Data) || !bytes.Equal(eg[1].Data, ep[1].Data) {
		t.Errorf("gzip session's envelopes do not inflate to the plain session's")
	}
}

func TestDropRoom(t *testing.T) {
	h := New(testLimits)
	c := &recordConn{}
	s := h.NewSession("s", c)
	h.Register(s, Registration{UserID: 1, Rooms: []int64{1, 2}}, nil)
	h.DropRoom(1)
	if n := h.SendRoom(1, "", &Broadcast{Line: []byte("x\n")}); n != 0 || h.InRoom(s, 1) || !h.InRoom(s, 2) {
		t.Errorf("after DropRoom(1): SendRoom(1) reached %d sessions, InRoom(1) %v, InRoom(2) %v; want 0, false, true", n, h.InRoom(s, 1), h.InRoom(s, 2))
	}
	h.Unregister(s)
	if len(h.rooms) != 0 || len(h.users) != 0 {
		t.Errorf("indexes after Unregister: %d rooms, %d users, want none", len(h.rooms), len(h.users))
	}
	s.Close()
}
