package crash

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"switchboard.dev/cli/internal/token"
)

// Client timing: how long an acknowledgement or a history page may take
// before the client gives up on the connection, and the pause before a
// retry.
const (
	ackTimeout  = 3 * time.Second
	dialTimeout = 2 * time.Second
	retryPause  = 100 * time.Millisecond
)

// sender sends numbered messages to its room, one at a time, each with a
// client_msg_id, and resends a message (reconnecting, to the edges in
// turn, when its connection is lost or silent) until its acknowledgement
// comes: the NEW_MESSAGE of its own client_msg_id.
type sender struct {
	user   int64
	room   int64
	edges  []string
	minter *token.Minter
	pace   time.Duration

	// Read once run has returned.
	acked    map[string]int64 // client_msg_id → message id
	order    []string         // client_msg_ids in sending order
	resends  int              // sends after the first of a message
	dups     int              // resends acknowledged as duplicates: stored before
	conns    int              // connections made
	refused  []string         // messages refused for good (a test failure)
	inFlight string           // the message not acknowledged when run ended
}

func newSender(user, room int64, edges []string, minter *token.Minter, pace time.Duration) *sender {
	return &sender{user: user, room: room, edges: edges, minter: minter, pace: pace, acked: map[string]int64{}}
}

// run sends until stop is closed, then finishes the message in hand; ctx
// ending abandons it.
func (s *sender) run(ctx context.Context, stop <-chan struct{}) {
	var c *conn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		id := "u" + strconv.FormatInt(s.user, 10) + "-" + strconv.Itoa(n)
		s.order = append(s.order, id)
		s.inFlight = id
		for attempt := 0; ctx.Err() == nil; attempt++ {
			if attempt > 0 {
				s.resends++
			}
			if c == nil {
				c = s.connect(ctx)
				if c == nil {
					break // ctx ended
				}
			}
			done, keep := s.attempt(c, id, attempt)
			if !keep {
				c.close()
				c = nil
			}
			if done {
				break
			}
			sleepCtx(ctx, retryPause)
		}
		if ctx.Err() != nil {
			return
		}
		s.inFlight = ""
		sleepCtx(ctx, s.pace)
	}
}

// attempt sends message id once on c and waits for its answer. done says
// the message is finished (acknowledged or refused for good); keep that c
// may be used again.
func (s *sender) attempt(c *conn, id string, attempt int) (done, keep bool) {
	seq := id + "#" + strconv.Itoa(attempt)
	data := map[string]any{"chatroom_id": s.room, "content": "crash test " + id, "client_msg_id": id}
	if err := c.send("SEND_MESSAGE", data, seq); err != nil {
		return false, false
	}
	err := c.await(time.Now().Add(ackTimeout), func(env envelope) (bool, error) {
		switch {
		case env.Action == "NEW_MESSAGE" && env.Data.UserID == s.user && env.Data.ClientMsgID == id:
			s.acked[id] = env.Data.ID
			if env.Data.Duplicate {
				s.dups++
			}
			done = true
			return true, nil
		case env.Action == "ERROR" && env.Data.OriginalSeqID == seq:
			if !retryable(env.Data.ErrorCode) {
				s.refused = append(s.refused, fmt.Sprintf("%s: %s", id, env.Data.ErrorCode))
				done = true
			}
			return true, nil
		}
		return false, nil
	})
	return done, err == nil
}

// connect dials the edges in turn until one accepts, or ctx ends (nil).
func (s *sender) connect(ctx context.Context) *conn {
	for ctx.Err() == nil {
		addr := s.edges[s.conns%len(s.edges)]
		s.conns++
		if c, err := dial(addr, s.minter, s.user, dialTimeout); err == nil {
			return c
		}
		sleepCtx(ctx, retryPause)
	}
	return nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
