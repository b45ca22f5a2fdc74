package presence_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/services/presence"
)

// Durations of the service under test, on the fake clock. The sweep runs
// every 50 ms of real time (a twentieth of the grace).
const (
	grace = time.Second
	lease = 2 * time.Second
	// settle is the real time given to the sweep and the workers before a
	// test asserts that nothing was announced.
	settle = 300 * time.Millisecond
	// wait bounds every wait for something that must happen.
	wait = 10 * time.Second
)

// clock is the service's fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// fakeChat answers ChatService.ListRoomPeers from a table.
type fakeChat struct {
	chatv1.UnimplementedChatServiceServer

	mu    sync.Mutex
	peers map[int64][]int64
	fail  int // the next fail calls answer UNAVAILABLE
	calls int
}

func (f *fakeChat) ListRoomPeers(_ context.Context, req *chatv1.ListRoomPeersRequest) (*chatv1.ListRoomPeersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail > 0 {
		f.fail--
		return nil, status.Error(codes.Unavailable, "chat down")
	}
	return &chatv1.ListRoomPeersResponse{UserIds: f.peers[req.GetUserId()]}, nil
}

func (f *fakeChat) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// startChat serves f on loopback and returns its address.
func startChat(t *testing.T, f *fakeChat) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	g := grpc.NewServer()
	chatv1.RegisterChatServiceServer(g, f)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// fixture is a chat fake, a clock and a data folder, shared by the runs
// of the service in one test.
type fixture struct {
	chat     *fakeChat
	chatAddr string
	clock    *clock
	dir      string
}

func newFixture(t *testing.T, peers map[int64][]int64) *fixture {
	f := &fakeChat{peers: peers}
	return &fixture{chat: f, chatAddr: startChat(t, f), clock: newClock(), dir: t.TempDir()}
}

// config is the test configuration: fake clock, short grace and lease.
func (f *fixture) config() presence.Config {
	return presence.Config{
		DataDir:      f.dir,
		ChatAddr:     f.chatAddr,
		OfflineGrace: grace,
		EdgeLease:    lease,
		Now:          f.clock.Now,
	}
}

// service is one Run of the presence service on a loopback listener.
type service struct {
	presence presencev1.PresenceServiceClient
	admin    presencev1.PresenceAdminServiceClient
	cancel   context.CancelFunc
	done     chan error
	markers  int
}

// start runs the service with cfg and stops it at the end of the test.
func start(t *testing.T, cfg presence.Config) *service {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.Listener = lis
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- presence.Run(ctx, cfg) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	s.presence = presencev1.NewPresenceServiceClient(conn)
	s.admin = presencev1.NewPresenceAdminServiceClient(conn)
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels Run and checks that it returns nil. It is idempotent.
func (s *service) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("Run did not return 15 s after cancel")
	}
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func (s *service) open(t *testing.T, edge, session string, user int64) {
	t.Helper()
	req := &presencev1.SessionOpenedRequest{EdgeId: edge, Session: &presencev1.Session{SessionId: session, UserId: user}}
	if _, err := s.presence.SessionOpened(callCtx(t), req); err != nil {
		t.Fatalf("SessionOpened(%v) = %v", req, err)
	}
}

func (s *service) close(t *testing.T, edge, session string) {
	t.Helper()
	req := &presencev1.SessionClosedRequest{EdgeId: edge, SessionId: session}
	if _, err := s.presence.SessionClosed(callCtx(t), req); err != nil {
		t.Fatalf("SessionClosed(%v) = %v", req, err)
	}
}

func (s *service) sync(t *testing.T, edge string, sessions map[string]int64) {
	t.Helper()
	req := &presencev1.SyncSessionsRequest{EdgeId: edge}
	for id, user := range sessions {
		req.Sessions = append(req.Sessions, &presencev1.Session{SessionId: id, UserId: user})
	}
	if _, err := s.presence.SyncSessions(callCtx(t), req); err != nil {
		t.Fatalf("SyncSessions(%v) = %v", req, err)
	}
}

// presenceOf is what GetPresence says of one user; a zero lastSeen means
// unset.
type presenceOf struct {
	online   bool
	sessions int32
	lastSeen time.Time
}

func (s *service) get(t *testing.T, user int64) presenceOf {
	t.Helper()
	res, err := s.presence.GetPresence(callCtx(t), &presencev1.GetPresenceRequest{UserIds: []int64{user}})
	if err != nil {
		t.Fatalf("GetPresence(%d) = %v", user, err)
	}
	if len(res.GetUsers()) != 1 || res.GetUsers()[0].GetUserId() != user {
		t.Fatalf("GetPresence(%d) = %v, want one entry for the user", user, res)
	}
	u := res.GetUsers()[0]
	p := presenceOf{online: u.GetOnline(), sessions: u.GetSessions()}
	if u.LastSeen != nil {
		p.lastSeen = u.GetLastSeen().AsTime()
	}
	return p
}

// expectPresence checks GetPresence of user against want.
func (s *service) expectPresence(t *testing.T, user int64, want presenceOf) {
	t.Helper()
	if got := s.get(t, user); got.online != want.online || got.sessions != want.sessions || !got.lastSeen.Equal(want.lastSeen) {
		t.Errorf("GetPresence(%d) = %+v, want %+v", user, got, want)
	}
}

// waitSessions waits (bounded) until GetPresence counts n sessions of
// user: the sweep runs in the background.
func (s *service) waitSessions(t *testing.T, user int64, n int32) {
	t.Helper()
	for range 100 {
		if s.get(t, user).sessions == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GetPresence(%d) counts %d sessions 2 s later, want %d", user, s.get(t, user).sessions, n)
}

// stream is an edge's Subscribe stream, read in the background.
type stream struct {
	first  *presencev1.SubscribeResponse
	events chan *presencev1.Event
	errc   chan error
	cancel context.CancelFunc
}

func (s *service) subscribe(t *testing.T, edge string, after *uint64) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	req := &presencev1.SubscribeRequest{EdgeId: edge, AfterSeq: after}
	sub, err := s.presence.Subscribe(ctx, req)
	if err != nil {
		t.Fatalf("Subscribe(%v) = %v", req, err)
	}
	first, err := sub.Recv()
	if err != nil {
		t.Fatalf("Subscribe(%v): first Recv = %v", req, err)
	}
	st := &stream{first: first, events: make(chan *presencev1.Event, 10000), errc: make(chan error, 1), cancel: cancel}
	for _, ev := range first.GetEvents() {
		st.events <- ev
	}
	go func() {
		for {
			res, err := sub.Recv()
			if err != nil {
				st.errc <- err
				return
			}
			for _, ev := range res.GetEvents() {
				st.events <- ev
			}
		}
	}()
	return st
}

func (st *stream) next(t *testing.T) *presencev1.Event {
	t.Helper()
	select {
	case ev := <-st.events:
		return ev
	case err := <-st.errc:
		t.Fatalf("stream ended with %v while an event was expected", err)
	case <-time.After(wait):
		t.Fatalf("no event within %v", wait)
	}
	return nil
}

// change is an expected StatusChanged; a zero lastSeen is not checked.
type change struct {
	user     int64
	online   bool
	to       []int64
	lastSeen time.Time
}

func describe(ev *presencev1.Event) string {
	if sc := ev.GetStatusChanged(); sc != nil {
		return fmt.Sprintf("seq %d to %v: user %d online=%v last_seen=%v", ev.GetSeq(), ev.GetUserIds(), sc.GetUserId(), sc.GetOnline(), sc.GetLastSeen().AsTime())
	}
	return fmt.Sprintf("seq %d to %v: announcement %q", ev.GetSeq(), ev.GetUserIds(), ev.GetAnnouncement().GetTitle())
}

// expect reads len(want) events and checks that they are the status
// changes wanted, in any order (transitions of different users are
// announced concurrently).
func (st *stream) expect(t *testing.T, want ...change) {
	t.Helper()
	left := slices.Clone(want)
	for range want {
		ev := st.next(t)
		sc := ev.GetStatusChanged()
		i := slices.IndexFunc(left, func(c change) bool { return sc != nil && c.user == sc.GetUserId() })
		if i < 0 {
			t.Fatalf("got event %s, want one of %+v", describe(ev), left)
		}
		c := left[i]
		left = slices.Delete(left, i, i+1)
		if sc.GetOnline() != c.online || !slices.Equal(ev.GetUserIds(), c.to) || (!c.lastSeen.IsZero() && !sc.GetLastSeen().AsTime().Equal(c.lastSeen)) {
			t.Errorf("got event %s, want %+v", describe(ev), c)
		}
	}
}

// expectQuiet gives the service time to announce anything pending, then
// sends a marker announcement: the next event must be the marker.
func (st *stream) expectQuiet(t *testing.T, s *service) {
	t.Helper()
	time.Sleep(settle)
	s.markers++
	title := fmt.Sprint("marker ", s.markers)
	req := &presencev1.AnnounceRequest{Announcement: &presencev1.Announcement{Title: title, Message: "m"}}
	if _, err := s.admin.Announce(callCtx(t), req); err != nil {
		t.Fatalf("Announce(%v) = %v", req, err)
	}
	if ev := st.next(t); ev.GetAnnouncement().GetTitle() != title {
		t.Errorf("got event %s, want nothing before the %q announcement", describe(ev), title)
	}
}

// logBuffer collects a service's log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

func code(err error) codes.Code { return status.Code(err) }
