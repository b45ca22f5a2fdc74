// Package hub keeps the edge's local sessions and indexes them by user and
// by room, so that one serialized event reaches every local recipient
// without a per-recipient allocation or RPC.
package hub

import (
	"log/slog"
	"slices"
	"sync"
)

// Hub indexes the authenticated sessions of one edge. Lock order: Hub.mu
// before Session.mu.
type Hub struct {
	limits Limits
	log    *slog.Logger

	mu    sync.RWMutex
	rooms map[int64]map[*Session]struct{}
	users map[int64]map[*Session]struct{}
}

// New returns an empty hub whose sessions obey limits.
func New(limits Limits, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		limits: limits,
		log:    log,
		rooms:  make(map[int64]map[*Session]struct{}),
		users:  make(map[int64]map[*Session]struct{}),
	}
}

// NewSession returns a session writing to conn, not yet in any index.
func (h *Hub) NewSession(id string, conn Conn) *Session {
	s := &Session{id: id, conn: conn, hub: h, done: make(chan struct{})}
	s.flushFn = s.flush
	return s
}

// Register indexes s under userID and in every room of rooms, then queues
// first (when not nil) before any event can reach s.
func (h *Hub) Register(s *Session, userID int64, rooms []int64, first []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if first != nil {
		s.Send(first)
	}
	s.userID = userID
	s.registered = true
	add(h.users, userID, s)
	for _, r := range rooms {
		h.joinLocked(s, r)
	}
}

// Unregister removes s from every index.
func (h *Hub) Unregister(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.registered {
		return
	}
	s.registered = false
	for _, r := range s.rooms {
		remove(h.rooms, r, s)
	}
	s.rooms = nil
	remove(h.users, s.userID, s)
}

// JoinUser adds every local session of userID to roomID.
func (h *Hub) JoinUser(userID, roomID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.users[userID] {
		h.joinLocked(s, roomID)
	}
}

func (h *Hub) joinLocked(s *Session, roomID int64) {
	if slices.Contains(s.rooms, roomID) {
		return
	}
	s.rooms = append(s.rooms, roomID)
	add(h.rooms, roomID, s)
}

// LeaveUser removes every local session of userID from roomID.
func (h *Hub) LeaveUser(userID, roomID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.users[userID] {
		if i := slices.Index(s.rooms, roomID); i >= 0 {
			s.rooms = slices.Delete(s.rooms, i, i+1)
			remove(h.rooms, roomID, s)
		}
	}
}

// SendRoom queues b on every session in roomID except the one whose id is
// skipID (the session that caused the event and was answered directly),
// and returns the number of sessions it was queued on.
func (h *Hub) SendRoom(roomID int64, skipID string, b []byte) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for s := range h.rooms[roomID] {
		if s.id != skipID && s.Send(b) {
			n++
		}
	}
	return n
}

// Online reports whether userID has at least one session on this edge.
func (h *Hub) Online(userID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.users[userID]) > 0
}

// InRoom reports whether session s is indexed in roomID.
func (h *Hub) InRoom(s *Session, roomID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.rooms[roomID][s]
	return ok
}

func add(m map[int64]map[*Session]struct{}, k int64, s *Session) {
	set := m[k]
	if set == nil {
		set = make(map[*Session]struct{}, 1)
		m[k] = set
	}
	set[s] = struct{}{}
}

func remove(m map[int64]map[*Session]struct{}, k int64, s *Session) {
	set := m[k]
	delete(set, s)
	if len(set) == 0 {
		delete(m, k)
	}
}
