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

func open(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roomWith creates room id with the given members.
func roomWith(t testing.TB, s *Store, id int64, users ...int64) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := s.CreateRoom(ctx, NewRoom{ID: id, Name: fmt.Sprintf("room %d", id)}); err != nil {
		t.Fatalf("CreateRoom(%d) = %v", id, err)
	}
	for _, u := range users {
		if _, err := s.Join(ctx, id, u, fmt.Sprintf("user%d", u), nil); err != nil {
			t.Fatalf("Join(%d, %d) = %v", id, u, err)
		}
	}
}

func send(t testing.TB, s *Store, room, user int64, content string) *chatv1.Message {
	t.Helper()
	m, err := s.Send(ctxT(t), NewMessage{RoomID: room, UserID: user, Content: content, Type: chatv1.MessageType_MESSAGE_TYPE_TEXT})
	if err != nil {
		t.Fatalf("Send(room %d, user %d) = %v", room, user, err)
	}
	return m
}

func TestMessageIDsPerRoom(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{})
	roomWith(t, s, 1, 10)
	roomWith(t, s, 2, 10)
	want := map[int64]int64{1: 0, 2: 0}
	for i, room := range []int64{1, 2, 1, 1, 2, 1} {
		m := send(t, s, room, 10, fmt.Sprint("m", i))
		want[room]++
		if m.Id != want[room] {
			t.Errorf("send #%d to room %d: id = %d, want %d", i, room, m.Id, want[room])
		}
	}
}

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	roomWith(t, s, 7, 1, 2)
	send(t, s, 7, 1, "before")
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	s = open(t, path, Options{})
	ctx := ctxT(t)
	room, err := s.GetRoom(ctx, 7)
	if err != nil || room.MemberCount != 2 {
		t.Fatalf("GetRoom(7) after reopen = %v, %v; want member_count 2", room, err)
	}
	msgs, _, err := s.ListMessages(ctx, MessageQuery{RoomID: 7, UserID: 2, Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Content != "before" {
		t.Fatalf("ListMessages after reopen = %v, %v; want the one message", msgs, err)
	}
	if m := send(t, s, 7, 2, "after"); m.Id != 2 {
		t.Errorf("send after reopen: id = %d, want 2", m.Id)
	}
	evs, head, _, err := s.EventsAfter(ctx, 0, 100)
	if err != nil || head != 4 || len(evs) != 4 {
		t.Errorf("EventsAfter(0) after reopen = %d events, head %d, %v; want 4, 4 (2 joins, 2 messages)", len(evs), head, err)
	}
}

func TestGroupCommit(t *testing.T) {
	var (
		mu        sync.Mutex
		published []uint64
	)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{Publish: func(evs []*chatv1.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evs {
			published = append(published, e.Seq)
		}
	}})
	roomWith(t, s, 1, 1)
	before := s.Commits()
	headBefore := uint64(1) // the join

	const n = 200
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, err := s.Send(ctxT(t), NewMessage{RoomID: 1, UserID: 1, Content: "x", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT})
			errs[i] = err
			if err == nil {
				ids[i] = m.Id
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("concurrent Send #%d = %v", i, errs[i])
		}
		if seen[ids[i]] || ids[i] < 1 || ids[i] > n {
			t.Errorf("concurrent Send #%d: id %d repeated or out of 1..%d", i, ids[i], n)
		}
		seen[ids[i]] = true
	}
	commits := s.Commits() - before
	if commits >= n {
		t.Errorf("%d concurrent sends took %d commits, want fewer (group commit)", n, commits)
	}
	t.Logf("%d sends, %d commits", n, commits)

	mu.Lock()
	defer mu.Unlock()
	if len(published) != n+1 {
		t.Fatalf("published %d events, want %d", len(published), n+1)
	}
	for i, seq := range published {
		if seq != uint64(i)+1 {
			t.Fatalf("published[%d].seq = %d, want %d (in order, from the join at %d)", i, seq, i+1, headBefore)
		}
	}
}

// TestBatchRefusalIsolated holds the writer inside a transaction while four
// sends queue up, so that they form one batch in which two are refused: the
// other two commit, in that one transaction.
func TestBatchRefusalIsolated(t *testing.T) {
	var (
		mu        sync.Mutex
		published []*chatv1.Event
	)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{Publish: func(evs []*chatv1.Event) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, evs...)
	}})
	roomWith(t, s, 1, 1)

	started, release := make(chan struct{}), make(chan struct{})
	gate := make(chan error, 1)
	go func() {
		gate <- s.do(ctxT(t), func(*txWriter) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	before := s.Commits()

	inputs := []struct {
		room, user int64
		want       error
	}{
		{1, 1, nil},
		{1, 99, ErrNotMember},
		{5, 1, ErrRoomNotFound},
		{1, 1, nil},
	}
	msgs := make([]*chatv1.Message, len(inputs))
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Go(func() {
			msgs[i], errs[i] = s.Send(ctxT(t), NewMessage{RoomID: in.room, UserID: in.user, Content: "c", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT})
		})
	}
	for i := 0; s.writes.Len() < len(inputs); i++ {
		if i == 1000 {
			t.Fatalf("after 10 s only %d of %d sends are queued", s.writes.Len(), len(inputs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-gate; err != nil {
		t.Fatalf("gate op = %v", err)
	}

	if got := s.Commits() - before; got != 2 {
		t.Errorf("the gate and the 4 queued sends took %d commits, want 2", got)
	}
	ids := map[int64]bool{}
	for i, in := range inputs {
		if !errors.Is(errs[i], in.want) || (in.want == nil && errs[i] != nil) {
			t.Errorf("Send(room %d, user %d) in a batch = %v, want %v", in.room, in.user, errs[i], in.want)
		}
		if in.want == nil && msgs[i] != nil {
			ids[msgs[i].Id] = true
		}
	}
	if !ids[1] || !ids[2] {
		t.Errorf("accepted message ids = %v, want 1 and 2", ids)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(published) != 3 || published[1].Seq != 2 || published[2].Seq != 3 {
		t.Errorf("published %d events, want the join then the two accepted messages at seq 2, 3", len(published))
	}
}

func TestJoinRules(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{DefaultMaxMembers: 2})
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 1, Name: "default limit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 2, Name: "own limit", MaxMembers: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 3, Name: "invite only", InviteOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRoom(ctx, NewRoom{ID: 1, Name: "again"}); !errors.Is(err, ErrRoomExists) {
		t.Errorf("CreateRoom(1) twice = %v, want ErrRoomExists", err)
	}
	if err := s.Invite(ctx, 3, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Invite(ctx, 4, 5); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("Invite(room 4) = %v, want ErrRoomNotFound", err)
	}
	tests := []struct {
		room, user int64
		joined     bool
		err        error
	}{
		{1, 1, true, nil},
		{1, 1, false, nil}, // again: idempotent
		{1, 2, true, nil},
		{1, 3, false, ErrRoomFull}, // default limit 2
		{1, 2, false, nil},         // a member again is never ROOM_FULL
		{2, 1, true, nil},
		{2, 2, false, ErrRoomFull}, // own limit 1
		{3, 6, false, ErrNotInvited},
		{3, 5, true, nil},
		{4, 1, false, ErrRoomNotFound},
	}
	for _, tt := range tests {
		res, err := s.Join(ctx, tt.room, tt.user, "n", nil)
		if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || res.Joined != tt.joined {
			t.Errorf("Join(room %d, user %d) = joined %v, %v; want %v, %v", tt.room, tt.user, res.Joined, err, tt.joined, tt.err)
		}
	}
	rooms, err := s.UserRooms(ctx, 1)
	if err != nil || fmt.Sprint(rooms) != "[1 2]" {
		t.Errorf("UserRooms(1) = %v, %v; want [1 2]", rooms, err)
	}
	if res, err := s.Leave(ctx, 1, 1, nil); err != nil || !res.Left || res.MemberCount != 1 {
		t.Errorf("Leave(1, 1) = %+v, %v; want left, 1 member", res, err)
	}
	if res, err := s.Leave(ctx, 1, 1, nil); err != nil || res.Left || res.MemberCount != 1 {
		t.Errorf("Leave(1, 1) again = %+v, %v; want not left, 1 member", res, err)
	}
	if res, err := s.Join(ctx, 1, 3, "n", nil); err != nil || !res.Joined {
		t.Errorf("Join(1, 3) after a leave = %+v, %v; want joined", res, err)
	}
}

func TestEventRetention(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{EventRetention: 5})
	roomWith(t, s, 1, 1)
	for range 20 {
		send(t, s, 1, 1, "m")
	}
	evs, head, oldest, err := s.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if head != 21 || oldest != 17 || len(evs) != 5 || evs[0].Seq != 17 {
		t.Errorf("EventsAfter(0) with retention 5 after 21 events = %d events from %v, head %d, oldest %d; want 5 from 17, head 21, oldest 17", len(evs), evs[0].GetSeq(), head, oldest)
	}
}

// TestTrimBacklog reopens a log with a smaller retention: the idle writer
// trims it in chunks without any write.
func TestTrimBacklog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	roomWith(t, s, 1, 1)
	var wg sync.WaitGroup
	for range 2500 {
		wg.Go(func() {
			if _, err := s.Send(ctxT(t), NewMessage{RoomID: 1, UserID: 1, Content: "m", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT}); err != nil {
				t.Errorf("Send = %v", err)
			}
		})
	}
	wg.Wait()
	s.Close()

	s = open(t, path, Options{EventRetention: 10})
	for i := 0; ; i++ {
		_, head, oldest, err := s.EventsAfter(ctxT(t), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if head-oldest+1 == 10 {
			break
		}
		if i == 500 {
			t.Fatalf("after 5 s the log holds %d events, want 10", head-oldest+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListMessagesPaging(t *testing.T) {
	ctx := ctxT(t)
	s := open(t, filepath.Join(t.TempDir(), "chat.db"), Options{})
	roomWith(t, s, 1, 1)
	for i := range 10 {
		send(t, s, 1, 1, fmt.Sprint(i+1))
	}
	tests := []struct {
		after, before int64
		limit         int
		want          string
		more          bool
	}{
		{0, 0, 3, "[8 9 10]", true},
		{0, 0, 10, "[1 2 3 4 5 6 7 8 9 10]", false},
		{0, 0, 20, "[1 2 3 4 5 6 7 8 9 10]", false},
		{0, 8, 3, "[5 6 7]", true},
		{0, 4, 3, "[1 2 3]", false},
		{0, 11, 2, "[9 10]", true},
		{0, 100, 2, "[9 10]", true},
		{3, 0, 3, "[4 5 6]", true},
		{7, 0, 3, "[8 9 10]", false},
		{10, 0, 3, "[]", false},
		{2, 6, 10, "[3 4 5]", false},
		{2, 6, 2, "[3 4]", true},
	}
	for _, tt := range tests {
		msgs, more, err := s.ListMessages(ctx, MessageQuery{RoomID: 1, UserID: 1, AfterID: tt.after, BeforeID: tt.before, Limit: tt.limit})
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.Id
		}
		if err != nil || fmt.Sprint(ids) != tt.want || more != tt.more {
			t.Errorf("ListMessages(after %d, before %d, limit %d) = %v, more %v, %v; want %s, more %v", tt.after, tt.before, tt.limit, ids, more, err, tt.want, tt.more)
		}
	}
	if _, _, err := s.ListMessages(ctx, MessageQuery{RoomID: 1, UserID: 2, Limit: 1}); !errors.Is(err, ErrNotMember) {
		t.Errorf("ListMessages by a non-member = %v, want ErrNotMember", err)
	}
	if _, _, err := s.ListMessages(ctx, MessageQuery{RoomID: 2, UserID: 1, Limit: 1}); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("ListMessages of an unknown room = %v, want ErrRoomNotFound", err)
	}
}

func TestClosedStoreRefusesWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "chat.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.CreateRoom(ctxT(t), NewRoom{ID: 1, Name: "r"}); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateRoom after Close = %v, want ErrClosed", err)
	}
}

// BenchmarkSendMessageParallel measures durable (fsync'd) sends from many
// goroutines; commits/op shows how many sends share a commit.
func BenchmarkSendMessageParallel(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "chat.db"), Options{})
	roomWith(b, s, 1, 1)
	ctx := context.Background()
	before := s.Commits()
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Send(ctx, NewMessage{RoomID: 1, UserID: 1, Content: "hello, benchmark", Type: chatv1.MessageType_MESSAGE_TYPE_TEXT}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(s.Commits()-before)/float64(b.N), "commits/op")
}
