package crash

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"switchboard.dev/cli/internal/token"
)

// joinRoom connects to addr as user and makes it a member of room.
func joinRoom(ctx context.Context, addr string, minter *token.Minter, user, room int64) error {
	for {
		err := tryJoin(addr, minter, user, room)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("user %d joining room %d: %w", user, room, err)
		}
		sleepCtx(ctx, retryPause)
	}
}

func tryJoin(addr string, minter *token.Minter, user, room int64) error {
	c, err := dial(addr, minter, user, dialTimeout)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.send("JOIN_ROOM", map[string]any{"chatroom_id": room}, "join"); err != nil {
		return err
	}
	return c.await(time.Now().Add(ackTimeout), func(env envelope) (bool, error) {
		switch {
		case env.Action == "JOIN_ROOM_SUCCESS" && env.SeqID == "join":
			return true, nil
		case env.Action == "ERROR" && env.Data.OriginalSeqID == "join":
			return true, errors.New(env.Data.ErrorCode)
		}
		return false, nil
	})
}

// join makes the sender a member of its room.
func (s *sender) join(ctx context.Context) error {
	return joinRoom(ctx, s.edges[0], s.minter, s.user, s.room)
}

// probe checks that a new client is served on one edge: CONNECT, then a
// message acknowledged.
type probe struct {
	addr   string
	user   int64
	minter *token.Minter
	n      int
}

func (p *probe) join(ctx context.Context) error {
	return joinRoom(ctx, p.addr, p.minter, p.user, probeRoom)
}

// untilAcked probes every 20 ms until a probe succeeds or ctx ends.
func (p *probe) untilAcked(ctx context.Context) error {
	for {
		err := p.once()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last probe: %v)", p.addr, ctx.Err(), err)
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

func (p *probe) once() error {
	c, err := dial(p.addr, p.minter, p.user, dialTimeout)
	if err != nil {
		return err
	}
	defer c.close()
	p.n++
	id := "probe-" + strconv.FormatInt(p.user, 10) + "-" + strconv.Itoa(p.n)
	if err := c.send("SEND_MESSAGE", map[string]any{"chatroom_id": probeRoom, "content": id, "client_msg_id": id}, id); err != nil {
		return err
	}
	return c.await(time.Now().Add(ackTimeout), func(env envelope) (bool, error) {
		switch {
		case env.Action == "NEW_MESSAGE" && env.Data.ClientMsgID == id:
			return true, nil
		case env.Action == "ERROR" && env.Data.OriginalSeqID == id:
			return true, errors.New(env.Data.ErrorCode)
		}
		return false, nil
	})
}
