package signaling_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/services/signaling"
)

// Durations of the service under test, on the fake clock. The sweep runs
// every 100 ms of real time.
const (
	lease        = 2 * time.Second
	emptyTimeout = 3 * time.Second
	// settle is the real time given to the sweep before a test asserts
	// that nothing happened.
	settle = 300 * time.Millisecond
	// wait bounds every wait for something that must happen.
	wait = 10 * time.Second
)

// Chat rooms and users of the tests: users 1 to 4 are members of chat
// room 10; user 5 of chat room 20 only; user 99 of the markers' room.
const (
	chatroom      = 10
	otherChatroom = 20
	markerRoom    = 99
	markerUser    = 99
)

func chatRooms() map[int64][]int64 {
	return map[int64][]int64{1: {chatroom}, 2: {chatroom, otherChatroom}, 3: {chatroom}, 4: {chatroom}, 5: {otherChatroom}, markerUser: {markerRoom}}
}

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

// fakeChat answers ChatService.ListUserRooms from a table, or UNAVAILABLE
// while down.
type fakeChat struct {
	chatv1.UnimplementedChatServiceServer

	mu         sync.Mutex
	rooms      map[int64][]int64
	down       bool
	calls      int
	noDeadline int
}

func (f *fakeChat) ListUserRooms(ctx context.Context, req *chatv1.ListUserRoomsRequest) (*chatv1.ListUserRoomsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline++
	}
	if f.down {
		return nil, status.Error(codes.Unavailable, "chat down")
	}
	return &chatv1.ListUserRoomsResponse{RoomIds: f.rooms[req.GetUserId()]}, nil
}

func (f *fakeChat) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// startChat serves f on loopback and returns its address.
func startChat(t testing.TB, f *fakeChat) string {
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

func newFixture(t testing.TB) *fixture {
	f := &fakeChat{rooms: chatRooms()}
	fx := &fixture{chat: f, chatAddr: startChat(t, f), clock: newClock(), dir: t.TempDir()}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.noDeadline > 0 {
			t.Errorf("chat got %d of %d calls without a deadline, want none", f.noDeadline, f.calls)
		}
	})
	return fx
}

// config is the test configuration: fake clock, short lease and timeout,
// a ceiling of 4 participants.
func (f *fixture) config() signaling.Config {
	return signaling.Config{
		DataDir:          f.dir,
		ChatAddr:         f.chatAddr,
		EdgeLease:        lease,
		EmptyRoomTimeout: emptyTimeout,
		MaxParticipants:  4,
		MaxSignalBytes:   1024,
		STUNURLs:         []string{"stun:127.0.0.1:3478"},
		Now:              f.clock.Now,
	}
}

// service is one Run of the signaling service on a loopback listener.
type service struct {
	api     signalingv1.SignalingServiceClient
	admin   signalingv1.SignalingAdminServiceClient
	cancel  context.CancelFunc
	done    chan error
	markers int
}

// start runs the service with cfg and stops it at the end of the test.
func start(t testing.TB, cfg signaling.Config) *service {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.Listener = lis
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- signaling.Run(ctx, cfg) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	s.api = signalingv1.NewSignalingServiceClient(conn)
	s.admin = signalingv1.NewSignalingAdminServiceClient(conn)
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels Run and checks that it returns nil. It is idempotent.
func (s *service) stop(t testing.TB) {
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

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// caller is user's session on edge; its nickname is "u<user>".
func caller(edge, session string, user int64) *signalingv1.Caller {
	return &signalingv1.Caller{EdgeId: edge, SessionId: session, UserId: user, Nickname: fmt.Sprint("u", user)}
}

func ref(edge, session string) *signalingv1.SessionRef {
	return &signalingv1.SessionRef{EdgeId: edge, SessionId: session}
}

func (s *service) create(t testing.TB, c *signalingv1.Caller, chatroomID int64, name string) *signalingv1.VideoRoom {
	t.Helper()
	req := &signalingv1.CreateVideoRoomRequest{Caller: c, ChatroomId: chatroomID, Name: name}
	res, err := s.api.CreateVideoRoom(callCtx(t), req)
	if err != nil {
		t.Fatalf("CreateVideoRoom(%v) = %v", req, err)
	}
	return res.GetRoom()
}

func (s *service) join(t testing.TB, c *signalingv1.Caller, room int64) *signalingv1.JoinVideoRoomResponse {
	t.Helper()
	req := &signalingv1.JoinVideoRoomRequest{Caller: c, VideoRoomId: room, MediaStatus: &signalingv1.MediaStatus{AudioEnabled: true}}
	res, err := s.api.JoinVideoRoom(callCtx(t), req)
	if err != nil {
		t.Fatalf("JoinVideoRoom(%v) = %v", req, err)
	}
	return res
}

func (s *service) leave(t *testing.T, c *signalingv1.Caller, room int64) {
	t.Helper()
	req := &signalingv1.LeaveVideoRoomRequest{Caller: c, VideoRoomId: room}
	if _, err := s.api.LeaveVideoRoom(callCtx(t), req); err != nil {
		t.Fatalf("LeaveVideoRoom(%v) = %v", req, err)
	}
}

func (s *service) list(t *testing.T, chatroomID int64) []*signalingv1.VideoRoom {
	t.Helper()
	res, err := s.admin.ListVideoRooms(callCtx(t), &signalingv1.ListVideoRoomsRequest{ChatroomId: chatroomID})
	if err != nil {
		t.Fatalf("ListVideoRooms(%d) = %v", chatroomID, err)
	}
	return res.GetRooms()
}

// participants returns the user ids of a room's participants, in order.
func participants(r *signalingv1.VideoRoom) []int64 {
	var out []int64
	for _, p := range r.GetParticipants() {
		out = append(out, p.GetUserId())
	}
	return out
}

// stream is an edge's Subscribe stream, read in the background.
type stream struct {
	first  *signalingv1.SubscribeResponse
	events chan *signalingv1.Event
	errc   chan error
	cancel context.CancelFunc
}

func (s *service) subscribe(t *testing.T, edge string, after *uint64) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	req := &signalingv1.SubscribeRequest{EdgeId: edge, AfterSeq: after}
	sub, err := s.api.Subscribe(ctx, req)
	if err != nil {
		t.Fatalf("Subscribe(%v) = %v", req, err)
	}
	first, err := sub.Recv()
	if err != nil {
		t.Fatalf("Subscribe(%v): first Recv = %v", req, err)
	}
	st := &stream{first: first, events: make(chan *signalingv1.Event, 10000), errc: make(chan error, 1), cancel: cancel}
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

// poll returns the next event within d, if any.
func (st *stream) poll(t *testing.T, d time.Duration) (*signalingv1.Event, bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev := <-st.events:
		return ev, true
	case err := <-st.errc:
		t.Fatalf("stream ended with %v while an event was expected", err)
	case <-timer.C:
	}
	return nil, false
}

func (st *stream) next(t *testing.T) *signalingv1.Event {
	t.Helper()
	ev, ok := st.poll(t, wait)
	if !ok {
		t.Fatalf("no event within %v", wait)
	}
	return ev
}

// want describes an expected event: its addressees and its payload, as
// describe prints them.
type want struct {
	chatroom int64
	sessions []string // "edge/session", in order
	payload  string
}

func describePayload(ev *signalingv1.Event) string {
	switch p := ev.GetPayload().(type) {
	case *signalingv1.Event_RoomCreated:
		r := p.RoomCreated.GetRoom()
		return fmt.Sprintf("created %d chatroom=%d name=%q host=%d max=%d", r.GetVideoRoomId(), r.GetChatroomId(), r.GetName(), r.GetHostUserId(), r.GetMaxParticipants())
	case *signalingv1.Event_RoomClosed:
		return fmt.Sprintf("closed %d chatroom=%d reason=%s", p.RoomClosed.GetVideoRoomId(), p.RoomClosed.GetChatroomId(), p.RoomClosed.GetReason())
	case *signalingv1.Event_ParticipantJoined:
		j := p.ParticipantJoined
		return fmt.Sprintf("joined %d user=%d nickname=%s count=%d", j.GetVideoRoomId(), j.GetParticipant().GetUserId(), j.GetParticipant().GetNickname(), j.GetParticipantsCount())
	case *signalingv1.Event_ParticipantLeft:
		l := p.ParticipantLeft
		return fmt.Sprintf("left %d user=%d nickname=%s count=%d reason=%s", l.GetVideoRoomId(), l.GetUserId(), l.GetNickname(), l.GetParticipantsCount(), l.GetReason())
	case *signalingv1.Event_MediaChanged:
		m := p.MediaChanged
		return fmt.Sprintf("media %d user=%d audio=%v video=%v screen=%v", m.GetVideoRoomId(), m.GetUserId(),
			m.GetMediaStatus().GetAudioEnabled(), m.GetMediaStatus().GetVideoEnabled(), m.GetMediaStatus().GetScreenSharing())
	case *signalingv1.Event_Signal:
		g := p.Signal
		return fmt.Sprintf("signal %d %s from=%d to=%d payload=%s", g.GetVideoRoomId(), g.GetKind(), g.GetFromUserId(), g.GetToUserId(), g.GetPayload())
	}
	return "unknown payload"
}

func sessionsOf(ev *signalingv1.Event) []string {
	var out []string
	for _, ss := range ev.GetSessions() {
		out = append(out, ss.GetEdgeId()+"/"+ss.GetSessionId())
	}
	return out
}

func describe(ev *signalingv1.Event) string {
	return fmt.Sprintf("seq %d chatroom %d sessions %v: %s", ev.GetSeq(), ev.GetChatroomId(), sessionsOf(ev), describePayload(ev))
}

// expect reads len(wants) events and checks them, in order.
func (st *stream) expect(t *testing.T, wants ...want) []*signalingv1.Event {
	t.Helper()
	var out []*signalingv1.Event
	for _, w := range wants {
		ev := st.next(t)
		out = append(out, ev)
		if ev.GetChatroomId() != w.chatroom || !slices.Equal(sessionsOf(ev), w.sessions) || describePayload(ev) != w.payload {
			t.Errorf("got event %s\nwant chatroom %d sessions %v: %s", describe(ev), w.chatroom, w.sessions, w.payload)
		}
	}
	return out
}

// expectQuiet gives the service time to do anything pending, then creates
// a room in the markers' chat room: the next event must announce it. The
// marker is closed at once, so that it never times out; its host's session
// is told with the chat room.
func (st *stream) expectQuiet(t *testing.T, s *service) {
	t.Helper()
	time.Sleep(settle)
	s.markers++
	name := fmt.Sprint("marker ", s.markers)
	marker := s.create(t, caller("edge-marker", "m", markerUser), markerRoom, name)
	ev := st.next(t)
	if ev.GetRoomCreated().GetRoom().GetName() != name {
		t.Errorf("got event %s, want nothing before the creation of %q", describe(ev), name)
	}
	req := &signalingv1.CloseVideoRoomRequest{VideoRoomId: marker.GetVideoRoomId()}
	if _, err := s.admin.CloseVideoRoom(callCtx(t), req); err != nil {
		t.Fatalf("CloseVideoRoom(%v) = %v", req, err)
	}
	st.expect(t, want{chatroom: markerRoom, sessions: []string{"edge-marker/m"},
		payload: fmt.Sprintf("closed %d chatroom=%d reason=closed", marker.GetVideoRoomId(), markerRoom)})
}

// expectRefusal checks that err is a status with code and, when reason is
// set, an ErrorInfo of the service's domain with that reason.
func expectRefusal(t *testing.T, call string, err error, code codes.Code, reason signalingv1.ErrorReason) {
	t.Helper()
	st := status.Convert(err)
	if err == nil || st.Code() != code {
		t.Errorf("%s = %v, want code %v", call, err, code)
		return
	}
	var got *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			got = info
		}
	}
	switch {
	case reason == signalingv1.ErrorReason_ERROR_REASON_UNSPECIFIED && got != nil:
		t.Errorf("%s = %v with ErrorInfo %v, want none", call, err, got)
	case reason != signalingv1.ErrorReason_ERROR_REASON_UNSPECIFIED && (got == nil || got.GetReason() != reason.String() || got.GetDomain() != signaling.Domain):
		t.Errorf("%s = %v with ErrorInfo %v, want reason %s in domain %s", call, err, got, reason, signaling.Domain)
	}
}

// short returns s cut for failure messages.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
