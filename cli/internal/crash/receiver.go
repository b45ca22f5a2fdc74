package crash

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard.dev/cli/internal/token"
)

// historyPage is the page size of a receiver's catch-up (the edge's most).
const historyPage = 100

// receiver is a member of several rooms that keeps, per room, every
// message in id order with no gap. On each connection it first catches up
// with JOIN_ROOM since_message_id (the last id it has) and GET_MESSAGES
// pages, holding back the live NEW_MESSAGEs meanwhile; after that every
// live NEW_MESSAGE must be the next id of its room. Ids it has already
// (the overlap of a catch-up with live delivery, or a redelivery) are
// dropped, as a client does, and counted.
type receiver struct {
	user   int64
	rooms  []int64
	edges  []string
	minter *token.Minter

	// Read once run has returned.
	last        map[int64]int64            // room → highest id held, all below it held too
	got         map[int64]map[int64]string // room → id → client_msg_id
	conns       int                        // connections made
	overlap     int                        // ids read from history that came live too, dropped
	redelivered int                        // ids that came live twice on one connection, dropped
	gaps        []string                   // live messages past the next id (a test failure)
	done        bool                       // the final catch-up completed

	// ready is closed once the first catch-up of every room is complete:
	// the receiver is then a member of its rooms.
	ready     chan struct{}
	readyOnce bool
}

func newReceiver(user int64, rooms []int64, edges []string, minter *token.Minter) *receiver {
	r := &receiver{user: user, rooms: rooms, edges: edges, minter: minter,
		last: map[int64]int64{}, got: map[int64]map[int64]string{}, ready: make(chan struct{})}
	for _, room := range rooms {
		r.got[room] = map[int64]string{}
	}
	return r
}

// session is the state of one connection.
type session struct {
	c        *conn
	catching map[int64]bool      // rooms being caught up
	held     map[int64][]message // live messages of those rooms, held back
	pages    int                 // GET_MESSAGES sent, for seq_ids
	// history is, per room, the highest id this connection read from
	// history: its live NEW_MESSAGE may come after the page did.
	history map[int64]int64
	// final holds the rooms that were being caught up when finish came:
	// each gets one more catch-up once that one is complete.
	final map[int64]bool
}

// run receives until finish is closed, then catches up once more (the
// senders have stopped) and returns; ctx ending abandons it.
func (r *receiver) run(ctx context.Context, finish <-chan struct{}) {
	for ctx.Err() == nil {
		c := r.connect(ctx)
		if c == nil {
			return
		}
		finished := r.serve(ctx, c, finish)
		c.close()
		if finished {
			r.done = true
			return
		}
		sleepCtx(ctx, retryPause)
	}
}

// serve runs one connection: the catch-up, then live delivery. It returns
// true once the final catch-up after finish is complete, false when the
// connection is lost.
func (r *receiver) serve(ctx context.Context, c *conn, finish <-chan struct{}) bool {
	s := &session{c: c, catching: map[int64]bool{}, held: map[int64][]message{}, final: map[int64]bool{}, history: map[int64]int64{}}
	for _, room := range r.rooms {
		s.catching[room] = true
		data := map[string]any{"chatroom_id": room, "since_message_id": r.last[room]}
		if c.send("JOIN_ROOM", data, "join-"+strconv.FormatInt(room, 10)) != nil {
			return false
		}
	}
	finishing := false
	for {
		if !finishing {
			select {
			case <-finish:
				// One more catch-up of every room, then done.
				finishing = true
				for _, room := range r.rooms {
					if s.catching[room] {
						s.final[room] = true
					} else if !r.page(s, room) {
						return false
					}
				}
			default:
			}
		}
		if len(s.catching) == 0 {
			if !r.readyOnce {
				r.readyOnce = true
				close(r.ready)
			}
			if finishing && len(s.final) == 0 {
				return true
			}
		}
		// A short deadline lets finish be noticed; silence is normal.
		env, err := c.read(time.Now().Add(200 * time.Millisecond))
		if isTimeout(err) {
			if ctx.Err() != nil {
				return false
			}
			continue
		}
		if err != nil {
			return false
		}
		if !r.handle(s, env) {
			return false
		}
	}
}

// handle applies one envelope; false drops the connection (a refused
// catch-up is retried on a new one).
func (r *receiver) handle(s *session, env envelope) bool {
	switch env.Action {
	case "NEW_MESSAGE":
		m := env.Data.message
		if _, ok := r.got[m.RoomID]; !ok {
			return true // not a room of this receiver's
		}
		if s.catching[m.RoomID] {
			s.held[m.RoomID] = append(s.held[m.RoomID], m)
			return true
		}
		r.apply(s, m, true)
	case "BATCH_MESSAGES", "MESSAGES":
		room := env.Data.RoomID
		if !s.catching[room] || !strings.HasPrefix(env.SeqID, "join-") && !strings.HasPrefix(env.SeqID, "page-") {
			return true
		}
		for _, m := range env.Data.Messages {
			s.history[room] = max(s.history[room], m.ID)
			r.apply(s, m, false)
		}
		if env.Data.HasMore {
			return r.page(s, room)
		}
		// Caught up: the held live messages follow, in id order.
		delete(s.catching, room)
		held := s.held[room]
		delete(s.held, room)
		slices.SortFunc(held, func(a, b message) int { return int(a.ID - b.ID) })
		for _, m := range held {
			r.apply(s, m, false)
		}
		if s.final[room] {
			delete(s.final, room)
			return r.page(s, room)
		}
	case "ERROR":
		if strings.HasPrefix(env.Data.OriginalSeqID, "join-") || strings.HasPrefix(env.Data.OriginalSeqID, "page-") {
			return false
		}
	}
	return true
}

// page asks for the messages after the last one held.
func (r *receiver) page(s *session, room int64) bool {
	s.catching[room] = true
	s.pages++
	data := map[string]any{"chatroom_id": room, "after_message_id": r.last[room], "limit": historyPage}
	return s.c.send("GET_MESSAGES", data, "page-"+strconv.FormatInt(room, 10)+"-"+strconv.Itoa(s.pages)) == nil
}

// apply takes message m: the next id of its room is kept; an id held
// already is dropped; past the next id, a live message is a gap (recorded,
// and the room is caught up from history), a history message cannot be.
func (r *receiver) apply(s *session, m message, live bool) {
	last := r.last[m.RoomID]
	switch {
	case m.ID <= last:
		if live && m.ID > s.history[m.RoomID] {
			r.redelivered++
		} else {
			r.overlap++
		}
	case m.ID == last+1:
		r.last[m.RoomID] = m.ID
		r.got[m.RoomID][m.ID] = m.ClientMsgID
	case live:
		r.gaps = append(r.gaps, fmt.Sprintf("user %d room %d: live message %d after %d", r.user, m.RoomID, m.ID, last))
		s.held[m.RoomID] = append(s.held[m.RoomID], m)
		r.page(s, m.RoomID)
	default:
		// A history page skipping ids: the checker finds the hole in the
		// history itself; hold the message so that nothing after it is
		// taken out of order.
		s.held[m.RoomID] = append(s.held[m.RoomID], m)
	}
}

// connect dials the edges in turn until one accepts, or ctx ends (nil).
func (r *receiver) connect(ctx context.Context) *conn {
	for ctx.Err() == nil {
		addr := r.edges[r.conns%len(r.edges)]
		r.conns++
		if c, err := dial(addr, r.minter, r.user, dialTimeout); err == nil {
			return c
		}
		sleepCtx(ctx, retryPause)
	}
	return nil
}
