package standalone

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// client is a test client of the edge protocol over real TCP.
type client struct {
	t    *testing.T
	name string
	conn net.Conn
	r    *bufio.Reader
	seq  int
	// presence, when false, passes over USER_STATUS_CHANGED envelopes: the
	// chat tests run with presence on, and its announcements are not theirs.
	presence bool
}

// envelope is a decoded server envelope.
type envelope struct {
	Action    string         `json:"action"`
	Data      map[string]any `json:"data"`
	Timestamp string         `json:"timestamp"`
	SeqID     string         `json:"seq_id"`
	raw       string
}

func dialEdge(t *testing.T, addr, name string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: dial edge %s: %v", name, addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, name: name, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

// sendRaw writes one line as is.
func (c *client) sendRaw(line string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// send writes an envelope with a fresh seq_id and returns the seq_id.
func (c *client) send(action string, data any) string {
	c.t.Helper()
	c.seq++
	seq := fmt.Sprintf("%s-%d", c.name, c.seq)
	b, err := json.Marshal(map[string]any{
		"action":    action,
		"data":      data,
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"seq_id":    seq,
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
	return seq
}

// next reads the next envelope, failing the test after the timeout.
func (c *client) next() envelope {
	c.t.Helper()
	env, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.name, err)
	}
	return env
}

func (c *client) read(timeout time.Duration) (envelope, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		env, err := c.readOne()
		if err != nil || c.presence || env.Action != "USER_STATUS_CHANGED" {
			return env, err
		}
	}
}

func (c *client) readOne() (envelope, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return envelope{}, err
	}
	var wire struct {
		envelope
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(line), &wire); err != nil {
		return envelope{}, fmt.Errorf("bad envelope %q: %w", line, err)
	}
	env := wire.envelope
	if len(wire.Data) > 0 && wire.Data[0] == '{' { // a compressed envelope's data is a string
		if err := json.Unmarshal(wire.Data, &env.Data); err != nil {
			return envelope{}, fmt.Errorf("bad envelope data %q: %w", line, err)
		}
	}
	env.raw = strings.TrimSpace(line)
	return env, nil
}

// expect reads the next envelope and checks its action (and seq_id when
// seq is not empty).
func (c *client) expect(action, seq string) envelope {
	c.t.Helper()
	env := c.next()
	if env.Action != action || (seq != "" && env.SeqID != seq) {
		c.t.Fatalf("%s: got %s, want action %s seq_id %q", c.name, env.raw, action, seq)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", env.Timestamp); err != nil {
		c.t.Errorf("%s: %s timestamp %q is not ISO-8601 UTC with milliseconds", c.name, action, env.Timestamp)
	}
	return env
}

// expectError reads an ERROR and checks its code and the echoed request.
func (c *client) expectError(code, seq, action string) envelope {
	c.t.Helper()
	env := c.expect("ERROR", seq)
	if got := env.Data["error_code"]; got != code {
		c.t.Fatalf("%s: ERROR error_code = %v, want %s (%s)", c.name, got, code, env.raw)
	}
	if got := env.Data["original_seq_id"]; got != seq {
		c.t.Errorf("%s: ERROR original_seq_id = %v, want %q", c.name, got, seq)
	}
	if got := env.Data["original_action"]; got != action {
		c.t.Errorf("%s: ERROR original_action = %v, want %q", c.name, got, action)
	}
	return env
}

// expectSilence checks that nothing arrives for a short while.
func (c *client) expectSilence(d time.Duration) {
	c.t.Helper()
	if env, err := c.read(d); err == nil {
		c.t.Fatalf("%s: got %s, want nothing", c.name, env.raw)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		c.t.Fatalf("%s: read: %v, want a timeout", c.name, err)
	}
}

// expectClosed checks that the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	for i := 0; i < 100; i++ {
		env, err := c.read(5 * time.Second)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("%s: connection still open", c.name)
			}
			return
		}
		c.t.Logf("%s: before close: %s", c.name, env.raw)
	}
	c.t.Fatalf("%s: connection not closed", c.name)
}

// connect authenticates with token and returns CONNECT_SUCCESS.
func (c *client) connect(token string) envelope {
	c.t.Helper()
	seq := c.send("CONNECT", map[string]any{"jwt_token": token})
	return c.expect("CONNECT_SUCCESS", seq)
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

// dialQuiet dials addr once, for polling a server that is starting.
func dialQuiet(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 200*time.Millisecond)
}
