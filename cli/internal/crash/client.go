package crash

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"switchboard.dev/cli/internal/token"
)

// message is a chat message as the edge shows it.
type message struct {
	ID          int64  `json:"message_id"`
	RoomID      int64  `json:"chatroom_id"`
	UserID      int64  `json:"user_id"`
	Content     string `json:"content"`
	ClientMsgID string `json:"client_msg_id"`
}

// envelope is a server envelope, its data decoded as far as the test
// needs.
type envelope struct {
	Action string `json:"action"`
	SeqID  string `json:"seq_id"`
	Data   struct {
		message
		Duplicate     bool      `json:"duplicate"`
		ErrorCode     string    `json:"error_code"`
		OriginalSeqID string    `json:"original_seq_id"`
		Messages      []message `json:"messages"`
		HasMore       bool      `json:"has_more"`
	} `json:"data"`
}

// conn is one client connection to an edge.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

// errRefused is a CONNECT the edge answered with CONNECT_ERROR.
var errRefused = errors.New("CONNECT refused")

// dial connects to addr and authenticates as user with a fresh token.
func dial(addr string, minter *token.Minter, user int64, timeout time.Duration) (*conn, error) {
	tok, err := minter.Mint(token.Claims{UserID: user, Nickname: "crash" + strconv.FormatInt(user, 10)})
	if err != nil {
		return nil, err
	}
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	if err := c.send("CONNECT", map[string]any{"jwt_token": tok}, "connect"); err != nil {
		c.close()
		return nil, err
	}
	for {
		env, err := c.read(time.Now().Add(timeout))
		if err != nil {
			c.close()
			return nil, fmt.Errorf("CONNECT: %w", err)
		}
		switch env.Action {
		case "CONNECT_SUCCESS":
			return c, nil
		case "CONNECT_ERROR":
			c.close()
			return nil, fmt.Errorf("%w: %s", errRefused, env.Data.ErrorCode)
		}
	}
}

// send writes one envelope.
func (c *conn) send(action string, data any, seq string) error {
	b, err := json.Marshal(map[string]any{"action": action, "data": data, "seq_id": seq})
	if err != nil {
		return err
	}
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = c.c.Write(append(b, '\n'))
	return err
}

// read returns the next envelope, or an error at the deadline or when the
// connection ends. A line that is no JSON envelope is an error: the edge
// never writes one.
func (c *conn) read(deadline time.Time) (envelope, error) {
	c.c.SetReadDeadline(deadline)
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return envelope{}, err
	}
	var env envelope
	if err := json.Unmarshal(line, &env); err != nil {
		return envelope{}, fmt.Errorf("undecodable envelope %.200q: %w", line, err)
	}
	return env, nil
}

// await reads envelopes until match reports the one awaited (done) or an
// error, or until the deadline.
func (c *conn) await(deadline time.Time, match func(envelope) (done bool, err error)) error {
	for {
		env, err := c.read(deadline)
		if err != nil {
			return err
		}
		if done, err := match(env); done || err != nil {
			return err
		}
	}
}

func (c *conn) close() { c.c.Close() }

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryable reports whether an ERROR code means "try again later": the
// request may or may not have been done.
func retryable(code string) bool {
	switch code {
	case "SERVICE_UNAVAILABLE", "INTERNAL_ERROR", "RATE_LIMITED":
		return true
	}
	return false
}
