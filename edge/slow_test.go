package edge_test

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/edge"
)

// stuckDialer dials with a tiny receive buffer, so that a client that never
// reads fills the edge's socket quickly.
var stuckDialer = &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	if err != nil {
		return err
	}
	return serr
}}

// connectStuck connects user id with a tiny receive buffer and joins room.
func (h *harness) connectStuck(id, room int64) *client {
	h.t.Helper()
	c := dialWith(h.t, h.addr, stuckDialer)
	c.send("CONNECT", "c", map[string]any{"jwt_token": fmt.Sprintf("tok-%d", id)})
	c.expect("CONNECT_SUCCESS", "c")
	c.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": room})
	c.expect("JOIN_ROOM_SUCCESS", "j")
	return c
}

func postEvent(room int64, content string) *chatv1.Event {
	return &chatv1.Event{RoomId: room, Payload: &chatv1.Event_MessagePosted{MessagePosted: &chatv1.MessagePosted{
		Message: &chatv1.Message{Id: 1, RoomId: room, UserId: 99, Nickname: "bot", Content: content,
			MessageType: chatv1.MessageType_MESSAGE_TYPE_TEXT},
	}}}
}

func TestSlowConsumer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		messages int
		bytes    int
	}{
		{"message limit", 16, 1 << 30},
		{"byte limit", 1 << 20, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *edge.Config) {
				c.OutboundQueueMessages, c.OutboundQueueBytes = tc.messages, tc.bytes
			})
			h.chat.addRoom(1, false, 0)
			stuck := h.connectStuck(1, 1)
			reader := h.connect(2)
			reader.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 1})
			reader.expect("JOIN_ROOM_SUCCESS", "j")
			stuck.expect("USER_JOINED", "s-")

			// The healthy client reads everything; the publisher waits for it
			// after every burst of 4 events, so that only the stuck client's
			// queue can grow.
			received := make(chan int, 1)
			failed := make(chan error, 1)
			go func() {
				for n := 1; ; n++ {
					e, err := reader.read()
					if err != nil {
						failed <- fmt.Errorf("healthy reader after %d messages: %v", n-1, err)
						return
					}
					if e.Action == "NEW_MESSAGE" {
						received <- n
					}
					if e.str("content") == "marker" {
						return
					}
				}
			}()
			waitReceived := func(want int) {
				t.Helper()
				timeout := time.After(10 * time.Second)
				for {
					select {
					case n := <-received:
						if n >= want {
							return
						}
					case err := <-failed:
						t.Fatal(err)
					case <-timeout:
						t.Fatalf("the healthy client did not receive %d messages within 10s: delivery stalled", want)
					}
				}
			}
			pad := strings.Repeat("x", 8<<10)
			sent := 0
			for i := 0; i < 1000 && !h.logs.contains("slow consumer"); i++ {
				for range 4 {
					h.chat.publish(postEvent(1, pad))
					sent++
				}
				waitReceived(sent)
			}
			if !h.logs.contains("slow consumer") {
				t.Fatalf("no slow consumer closed after %d events with a client that never reads", sent)
			}
			h.chat.publish(postEvent(1, "marker"))
			waitReceived(sent + 1)
			stuck.expectClosed()
		})
	}
}

func TestWriteTimeout(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) {
		c.WriteTimeout = 200 * time.Millisecond
		c.OutboundQueueMessages, c.OutboundQueueBytes = 1<<20, 1<<30
	})
	h.chat.addRoom(1, false, 0)
	stuck := h.connectStuck(1, 1)
	pad := strings.Repeat("x", 16<<10)
	for i := 0; i < 2000 && !h.logs.contains(`"timeout":true`); i++ {
		h.chat.publish(postEvent(1, pad))
		time.Sleep(2 * time.Millisecond)
	}
	if !h.logs.contains(`"timeout":true`) {
		t.Fatalf("no write timeout logged after 2000 events with a client that never reads")
	}
	if h.logs.contains("slow consumer") {
		t.Errorf("session closed as a slow consumer, want closed by the write timeout")
	}
	stuck.expectClosed()
}

// blockingIO makes newHarness serve connections with a goroutine and
// blocking I/O each (Config.BlockingIO), for TestBlockingIO.
var blockingIO bool

// TestBlockingIO runs the tests of a connection's life with a goroutine
// and blocking I/O per connection, the path of TLS connections and of
// systems without epoll; the other tests run on epoll.
func TestBlockingIO(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"Connect", TestConnect},
		{"FrameLimit", TestFrameLimit},
		{"RoomFanout", TestRoomFanout},
		{"ClientBatch", TestClientBatch},
		{"AuthTimeout", TestAuthTimeout},
		{"IdleTimeout", TestIdleTimeout},
		{"SlowConsumer", TestSlowConsumer},
		{"WriteTimeout", TestWriteTimeout},
		{"Revocation", TestRevocation},
		{"GracefulShutdown", TestGracefulShutdown},
		{"ConnectionsPerIP", TestConnectionsPerIP},
		{"UnauthenticatedConnections", TestUnauthenticatedConnections},
		{"ConnectLineLimit", TestConnectLineLimit},
		{"HostileInput", TestHostileInput},
		{"PingFloodNotReading", TestPingFloodNotReading},
		{"SilentConnections", TestSilentConnections},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blockingIO = true
			defer func() { blockingIO = false }()
			tc.test(t)
		})
	}
}
