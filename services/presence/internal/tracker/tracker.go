// Package tracker holds the sessions of every edge in memory and turns
// them into presence: it decides when a user goes online or offline, and
// announces each transition to the users who share a room with them.
//
// A user is online from their first session on until their last one has
// been closed for the offline grace, so that a quick reconnect announces
// nothing. An edge's sessions count while the edge holds a Subscribe
// stream, and for the edge lease after its last stream ended; then they
// are dropped. After a restart, the users persisted as online are kept
// online, without sessions, for the edge lease, the time their edges have
// to resubscribe and resync: those who reappear announce nothing, the
// others go offline.
//
// Deadlines (grace, lease) are checked against the clock by a sweep every
// Tick. Transitions are handled off the RPC path by a few workers, one user
// at a time each: they ask chat for the user's room peers (retrying a few
// times with backoff), then persist the user's record and append the
// announcement to the event log in one store write.
package tracker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/services/presence/internal/store"
)

// Defaults of Options.
const (
	DefaultOfflineGrace  = 5 * time.Second
	DefaultEdgeLease     = 10 * time.Second
	DefaultWorkers       = 8
	DefaultRetryAttempts = 4
	DefaultRetryBackoff  = 200 * time.Millisecond
	// flushChunk bounds the user records written in one store write at
	// shutdown.
	flushChunk = 10000
)

// Peers returns the users who share a room with userID: the audience of
// their presence. It bounds its own duration.
type Peers func(ctx context.Context, userID int64) ([]int64, error)

// Options configure a Tracker.
type Options struct {
	// OfflineGrace is how long a user whose last session closed stays
	// online; 0 means DefaultOfflineGrace.
	OfflineGrace time.Duration
	// EdgeLease is how long an edge's sessions outlive its last Subscribe
	// stream, and how long users persisted online wait for a resync after
	// a restart; 0 means DefaultEdgeLease.
	EdgeLease time.Duration
	// Peers looks up the recipients of a user's transitions. Required.
	Peers Peers
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tick is the period of the deadline sweep; 0 means a twentieth of the
	// shorter of OfflineGrace and EdgeLease, within [10ms, 100ms].
	Tick time.Duration
	// Workers is how many transitions are handled at once; 0 means
	// DefaultWorkers.
	Workers int
	// RetryAttempts is how many times a failed Peers lookup is tried in
	// all before the transition's announcement is dropped; 0 means
	// DefaultRetryAttempts.
	RetryAttempts int
	// RetryBackoff is the wait before the first retry, doubled for each
	// next one; 0 means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Logger receives dropped announcements and store errors; nil
	// discards them.
	Logger *slog.Logger
}

// Tracker is the in-memory presence. Its methods are safe for concurrent
// use.
type Tracker struct {
	store    *store.Store
	peers    Peers
	now      func() time.Time
	grace    time.Duration
	lease    time.Duration
	tick     time.Duration
	workers  int
	attempts int
	backoff  time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	cond      *sync.Cond // signals queue and stopping
	edges     map[string]*edge
	users     map[int64]*user // users with sessions, online, or with work pending
	graced    map[int64]*user // users online without a session: their graceEnd is set
	queue     []*user         // users with a transition or a record to handle
	settleEnd time.Time       // end of the wait for resyncs after the start
	stopping  bool
}

// edge is one edge's sessions.
type edge struct {
	sessions map[string]int64 // session id → user id
	streams  int              // open Subscribe streams
	leaseEnd time.Time        // when streams == 0: when the sessions are dropped
}

// user is the presence of one user.
type user struct {
	id       int64
	sessions int
	online   bool      // has sessions, or is within the grace or the settling
	lastSeen time.Time // when the last session opened or closed
	graceEnd time.Time // set while online without a session

	// unconfirmed marks a user persisted online at the start: they do not
	// go offline before the settling ends, resynced or not.
	unconfirmed bool
	announced   bool       // the status the user's peers were last told (or dropped)
	persisted   store.User // the record last written

	queued, busy, again bool
}

// New returns a Tracker over st; known are the users persisted as online,
// who stay online without sessions for the edge lease. Call Run to start
// its sweep and workers.
func New(st *store.Store, known []store.User, opts Options) *Tracker {
	t := &Tracker{
		store:    st,
		peers:    opts.Peers,
		now:      opts.Now,
		grace:    opts.OfflineGrace,
		lease:    opts.EdgeLease,
		tick:     opts.Tick,
		workers:  opts.Workers,
		attempts: opts.RetryAttempts,
		backoff:  opts.RetryBackoff,
		log:      opts.Logger,
		edges:    make(map[string]*edge),
		users:    make(map[int64]*user),
		graced:   make(map[int64]*user),
	}
	t.cond = sync.NewCond(&t.mu)
	if t.now == nil {
		t.now = time.Now
	}
	if t.grace <= 0 {
		t.grace = DefaultOfflineGrace
	}
	if t.lease <= 0 {
		t.lease = DefaultEdgeLease
	}
	if t.tick <= 0 {
		t.tick = min(max(min(t.grace, t.lease)/20, 10*time.Millisecond), 100*time.Millisecond)
	}
	if t.workers <= 0 {
		t.workers = DefaultWorkers
	}
	if t.attempts <= 0 {
		t.attempts = DefaultRetryAttempts
	}
	if t.backoff <= 0 {
		t.backoff = DefaultRetryBackoff
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.settleEnd = t.now().Add(t.lease)
	for _, k := range known {
		u := &user{id: k.ID, online: true, lastSeen: k.LastSeen, graceEnd: t.settleEnd,
			unconfirmed: true, announced: true, persisted: k}
		t.users[k.ID] = u
		t.graced[k.ID] = u
	}
	return t
}

// Run sweeps deadlines and runs the workers until ctx is done, then waits
// for the workers to stop. Transitions still queued are left for Flush.
func (t *Tracker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range t.workers {
		wg.Go(func() { t.work(ctx) })
	}
	tick := time.NewTicker(t.tick)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
			t.sweep()
		case <-ctx.Done():
			done = true
		}
	}
	t.mu.Lock()
	t.stopping = true
	t.cond.Broadcast()
	t.mu.Unlock()
	wg.Wait()
}

// Subscribed records a Subscribe stream of the edge: its sessions count
// until the stream ends.
func (t *Tracker) Subscribed(edgeID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.edgeLocked(edgeID)
	e.streams++
	e.leaseEnd = time.Time{}
}

// Unsubscribed records the end of a Subscribe stream of the edge: after
// its last one, the edge lease starts.
func (t *Tracker) Unsubscribed(edgeID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.edges[edgeID]
	if e == nil {
		return
	}
	e.streams--
	if e.streams <= 0 {
		e.streams = 0
		e.leaseEnd = t.now().Add(t.lease)
	}
}

// Opened records a session of userID on the edge; reopening the same
// session is a no-op, and a session id reused for another user replaces
// the session.
func (t *Tracker) Opened(edgeID, sessionID string, userID int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e := t.edgeLocked(edgeID)
	old, ok := e.sessions[sessionID]
	if ok && old == userID {
		return
	}
	e.sessions[sessionID] = userID
	t.addLocked(userID, now)
	if ok {
		t.removeLocked(old, now, now)
	}
}

// Closed records the end of a session; an unknown session is ignored.
func (t *Tracker) Closed(edgeID, sessionID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.edges[edgeID]
	if e == nil {
		return
	}
	userID, ok := e.sessions[sessionID]
	if !ok {
		return
	}
	delete(e.sessions, sessionID)
	now := t.now()
	t.removeLocked(userID, now, now)
}

// Sync replaces the edge's sessions (session id → user id) with sessions,
// opening and closing the difference.
func (t *Tracker) Sync(edgeID string, sessions map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e := t.edgeLocked(edgeID)
	var gone []int64
	for id, userID := range e.sessions {
		if sessions[id] != userID {
			gone = append(gone, userID)
			delete(e.sessions, id)
		}
	}
	// Opens first: a user whose session only changed id keeps a count
	// above zero throughout.
	for id, userID := range sessions {
		if _, ok := e.sessions[id]; !ok {
			e.sessions[id] = userID
			t.addLocked(userID, now)
		}
	}
	for _, userID := range gone {
		t.removeLocked(userID, now, now)
	}
}

// Presence returns the presence of each user in ids, in order.
func (t *Tracker) Presence(ctx context.Context, ids []int64) ([]*presencev1.UserPresence, error) {
	now := t.now()
	out := make([]*presencev1.UserPresence, len(ids))
	var missing []int64
	t.mu.Lock()
	for i, id := range ids {
		u := t.users[id]
		if u == nil {
			missing = append(missing, id)
			continue
		}
		p := &presencev1.UserPresence{UserId: id, Online: u.online, Sessions: int32(u.sessions)}
		switch {
		case u.online:
			p.LastSeen = timestamppb.New(now)
		case !u.lastSeen.IsZero():
			p.LastSeen = timestamppb.New(u.lastSeen)
		}
		out[i] = p
	}
	t.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	recs, err := t.store.Users(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	for i, id := range ids {
		if out[i] != nil {
			continue
		}
		p := &presencev1.UserPresence{UserId: id}
		if r, ok := recs[id]; ok && !r.LastSeen.IsZero() {
			p.LastSeen = timestamppb.New(r.LastSeen)
		}
		out[i] = p
	}
	return out, nil
}

// Flush persists, for every user in memory, whether their peers were told
// they are online and when they were last seen (now, for those with
// sessions), so that a restart neither announces them again nor loses
// their last seen. Call it after Run has returned.
func (t *Tracker) Flush(ctx context.Context) error {
	now := t.now()
	t.mu.Lock()
	var recs []store.User
	for _, u := range t.users {
		r := store.User{ID: u.id, Online: u.announced, LastSeen: u.lastSeen}
		if u.sessions > 0 {
			r.LastSeen = now
		}
		if r != u.persisted {
			recs = append(recs, r)
		}
	}
	t.mu.Unlock()
	for len(recs) > 0 {
		n := min(len(recs), flushChunk)
		if err := t.store.Apply(ctx, store.Write{Users: recs[:n]}); err != nil {
			return fmt.Errorf("flush presence: %w", err)
		}
		recs = recs[n:]
	}
	return nil
}

// edgeLocked returns the edge, creating it with its lease running: an
// edge that reports sessions without subscribing loses them after the
// lease.
func (t *Tracker) edgeLocked(id string) *edge {
	e := t.edges[id]
	if e == nil {
		e = &edge{sessions: make(map[string]int64), leaseEnd: t.now().Add(t.lease)}
		t.edges[id] = e
	}
	return e
}

// addLocked counts a new session of the user.
func (t *Tracker) addLocked(userID int64, now time.Time) {
	u := t.users[userID]
	if u == nil {
		u = &user{id: userID}
		t.users[userID] = u
	}
	u.sessions++
	if u.sessions > 1 {
		return
	}
	// Back within the grace or the settling: still online, nothing to
	// announce; the record gets the new last seen.
	u.lastSeen = now
	u.graceEnd = time.Time{}
	delete(t.graced, userID)
	u.online = true
	t.enqueueLocked(u)
}

// removeLocked uncounts a session of the user that ended at closedAt: a
// user left without sessions starts the grace.
func (t *Tracker) removeLocked(userID int64, closedAt, now time.Time) {
	u := t.users[userID]
	if u == nil || u.sessions == 0 {
		return
	}
	u.sessions--
	if u.sessions > 0 {
		return
	}
	u.lastSeen = closedAt
	u.graceEnd = now.Add(t.grace)
	if u.unconfirmed && u.graceEnd.Before(t.settleEnd) {
		u.graceEnd = t.settleEnd
	}
	t.graced[userID] = u
	t.enqueueLocked(u)
}

// sweep drops the sessions of edges whose lease ended and takes offline
// the users whose grace ended.
func (t *Tracker) sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for id, e := range t.edges {
		if e.streams > 0 || e.leaseEnd.After(now) {
			continue
		}
		if len(e.sessions) > 0 {
			t.log.Info("edge lease expired, sessions dropped", "edge_id", id, "sessions", len(e.sessions))
		}
		lost := e.leaseEnd.Add(-t.lease) // when the edge was last heard of
		for _, userID := range e.sessions {
			t.removeLocked(userID, lost, now)
		}
		delete(t.edges, id)
	}
	for id, u := range t.graced {
		if u.graceEnd.After(now) {
			continue
		}
		delete(t.graced, id)
		u.graceEnd = time.Time{}
		u.unconfirmed = false
		u.online = false
		t.enqueueLocked(u)
	}
}

func (t *Tracker) enqueueLocked(u *user) {
	switch {
	case u.busy:
		u.again = true
	case u.queued:
	default:
		u.queued = true
		t.queue = append(t.queue, u)
		t.cond.Signal()
	}
}

// work handles queued users until the tracker stops.
func (t *Tracker) work(ctx context.Context) {
	for {
		t.mu.Lock()
		for len(t.queue) == 0 && !t.stopping {
			t.cond.Wait()
		}
		if t.stopping {
			t.mu.Unlock()
			return
		}
		u := t.queue[0]
		t.queue[0] = nil
		t.queue = t.queue[1:]
		u.queued, u.busy = false, true
		t.mu.Unlock()

		t.handle(ctx, u)

		t.mu.Lock()
		u.busy = false
		switch {
		case u.again:
			u.again = false
			t.enqueueLocked(u)
		case u.sessions == 0 && !u.online && !u.announced && u.persisted == t.recordLocked(u):
			delete(t.users, u.id) // settled offline: the store has it
		}
		t.mu.Unlock()
	}
}

// recordLocked is the record the user should have in the store.
func (t *Tracker) recordLocked(u *user) store.User {
	return store.User{ID: u.id, Online: u.online, LastSeen: u.lastSeen}
}

// handle announces the user's transition, if any, and persists their
// record.
func (t *Tracker) handle(ctx context.Context, u *user) {
	t.mu.Lock()
	rec := t.recordLocked(u)
	announce := rec.Online != u.announced
	write := rec != u.persisted
	t.mu.Unlock()
	if !announce && !write {
		return
	}
	var ev *presencev1.Event
	if announce {
		peers, err := t.lookup(ctx, u.id)
		if ctx.Err() != nil {
			return // shutting down: Flush persists what peers know
		}
		if err != nil {
			t.log.Error("presence announcement dropped: room peers unknown", "user_id", u.id, "online", rec.Online, "err", err)
		} else if len(peers) > 0 {
			ev = &presencev1.Event{UserIds: peers, Payload: &presencev1.Event_StatusChanged{StatusChanged: &presencev1.StatusChanged{
				UserId: u.id, Online: rec.Online, LastSeen: timestamppb.New(rec.LastSeen),
			}}}
		}
		t.mu.Lock()
		changed := u.online != rec.Online
		t.mu.Unlock()
		if changed {
			return // flipped meanwhile: again is set, the next pass decides
		}
	}
	// Not canceled by shutdown: a write the store may still commit must
	// not be taken for a failure (the store outlives the workers).
	if err := t.store.Apply(context.WithoutCancel(ctx), store.Write{Users: []store.User{rec}, Event: ev}); err != nil {
		t.log.Error("persist presence", "user_id", u.id, "online", rec.Online, "err", err)
		return
	}
	t.mu.Lock()
	u.announced = rec.Online
	u.persisted = rec
	t.mu.Unlock()
}

// lookup asks for the user's peers, retrying with a doubling backoff.
func (t *Tracker) lookup(ctx context.Context, userID int64) ([]int64, error) {
	wait := t.backoff
	for attempt := 1; ; attempt++ {
		peers, err := t.peers(ctx, userID)
		if err == nil {
			out := peers[:0:0]
			for _, p := range peers {
				if p != userID {
					out = append(out, p)
				}
			}
			return out, nil
		}
		if attempt >= t.attempts || ctx.Err() != nil {
			return nil, fmt.Errorf("list room peers of user %d, %d attempts: %w", userID, attempt, err)
		}
		t.log.Warn("list room peers failed, retrying", "user_id", userID, "attempt", attempt, "retry_in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
		wait *= 2
	}
}
