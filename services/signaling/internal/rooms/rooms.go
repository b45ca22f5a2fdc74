// Package rooms keeps the video rooms: it turns each request into one
// store op (so that every change and its events commit together, in one
// order), and holds in memory what the sweep needs, the edges' leases and
// the deadlines of the rooms nobody is in.
//
// A participant is a user in one session of one edge; a user is one
// participant per room, and joining again from another session moves the
// place there. The creator (the host) is the first participant, in the
// session that created the room. A participant leaves by LeaveVideoRoom,
// when their session closes, when their edge's SyncSessions no longer
// lists it, or when their edge's lease ends: an edge's sessions keep their
// places while it holds a Subscribe stream and for the lease after its
// last one ended. The last participant out closes the room; a room nobody
// but its host joined closes after the empty-room timeout (an unanswered
// call). Rooms and participants are durable: after a restart every edge
// with participants gets a new lease, the time it has to resubscribe and
// resync its sessions, and every unanswered room a new timeout.
//
// Deadlines are checked against the clock by a sweep every Tick; the ops
// it submits check them again on the writer, so that a resubscription or
// a join that came meanwhile wins.
package rooms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/services/signaling/internal/store"
)

// Refusals of the ops, besides store.ErrNotFound.
var (
	// ErrFull refuses a join to a room that has its max participants.
	ErrFull = errors.New("video room full")
	// ErrNotParticipant refuses a caller, or a relay target, that is not a
	// participant of the room (in that session, for a caller).
	ErrNotParticipant = errors.New("not a participant of the video room")
)

// Defaults of Options.
const (
	DefaultEdgeLease        = 10 * time.Second
	DefaultEmptyRoomTimeout = 60 * time.Second
)

// Reasons of ParticipantLeft and VideoRoomClosed, as the contract names
// them.
const (
	ReasonLeft         = "left"
	ReasonDisconnected = "disconnected"
	ReasonClosed       = "closed"
	ReasonEmpty        = "empty"
	ReasonTimeout      = "timeout"
)

// Options configure a Manager.
type Options struct {
	// EdgeLease is how long an edge's sessions keep their places after its
	// last Subscribe stream ended, and after a restart; 0 means
	// DefaultEdgeLease.
	EdgeLease time.Duration
	// EmptyRoomTimeout is how long a room nobody joined stays open; 0
	// means DefaultEmptyRoomTimeout.
	EmptyRoomTimeout time.Duration
	// Tick is the period of the deadline sweep; 0 means a twentieth of the
	// shorter of EdgeLease and EmptyRoomTimeout, within [10ms, 100ms].
	Tick time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the sweep's records; nil discards them.
	Logger *slog.Logger
}

// Manager is the video rooms. Its methods are safe for concurrent use.
type Manager struct {
	store        *store.Store
	lease        time.Duration
	emptyTimeout time.Duration
	tick         time.Duration
	now          func() time.Time
	log          *slog.Logger

	mu    sync.Mutex
	edges map[string]*edge    // edges with a stream, a lease running, or participants
	empty map[int64]time.Time // rooms maybe unanswered (nobody but the host joined) → when they time out
}

// edge is one edge's lease.
type edge struct {
	streams  int       // open Subscribe streams
	leaseEnd time.Time // when streams == 0: when its participants leave
}

// New returns a Manager over st, loading the rooms: every edge with
// participants gets a lease from now, every room without participants
// its timeout. Call Run to start the sweep.
func New(ctx context.Context, st *store.Store, opts Options) (*Manager, error) {
	m := &Manager{
		store:        st,
		lease:        opts.EdgeLease,
		emptyTimeout: opts.EmptyRoomTimeout,
		tick:         opts.Tick,
		now:          opts.Now,
		log:          opts.Logger,
		edges:        make(map[string]*edge),
		empty:        make(map[int64]time.Time),
	}
	if m.lease <= 0 {
		m.lease = DefaultEdgeLease
	}
	if m.emptyTimeout <= 0 {
		m.emptyTimeout = DefaultEmptyRoomTimeout
	}
	if m.tick <= 0 {
		m.tick = min(max(min(m.lease, m.emptyTimeout)/20, 10*time.Millisecond), 100*time.Millisecond)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	rooms, err := st.Rooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("load rooms: %w", err)
	}
	now := m.now()
	participants := 0
	for _, r := range rooms {
		if !answered(r.Room) {
			m.empty[r.Room.GetVideoRoomId()] = now.Add(m.emptyTimeout)
		}
		for _, ss := range r.Sessions {
			m.touchLocked(ss.GetEdgeId(), now)
		}
		participants += len(r.Sessions)
	}
	if len(rooms) > 0 {
		m.log.Info("video rooms loaded; their edges have a lease to resync", "rooms", len(rooms), "participants", participants, "edges", len(m.edges))
	}
	return m, nil
}

// Run sweeps the deadlines every tick until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	tick := time.NewTicker(m.tick)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			m.sweep(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// Subscribed records a Subscribe stream of the edge: its sessions keep
// their places until the stream ends.
func (m *Manager) Subscribed(edgeID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.touchLocked(edgeID, m.now())
	e.streams++
	e.leaseEnd = time.Time{}
}

// Unsubscribed records the end of a Subscribe stream of the edge: after
// its last one, the lease starts.
func (m *Manager) Unsubscribed(edgeID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.edges[edgeID]
	if e == nil {
		return
	}
	e.streams--
	if e.streams <= 0 {
		e.streams = 0
		e.leaseEnd = m.now().Add(m.lease)
	}
}

// touchLocked returns the edge, creating it with its lease running: an
// edge whose sessions join without a stream loses them after the lease.
func (m *Manager) touchLocked(edgeID string, now time.Time) *edge {
	e := m.edges[edgeID]
	if e == nil {
		e = &edge{leaseEnd: now.Add(m.lease)}
		m.edges[edgeID] = e
	}
	return e
}

func (m *Manager) touch(edgeID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.touchLocked(edgeID, m.now())
}

// answered reports whether anyone but the host is in the room.
func answered(room *signalingv1.VideoRoom) bool {
	return slices.ContainsFunc(room.GetParticipants(), func(p *signalingv1.Participant) bool {
		return p.GetUserId() != room.GetHostUserId()
	})
}

// Room returns the open room id; store.ErrNotFound when there is none.
func (m *Manager) Room(ctx context.Context, id int64) (*signalingv1.VideoRoom, error) {
	r, err := m.store.Room(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.Room, nil
}

// List returns the open rooms, of chatroomID only when it is not zero,
// oldest first.
func (m *Manager) List(ctx context.Context, chatroomID int64) ([]*signalingv1.VideoRoom, error) {
	rooms, err := m.store.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	var out []*signalingv1.VideoRoom
	for _, r := range rooms {
		if chatroomID == 0 || r.Room.GetChatroomId() == chatroomID {
			out = append(out, r.Room)
		}
	}
	slices.SortFunc(out, func(a, b *signalingv1.VideoRoom) int {
		if c := a.GetCreatedAt().AsTime().Compare(b.GetCreatedAt().AsTime()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetVideoRoomId(), b.GetVideoRoomId())
	})
	return out, nil
}

// NewRoom is a room to create.
type NewRoom struct {
	ChatroomID      int64
	Name            string
	MaxParticipants int32
	// Host is the creator's session, the room's first participant. It is
	// answered directly, so the announcement skips it.
	Host Caller
	// Media is the host's initial media status.
	Media *signalingv1.MediaStatus
}

// Create opens a room, its host its one participant, and announces it to
// the chat room's members. Its id is the next of the store's sequence.
func (m *Manager) Create(ctx context.Context, nr NewRoom) (*signalingv1.VideoRoom, error) {
	now := timestamppb.New(m.now())
	var room *signalingv1.VideoRoom
	err := m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		id, err := v.NewRoomID()
		if err != nil {
			return store.Change{}, err
		}
		room = &signalingv1.VideoRoom{
			VideoRoomId:     id,
			ChatroomId:      nr.ChatroomID,
			Name:            nr.Name,
			HostUserId:      nr.Host.UserID,
			MaxParticipants: nr.MaxParticipants,
			Participants: []*signalingv1.Participant{
				{UserId: nr.Host.UserID, Nickname: nr.Host.Nickname, MediaStatus: proto.CloneOf(nr.Media), JoinedAt: now},
			},
			CreatedAt: now,
		}
		m.touch(nr.Host.EdgeID) // on the writer, as Join does
		return store.Change{
			Put: []store.Room{{Room: room, Sessions: []*signalingv1.SessionRef{nr.Host.session()}}},
			Events: []*signalingv1.Event{{ChatroomId: nr.ChatroomID, Origin: nr.Host.session(), SeqId: nr.Host.SeqID,
				Payload: &signalingv1.Event_RoomCreated{RoomCreated: &signalingv1.VideoRoomCreated{Room: proto.CloneOf(room)}}}},
		}, nil
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.empty[room.GetVideoRoomId()] = now.AsTime().Add(m.emptyTimeout)
	m.mu.Unlock()
	return proto.CloneOf(room), nil
}

// Caller is the session a request comes from.
type Caller struct {
	EdgeID, SessionID string
	UserID            int64
	Nickname          string
	// SeqID is the client's seq_id of the request, echoed by the events
	// it causes.
	SeqID string
}

func (c Caller) session() *signalingv1.SessionRef {
	return &signalingv1.SessionRef{EdgeId: c.EdgeID, SessionId: c.SessionID}
}

func (c Caller) is(ss *signalingv1.SessionRef) bool {
	return ss.GetEdgeId() == c.EdgeID && ss.GetSessionId() == c.SessionID
}

// Join makes the caller's session a participant and returns the room with
// every participant. A user already in the room from another session
// moves there (their old session is told they left, the participants
// that they joined again); from the same session nothing changes.
func (m *Manager) Join(ctx context.Context, c Caller, roomID int64, media *signalingv1.MediaStatus) (*signalingv1.VideoRoom, error) {
	if media == nil {
		media = &signalingv1.MediaStatus{}
	}
	now := timestamppb.New(m.now())
	var out *signalingv1.VideoRoom
	err := m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		r, err := v.Room(roomID)
		if err != nil {
			return store.Change{}, err
		}
		room := r.Room
		i := slices.IndexFunc(room.GetParticipants(), func(p *signalingv1.Participant) bool { return p.GetUserId() == c.UserID })
		var ch store.Change
		switch {
		case i >= 0 && c.is(r.Sessions[i]):
			out = proto.CloneOf(room)
			return store.Change{}, nil
		case i >= 0:
			old, p := r.Sessions[i], room.Participants[i]
			ch.Events = append(ch.Events, &signalingv1.Event{Sessions: []*signalingv1.SessionRef{old}, Payload: &signalingv1.Event_ParticipantLeft{
				ParticipantLeft: &signalingv1.ParticipantLeft{VideoRoomId: roomID, UserId: c.UserID, Nickname: p.GetNickname(),
					ParticipantsCount: int32(len(room.Participants)), Reason: ReasonLeft},
			}})
			room.Participants = slices.Delete(room.Participants, i, i+1)
			r.Sessions = slices.Delete(r.Sessions, i, i+1)
		case len(room.GetParticipants()) >= int(room.GetMaxParticipants()):
			return store.Change{}, ErrFull
		}
		p := &signalingv1.Participant{UserId: c.UserID, Nickname: c.Nickname, MediaStatus: media, JoinedAt: now}
		room.Participants = append(room.Participants, p)
		r.Sessions = append(r.Sessions, c.session())
		m.touch(c.EdgeID) // on the writer: a sweep dropping this edge comes before or after, never between
		ch.Put = []store.Room{r}
		// The joiner's session is the origin: its edge answers the join,
		// then tells it of its own arrival, in that order.
		ch.Events = append(ch.Events, &signalingv1.Event{Sessions: slices.Clone(r.Sessions), Origin: c.session(), SeqId: c.SeqID, Payload: &signalingv1.Event_ParticipantJoined{
			ParticipantJoined: &signalingv1.ParticipantJoined{VideoRoomId: roomID, Participant: proto.CloneOf(p),
				ParticipantsCount: int32(len(room.Participants))},
		}})
		out = proto.CloneOf(room)
		return ch, nil
	})
	if err != nil {
		return nil, err
	}
	if answered(out) {
		m.mu.Lock()
		delete(m.empty, roomID)
		m.mu.Unlock()
	}
	return out, nil
}

// participant returns the index of the caller's participant in r, in the
// caller's session; ErrNotParticipant when there is none.
func participant(r store.Room, c Caller) (int, error) {
	for i, p := range r.Room.GetParticipants() {
		if p.GetUserId() == c.UserID && c.is(r.Sessions[i]) {
			return i, nil
		}
	}
	return -1, ErrNotParticipant
}

// Leave takes the caller's session out of the room.
func (m *Manager) Leave(ctx context.Context, c Caller, roomID int64) error {
	return m.asParticipant(ctx, c, roomID, func(r store.Room, i int) (store.Change, error) {
		return without(r, func(j int) bool { return j == i }, ReasonLeft), nil
	})
}

// asParticipant applies the change do makes to the room, once the caller
// is found to be its participant i, in the caller's session.
func (m *Manager) asParticipant(ctx context.Context, c Caller, roomID int64, do func(r store.Room, i int) (store.Change, error)) error {
	return m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		r, err := v.Room(roomID)
		if err != nil {
			return store.Change{}, err
		}
		i, err := participant(r, c)
		if err != nil {
			return store.Change{}, err
		}
		return do(r, i)
	})
}

// without takes out of r the participants at the indexes drop selects,
// one by one: each ParticipantLeft goes to those remaining, and when none
// remain the room is deleted and VideoRoomClosed ("empty") goes to the
// chat room's members.
func without(r store.Room, drop func(i int) bool, reason string) store.Change {
	room := r.Room
	var (
		keep     []*signalingv1.Participant
		sessions []*signalingv1.SessionRef
		gone     []*signalingv1.Participant
	)
	for i, p := range room.GetParticipants() {
		if drop(i) {
			gone = append(gone, p)
		} else {
			keep = append(keep, p)
			sessions = append(sessions, r.Sessions[i])
		}
	}
	var ch store.Change
	if len(gone) == 0 {
		return ch
	}
	if len(keep) > 0 {
		for n, p := range gone {
			ch.Events = append(ch.Events, &signalingv1.Event{Sessions: slices.Clone(sessions), Payload: &signalingv1.Event_ParticipantLeft{
				ParticipantLeft: &signalingv1.ParticipantLeft{VideoRoomId: room.GetVideoRoomId(), UserId: p.GetUserId(), Nickname: p.GetNickname(),
					ParticipantsCount: int32(len(keep) + len(gone) - n - 1), Reason: reason},
			}})
		}
		room.Participants = keep
		ch.Put = []store.Room{{Room: room, Sessions: sessions}}
		return ch
	}
	return closeRoom(store.Room{Room: room}, ReasonEmpty) // nobody left to address but the chat room
}

// closeRoom deletes r; VideoRoomClosed goes to the chat room's members
// and to the sessions of the participants still in it.
func closeRoom(r store.Room, reason string) store.Change {
	return store.Change{
		Delete: []int64{r.Room.GetVideoRoomId()},
		Events: []*signalingv1.Event{{ChatroomId: r.Room.GetChatroomId(), Sessions: r.Sessions, Payload: &signalingv1.Event_RoomClosed{
			RoomClosed: &signalingv1.VideoRoomClosed{VideoRoomId: r.Room.GetVideoRoomId(), ChatroomId: r.Room.GetChatroomId(), Reason: reason},
		}}},
	}
}

// Relay sends a signal from the caller to the target participant's
// session; both must be participants of the room.
func (m *Manager) Relay(ctx context.Context, c Caller, roomID int64, targetUserID int64, kind signalingv1.SignalKind, payload []byte) error {
	return m.asParticipant(ctx, c, roomID, func(r store.Room, _ int) (store.Change, error) {
		t := slices.IndexFunc(r.Room.GetParticipants(), func(p *signalingv1.Participant) bool { return p.GetUserId() == targetUserID })
		if t < 0 {
			return store.Change{}, fmt.Errorf("target user %d: %w", targetUserID, ErrNotParticipant)
		}
		return store.Change{Events: []*signalingv1.Event{{Sessions: []*signalingv1.SessionRef{r.Sessions[t]}, SeqId: c.SeqID, Payload: &signalingv1.Event_Signal{
			Signal: &signalingv1.Signal{VideoRoomId: roomID, Kind: kind, FromUserId: c.UserID, ToUserId: targetUserID, Payload: payload},
		}}}}, nil
	})
}

// ChangeMedia records the caller's media status and announces it to every
// participant.
func (m *Manager) ChangeMedia(ctx context.Context, c Caller, roomID int64, media *signalingv1.MediaStatus) error {
	return m.asParticipant(ctx, c, roomID, func(r store.Room, i int) (store.Change, error) {
		p := r.Room.Participants[i]
		p.MediaStatus = proto.CloneOf(media)
		return store.Change{
			Put: []store.Room{r},
			Events: []*signalingv1.Event{{Sessions: slices.Clone(r.Sessions), SeqId: c.SeqID, Payload: &signalingv1.Event_MediaChanged{
				MediaChanged: &signalingv1.MediaChanged{VideoRoomId: roomID, UserId: p.GetUserId(), Nickname: p.GetNickname(), MediaStatus: proto.CloneOf(media)},
			}}},
		}, nil
	})
}

// Close closes the room at once (reason "closed").
func (m *Manager) Close(ctx context.Context, roomID int64) error {
	err := m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		r, err := v.Room(roomID)
		if err != nil {
			return store.Change{}, err
		}
		return closeRoom(r, ReasonClosed), nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.empty, roomID)
	m.mu.Unlock()
	return nil
}

// SessionClosed takes the session out of every room it is in (reason
// "disconnected").
func (m *Manager) SessionClosed(ctx context.Context, edgeID, sessionID string) error {
	return m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		seats, err := v.SessionSeats(edgeID, sessionID)
		if err != nil {
			return store.Change{}, err
		}
		return leaveSeats(v, seats, ReasonDisconnected)
	})
}

// Sync takes out of their rooms the participants of the edge whose
// session is not in sessions (reason "disconnected").
func (m *Manager) Sync(ctx context.Context, edgeID string, sessions map[string]bool) error {
	return m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		seats, err := v.EdgeSeats(edgeID)
		if err != nil {
			return store.Change{}, err
		}
		seats = slices.DeleteFunc(seats, func(s store.Seat) bool { return sessions[s.SessionID] })
		return leaveSeats(v, seats, ReasonDisconnected)
	})
}

// leaveSeats takes the seats' participants out of their rooms, room by
// room in id order.
func leaveSeats(v *store.View, seats []store.Seat, reason string) (store.Change, error) {
	byRoom := make(map[int64]map[store.Seat]bool)
	for _, s := range seats {
		if byRoom[s.RoomID] == nil {
			byRoom[s.RoomID] = make(map[store.Seat]bool)
		}
		byRoom[s.RoomID][s] = true
	}
	ids := make([]int64, 0, len(byRoom))
	for id := range byRoom {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var ch store.Change
	for _, id := range ids {
		r, err := v.Room(id)
		if err != nil {
			return store.Change{}, err
		}
		drop := byRoom[id]
		ch.Merge(without(r, func(i int) bool {
			ss := r.Sessions[i]
			return drop[store.Seat{EdgeID: ss.GetEdgeId(), SessionID: ss.GetSessionId(), RoomID: id, UserID: r.Room.Participants[i].GetUserId()}]
		}, reason))
	}
	return ch, nil
}

// sweep ends the leases and the empty rooms whose deadline passed.
func (m *Manager) sweep(ctx context.Context) {
	now := m.now()
	var edges []string
	var rooms []int64
	m.mu.Lock()
	for id, e := range m.edges {
		if e.streams == 0 && !e.leaseEnd.After(now) {
			edges = append(edges, id)
		}
	}
	for id, end := range m.empty {
		if !end.After(now) {
			rooms = append(rooms, id)
		}
	}
	m.mu.Unlock()
	// Not canceled by shutdown: an op the store may still commit must not
	// be taken for a failure (the store outlives the sweep).
	ctx = context.WithoutCancel(ctx)
	if len(edges) > 0 {
		m.dropEdges(ctx, edges)
	}
	if len(rooms) > 0 {
		m.closeEmpty(ctx, rooms)
	}
}

// dropEdges takes the participants of the edges whose lease ended out of
// their rooms, and forgets the edges.
func (m *Manager) dropEdges(ctx context.Context, ids []string) {
	var dropped []string
	err := m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		dropped = dropped[:0]
		var seats []store.Seat
		m.mu.Lock()
		now := m.now()
		for _, id := range ids {
			e := m.edges[id]
			if e == nil || e.streams > 0 || e.leaseEnd.After(now) {
				continue // resubscribed meanwhile
			}
			s, err := v.EdgeSeats(id)
			if err != nil {
				m.mu.Unlock()
				return store.Change{}, err
			}
			if len(s) > 0 {
				m.log.Info("edge lease ended, its participants leave", "edge_id", id, "participants", len(s))
			}
			seats = append(seats, s...)
			delete(m.edges, id)
			dropped = append(dropped, id)
		}
		m.mu.Unlock()
		return leaveSeats(v, seats, ReasonDisconnected)
	})
	if err != nil {
		m.log.Error("end edge leases", "edges", ids, "err", err)
		// Retried at the next sweep: the edges come back with their lease
		// ended, unless one of them came back meanwhile.
		m.mu.Lock()
		now := m.now()
		for _, id := range dropped {
			if m.edges[id] == nil {
				m.edges[id] = &edge{leaseEnd: now}
			}
		}
		m.mu.Unlock()
	}
}

// closeEmpty closes the rooms still unanswered past their timeout
// (reason "timeout") and forgets those closed, gone or answered.
func (m *Manager) closeEmpty(ctx context.Context, ids []int64) {
	var forget []int64
	err := m.store.Apply(ctx, func(v *store.View) (store.Change, error) {
		forget = forget[:0]
		now := m.now()
		var ch store.Change
		for _, id := range ids {
			r, err := v.Room(id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				forget = append(forget, id)
				continue
			case err != nil:
				return store.Change{}, err
			case answered(r.Room): // the last one out closes it
				forget = append(forget, id)
				continue
			}
			m.mu.Lock()
			end, waiting := m.empty[id]
			m.mu.Unlock()
			if waiting && end.After(now) {
				continue
			}
			m.log.Info("video room closed: nobody joined in time", "video_room_id", id, "chatroom_id", r.Room.GetChatroomId())
			ch.Merge(closeRoom(r, ReasonTimeout))
			forget = append(forget, id)
		}
		return ch, nil
	})
	if err != nil {
		m.log.Error("close empty video rooms", "rooms", len(ids), "err", err)
		return
	}
	m.mu.Lock()
	for _, id := range forget {
		delete(m.empty, id)
	}
	m.mu.Unlock()
}
