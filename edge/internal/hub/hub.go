// Package hub keeps the edge's local sessions and indexes them by user and
// by room, so that one serialized event reaches every local recipient
// without a per-recipient allocation or RPC. It also keeps each local user's
// block list and each session's token (indexed by jti, for revocations), and
// shapes what a session receives: compressed for sessions that asked for
// gzip, coalesced into BATCH_MESSAGES for sessions that asked for batches.
package hub

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"switchboard.dev/edge/internal/protocol"
)

// Options configure a hub. Limits must be positive.
type Options struct {
	// QueueMessages is the most envelopes a session may have waiting.
	QueueMessages int
	// QueueBytes is the most bytes a session may have waiting.
	QueueBytes int
	// WriteTimeout bounds each write; a session whose write times out is closed.
	WriteTimeout time.Duration
	// CompressThreshold is the data size in bytes above which sessions that
	// asked for gzip receive compressed envelopes.
	CompressThreshold int
	// BatchWindow is how long a batching session's first coalesced message
	// waits for others.
	BatchWindow time.Duration
	// BatchMax is the most messages in one coalesced BATCH_MESSAGES.
	BatchMax int
	// Header stamps a server-originated envelope (a coalesced batch); nil
	// uses a counter of the hub's own.
	Header func() protocol.Header
	// Logger receives the hub's logs; nil discards them.
	Logger *slog.Logger
}

// Hub indexes the authenticated sessions of one edge. Lock order: Hub.mu
// before Session.mu.
type Hub struct {
	opts   Options
	log    *slog.Logger
	header func() protocol.Header
	gz     protocol.Compressor
	seq    atomic.Uint64 // for the default header

	mu     sync.RWMutex
	rooms  map[int64]map[*Session]struct{}
	users  map[int64]*user
	tokens map[string]map[*Session]struct{} // by jti; sessions whose token has one
	byID   map[string]*Session              // registered sessions by id
	// revs are the latest revocations applied, revs[n%maxRecentRevocations]
	// being the n-th (from 0); revN counts them all.
	revs []Revocation
	revN uint64
}

// maxRecentRevocations bounds the revocations a hub remembers for the
// sessions whose token is being verified while they are applied.
const maxRecentRevocations = 1024

// Token is what a session's token is judged by when a revocation comes.
type Token struct {
	// ID is the token's jti; "" when it has none.
	ID string
	// IssuedAt is the token's iat; zero when it has none.
	IssuedAt time.Time
}

// Revocation revokes one token (TokenID set) or the tokens of a user
// (UserID) issued before IssuedBefore.
type Revocation struct {
	// TokenID is the revoked token's jti.
	TokenID string
	// UserID is the user whose tokens are revoked when TokenID is empty.
	UserID int64
	// IssuedBefore bounds a user revocation; zero revokes every token of
	// the user. A token without iat is always covered.
	IssuedBefore time.Time
}

// covers reports whether r revokes the token t of userID.
func (r Revocation) covers(userID int64, t Token) bool {
	if r.TokenID != "" {
		return t.ID == r.TokenID
	}
	return r.UserID == userID &&
		(r.IssuedBefore.IsZero() || t.IssuedAt.IsZero() || t.IssuedAt.Before(r.IssuedBefore))
}

// user is a local user: their sessions and the users they block, shared by
// those sessions. Guarded by Hub.mu.
type user struct {
	sessions map[*Session]struct{}
	// blocked are the users whose messages this user does not receive; nil
	// for the many users who block no one (the delivery fast path).
	blocked map[int64]struct{}
}

// Registration is what Register indexes a session under.
type Registration struct {
	// UserID is the session's authenticated user.
	UserID int64
	// Rooms are the user's rooms.
	Rooms []int64
	// Blocked are the users the user blocks, as listed at CONNECT. When the
	// user already has a local session, the hub's set (kept up to date by
	// block events since) is kept instead.
	Blocked []int64
	// Gzip asks for compressed envelopes above the threshold.
	Gzip bool
	// Batch asks for broadcast messages coalesced into BATCH_MESSAGES.
	Batch bool
	// Token is the session's token, indexed for revocations.
	Token Token
	// RevocationMark is RevocationMark() taken before the token was
	// verified: a revocation of the token applied since refuses the
	// registration.
	RevocationMark uint64
}

// New returns an empty hub.
func New(opts Options) *Hub {
	h := &Hub{
		opts:   opts,
		log:    opts.Logger,
		header: opts.Header,
		rooms:  make(map[int64]map[*Session]struct{}),
		users:  make(map[int64]*user),
		tokens: make(map[string]map[*Session]struct{}),
		byID:   make(map[string]*Session),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.header == nil {
		h.header = func() protocol.Header {
			return protocol.Header{Time: time.Now(), SeqPrefix: "s-", SeqNum: h.seq.Add(1)}
		}
	}
	return h
}

// NewSession returns a session writing to conn, not yet in any index.
func (h *Hub) NewSession(id string, conn Conn) *Session {
	return &Session{id: id, conn: conn, hub: h, done: make(chan struct{})}
}

// Register indexes s as reg says, then queues first (when not nil) before
// any event can reach s. It returns false, doing nothing, when a revocation
// applied since reg.RevocationMark covers the session's token.
func (h *Hub) Register(s *Session, reg Registration, first []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.revokedSinceLocked(reg.RevocationMark, reg.UserID, reg.Token) {
		return false
	}
	s.userID, s.gzip, s.batch, s.token = reg.UserID, reg.Gzip, reg.Batch, reg.Token
	if s.batch {
		s.batchFn = s.batchTimeUp
	}
	if first != nil {
		s.Send(first)
	}
	u := h.users[reg.UserID]
	if u == nil {
		u = &user{sessions: make(map[*Session]struct{}, 1)}
		for _, id := range reg.Blocked {
			if u.blocked == nil {
				u.blocked = make(map[int64]struct{}, len(reg.Blocked))
			}
			u.blocked[id] = struct{}{}
		}
		h.users[reg.UserID] = u
	}
	u.sessions[s] = struct{}{}
	s.user = u
	s.registered = true
	h.byID[s.id] = s
	if reg.Token.ID != "" {
		add(h.tokens, reg.Token.ID, s)
	}
	for _, r := range reg.Rooms {
		h.joinLocked(s, r)
	}
	return true
}

// Unregister removes s from every index.
func (h *Hub) Unregister(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unregisterLocked(s)
}

func (h *Hub) unregisterLocked(s *Session) {
	if !s.registered {
		return
	}
	s.registered = false
	delete(h.byID, s.id)
	for _, r := range s.rooms {
		remove(h.rooms, r, s)
	}
	s.rooms = nil
	if s.token.ID != "" {
		remove(h.tokens, s.token.ID, s)
	}
	delete(s.user.sessions, s)
	if len(s.user.sessions) == 0 {
		delete(h.users, s.userID)
	}
}

// RevocationMark returns the number of revocations applied so far. Taken
// before a token is verified and handed to Register or SetToken, it lets
// them catch a revocation applied while the verification was under way,
// which no lookup would find (the session was not indexed yet).
func (h *Hub) RevocationMark() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.revN
}

// revokedSinceLocked reports whether a revocation applied after mark covers
// the token t of userID. When more revocations were applied since than the
// hub remembers, it cannot tell and answers true: refusing is safe.
func (h *Hub) revokedSinceLocked(mark uint64, userID int64, t Token) bool {
	if mark > h.revN {
		mark = h.revN
	}
	if h.revN-mark > maxRecentRevocations {
		return true
	}
	for n := mark; n < h.revN; n++ {
		if h.revs[n%maxRecentRevocations].covers(userID, t) {
			return true
		}
	}
	return false
}

// SetToken replaces the token of s, a registered session (a refresh), and
// reports whether it did: not when a revocation applied since mark (see
// RevocationMark) covers the new token.
func (h *Hub) SetToken(s *Session, t Token, mark uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.registered || h.revokedSinceLocked(mark, s.userID, t) {
		return false
	}
	if s.token.ID != "" {
		remove(h.tokens, s.token.ID, s)
	}
	s.token = t
	if t.ID != "" {
		add(h.tokens, t.ID, s)
	}
	return true
}

// Revoke applies a revocation: every registered session whose token r
// covers is taken out of the indexes (it receives nothing more), gets line
// (when not nil) and is closed once that is written. It returns the number
// of sessions ended. A token revocation is one lookup in the jti index; a
// user revocation looks at that user's sessions only.
func (h *Hub) Revoke(r Revocation, line []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.revs) < maxRecentRevocations {
		h.revs = append(h.revs, r)
	} else {
		h.revs[h.revN%maxRecentRevocations] = r
	}
	h.revN++
	var set map[*Session]struct{}
	if r.TokenID != "" {
		set = h.tokens[r.TokenID]
	} else if u := h.users[r.UserID]; u != nil {
		set = u.sessions
	}
	var ended []*Session
	for s := range set {
		if r.covers(s.userID, s.token) {
			ended = append(ended, s)
		}
	}
	for _, s := range ended {
		h.unregisterLocked(s)
		s.SendAndClose(line)
	}
	return len(ended)
}

// SendUsers queues b on every session of the users in userIDs (each user
// once, however often listed) and returns the number of sessions it was
// queued on.
func (h *Hub) SendUsers(userIDs []int64, b *Broadcast) int {
	var seen map[int64]struct{}
	if len(userIDs) > maxLinearDedup {
		seen = make(map[int64]struct{}, len(userIDs))
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for i, id := range userIDs {
		if seen != nil {
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
		} else if slices.Contains(userIDs[:i], id) {
			continue
		}
		if u := h.users[id]; u != nil {
			for s := range u.sessions {
				if s.deliver(b) {
					n++
				}
			}
		}
	}
	return n
}

// SendSessions queues b on the registered sessions whose ids are listed
// (ids of other edges' sessions are not found and skipped), except those
// in exceptRoom (0: none), which were sent b by SendRoom, and returns the
// number of sessions it was queued on.
func (h *Hub) SendSessions(ids []string, exceptRoom int64, b *Broadcast) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, id := range ids {
		s := h.byID[id]
		if s == nil {
			continue
		}
		if exceptRoom != 0 {
			if _, ok := h.rooms[exceptRoom][s]; ok {
				continue
			}
		}
		if s.deliver(b) {
			n++
		}
	}
	return n
}

// maxLinearDedup is the longest recipient list SendUsers dedups by scanning
// it rather than with a map.
const maxLinearDedup = 32

// SendAll queues b on every registered session and returns the number of
// sessions it was queued on.
func (h *Hub) SendAll(b *Broadcast) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, u := range h.users {
		for s := range u.sessions {
			if s.deliver(b) {
				n++
			}
		}
	}
	return n
}

// EachSession calls fn with the id and user of every registered session,
// under the hub's read lock: fn must not call the hub.
func (h *Hub) EachSession(fn func(id string, userID int64)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, u := range h.users {
		for s := range u.sessions {
			fn(s.id, s.userID)
		}
	}
}

// Count returns the number of registered sessions.
func (h *Hub) Count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, u := range h.users {
		n += len(u.sessions)
	}
	return n
}

// JoinUser adds every local session of userID to roomID.
func (h *Hub) JoinUser(userID, roomID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u := h.users[userID]; u != nil {
		for s := range u.sessions {
			h.joinLocked(s, roomID)
		}
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
	if u := h.users[userID]; u != nil {
		for s := range u.sessions {
			if i := slices.Index(s.rooms, roomID); i >= 0 {
				s.rooms = slices.Delete(s.rooms, i, i+1)
				remove(h.rooms, roomID, s)
			}
		}
	}
}

// DropRoom removes roomID from the index: a deleted room.
func (h *Hub) DropRoom(roomID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.rooms[roomID] {
		if i := slices.Index(s.rooms, roomID); i >= 0 {
			s.rooms = slices.Delete(s.rooms, i, i+1)
		}
	}
	delete(h.rooms, roomID)
}

// SetBlocked records that userID blocks (or, with blocked false, no longer
// blocks) otherID, for userID's local sessions; a user without a local
// session is left alone (CONNECT lists the blocks afresh).
func (h *Hub) SetBlocked(userID, otherID int64, blocked bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[userID]
	switch {
	case u == nil:
	case blocked:
		if u.blocked == nil {
			u.blocked = make(map[int64]struct{}, 1)
		}
		u.blocked[otherID] = struct{}{}
	default:
		delete(u.blocked, otherID)
		if len(u.blocked) == 0 {
			u.blocked = nil // back to the fast path
		}
	}
}

// Blocks reports whether userID, a local user, blocks otherID.
func (h *Hub) Blocks(userID, otherID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	u := h.users[userID]
	if u == nil {
		return false
	}
	_, ok := u.blocked[otherID]
	return ok
}

// Broadcast is one envelope for many sessions, serialized once per event:
// every recipient shares Line (or its compressed variant, computed at most
// once and only if a recipient wants it) or, for batching sessions, Message.
type Broadcast struct {
	// Line is the complete envelope.
	Line []byte
	// Message is, for a broadcast NEW_MESSAGE, the Message object (a
	// sub-slice of Line) that batching sessions coalesce; nil otherwise.
	Message []byte
	// SenderID is, for a broadcast NEW_MESSAGE, the sender: sessions of
	// users who block them are skipped. 0 for everything else.
	SenderID int64

	compressed     []byte
	compressTried  bool
	compressNeeded bool
}

// compressedLine returns the variant of Line for gzip sessions: compressed
// when its data exceeds the threshold. It is computed on first need; a
// Broadcast is used by one goroutine.
func (b *Broadcast) compressedLine(h *Hub) []byte {
	if !b.compressTried {
		b.compressTried = true
		if c, ok := h.compress(b.Line); ok {
			b.compressed, b.compressNeeded = c, true
		}
	}
	if b.compressNeeded {
		return b.compressed
	}
	return b.Line
}

// compress returns line compressed when its data exceeds the threshold.
func (h *Hub) compress(line []byte) ([]byte, bool) {
	if len(line) <= h.opts.CompressThreshold {
		return nil, false // the data is shorter than the line
	}
	start, stop, ok := protocol.DataBounds(line)
	if !ok || stop-start <= h.opts.CompressThreshold {
		return nil, false
	}
	return h.gz.Compress(line)
}

// SendRoom queues b on every session in roomID except the one whose id is
// skipID (the session that caused the event and was answered directly) and
// those of users who block b's sender, and returns the number of sessions
// it was queued on. Per recipient it costs a map lookup at most (none for
// users who block no one) and allocates nothing.
func (h *Hub) SendRoom(roomID int64, skipID string, b *Broadcast) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for s := range h.rooms[roomID] {
		if s.id == skipID {
			continue
		}
		if blocked := s.user.blocked; blocked != nil && b.SenderID != 0 {
			if _, ok := blocked[b.SenderID]; ok {
				continue
			}
		}
		if s.deliver(b) {
			n++
		}
	}
	return n
}

// Online reports whether userID has at least one session on this edge.
func (h *Hub) Online(userID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	u := h.users[userID]
	return u != nil && len(u.sessions) > 0
}

// InRoom reports whether session s is indexed in roomID.
func (h *Hub) InRoom(s *Session, roomID int64) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.rooms[roomID][s]
	return ok
}

func add[K comparable](m map[K]map[*Session]struct{}, k K, s *Session) {
	set := m[k]
	if set == nil {
		set = make(map[*Session]struct{}, 1)
		m[k] = set
	}
	set[s] = struct{}{}
}

func remove[K comparable](m map[K]map[*Session]struct{}, k K, s *Session) {
	set := m[k]
	delete(set, s)
	if len(set) == 0 {
		delete(m, k)
	}
}
