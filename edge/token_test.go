package edge_test

import (
	"bufio"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
	"switchboard.dev/edge"
)

// connectToken dials addr and authenticates with tok as user wantUser,
// returning the client and its session id.
func connectToken(t testing.TB, addr, tok string, wantUser int64) (*client, string) {
	t.Helper()
	c := dialWith(t, addr, nil)
	c.send("CONNECT", "c", map[string]any{"jwt_token": tok})
	e := c.expect("CONNECT_SUCCESS", "c")
	if e.num("user_id") != wantUser {
		t.Fatalf("CONNECT %q: user_id = %v, want %d", tok, e.Data["user_id"], wantUser)
	}
	return c, e.str("session_id")
}

// skipLines reads n envelopes, each starting with prefix, without decoding
// them.
func (c *client) skipLines(n int, prefix string) {
	c.t.Helper()
	for i := range n {
		c.conn.SetReadDeadline(time.Now().Add(readTimeout))
		line, err := c.r.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			_, err = c.r.ReadSlice('\n')
		}
		if err != nil {
			c.t.Fatalf("reading envelope %d of %d: %v", i+1, n, err)
		}
		if !strings.HasPrefix(string(line[:min(len(line), len(prefix))]), prefix) {
			c.t.Fatalf("envelope %d of %d is %.100s, want one starting with %s", i+1, n, line, prefix)
		}
	}
}

// expectRevoked checks that the edge sends ERROR TOKEN_REVOKED, answering
// no request, then closes the connection.
func (c *client) expectRevoked() {
	c.t.Helper()
	e := c.expect("ERROR", "s-")
	if e.str("error_code") != "TOKEN_REVOKED" || e.str("original_seq_id") != "" || e.str("original_action") != "" {
		c.t.Fatalf("got %s, want ERROR TOKEN_REVOKED with empty original_seq_id and original_action", e.raw)
	}
	c.expectClosed()
}

func TestRefreshToken(t *testing.T) {
	h := newHarness(t, nil)
	t.Run("extends the expiry", func(t *testing.T) {
		t.Parallel()
		c, _ := connectToken(t, h.addr, "short-1", 1) // expires in 500 ms
		c.send("REFRESH_TOKEN", "r1", map[string]any{"jwt_token": "tok-1"})
		e := c.expect("REFRESH_TOKEN_SUCCESS", "r1")
		exp, err := time.Parse("2006-01-02T15:04:05.000Z", e.str("expires_at"))
		if err != nil || time.Until(exp) < 30*time.Minute {
			t.Fatalf("REFRESH_TOKEN tok-1: got %s, want expires_at about an hour from now", e.raw)
		}
		time.Sleep(700 * time.Millisecond) // past the old token's expiry
		c.ping("after-old-expiry")
	})
	// A refused refresh leaves the old token in force: it still expires
	// at its own time.
	for _, tc := range []struct{ name, token string }{
		{"another user's token", "tok-3"},
		{"invalid token", "garbage"},
		{"expired token", "expired"},
		{"revoked token", "revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := connectToken(t, h.addr, "short-2", 2)
			c.send("REFRESH_TOKEN", "r1", map[string]any{"jwt_token": tc.token})
			c.expectError("INVALID_TOKEN", "r1", "REFRESH_TOKEN")
			c.ping("still-open")
			if e := c.expect("ERROR", "s-"); e.str("error_code") != "TOKEN_EXPIRED" {
				t.Fatalf("after REFRESH_TOKEN %q was refused: got %s, want the old token to expire (ERROR TOKEN_EXPIRED)", tc.token, e.raw)
			}
			c.expectClosed()
		})
	}
	t.Run("no token", func(t *testing.T) {
		t.Parallel()
		c, _ := connectToken(t, h.addr, "tok-4", 4)
		c.send("REFRESH_TOKEN", "r1", map[string]any{})
		c.expectError("INVALID_DATA", "r1", "REFRESH_TOKEN")
		c.ping("still-open")
	})
	t.Run("before CONNECT", func(t *testing.T) {
		t.Parallel()
		c := dialWith(t, h.addr, nil)
		c.send("REFRESH_TOKEN", "r1", map[string]any{"jwt_token": "tok-5"})
		c.expectError("NOT_AUTHENTICATED", "r1", "REFRESH_TOKEN")
	})
}

func TestRefreshTokenAuthDown(t *testing.T) {
	h := newHarness(t, nil)
	c, _ := connectToken(t, h.addr, "tok-1", 1)
	h.authSrv.Stop()
	c.send("REFRESH_TOKEN", "r1", map[string]any{"jwt_token": "tok-1.new"})
	c.expectError("SERVICE_UNAVAILABLE", "r1", "REFRESH_TOKEN")
	c.ping("still-open")
}

// TestRefreshTokenRevocation checks that a session is judged by the token
// it holds: after a refresh by the new jti, after a refused refresh by the
// old one.
func TestRefreshTokenRevocation(t *testing.T) {
	h := newHarness(t, nil)
	refreshed, _ := connectToken(t, h.addr, "tok-7", 7)
	other, _ := connectToken(t, h.addr, "tok-7", 7) // the same token on another connection
	refused, _ := connectToken(t, h.addr, "tok-8", 8)

	refreshed.send("REFRESH_TOKEN", "r1", map[string]any{"jwt_token": "tok-7.b"})
	refreshed.expect("REFRESH_TOKEN_SUCCESS", "r1")
	refused.send("REFRESH_TOKEN", "r2", map[string]any{"jwt_token": "garbage"})
	refused.expectError("INVALID_TOKEN", "r2", "REFRESH_TOKEN")

	h.auth.revokeToken("tok-7")
	other.expectRevoked()
	refreshed.ping("survives-old-jti") // the revocation was applied: other is gone
	h.auth.revokeToken("tok-7.b")
	refreshed.expectRevoked()
	h.auth.revokeToken("tok-8")
	refused.expectRevoked()
}

func TestRevocation(t *testing.T) {
	h := newHarness(t, nil)
	base := time.Now().Add(-time.Hour)
	for tok, iat := range map[string]time.Time{"old": base.Add(-time.Hour), "new": base.Add(time.Minute), "noiat": {}} {
		id := &authv1.VerifyTokenResponse{UserId: 2, Nickname: "nick2", TokenId: "jti-" + tok,
			ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))}
		if !iat.IsZero() {
			id.IssuedAt = timestamppb.New(iat)
		}
		h.auth.add(tok, id)
	}
	a1, _ := connectToken(t, h.addr, "tok-1", 1)
	a1bis, _ := connectToken(t, h.addr, "tok-1", 1)
	a2, _ := connectToken(t, h.addr, "tok-1.x", 1)
	old, _ := connectToken(t, h.addr, "old", 2)
	noiat, _ := connectToken(t, h.addr, "noiat", 2)
	fresh, _ := connectToken(t, h.addr, "new", 2)
	bystander, _ := connectToken(t, h.addr, "tok-3", 3)

	// By jti: every session holding that token, and no other.
	h.auth.revokeToken("tok-1")
	a1.expectRevoked()
	a1bis.expectRevoked()
	// By user: that user's sessions whose token was issued before, or has
	// no iat.
	h.auth.revokeUser(2, base)
	old.expectRevoked()
	noiat.expectRevoked()
	for name, c := range map[string]*client{"other jti of user 1": a2, "token issued after": fresh, "other user": bystander} {
		c.t = t
		c.send("PING", "alive", map[string]any{})
		if e, err := c.read(); err != nil || e.Action != "PONG" {
			t.Errorf("%s: PING after the revocations got %s (err %v), want PONG", name, e.raw, err)
		}
	}
	if !h.logs.contains("sessions ended: token revoked") {
		t.Errorf("no log record of the revocations")
	}
	if h.logs.contains(`"jwt_token"`) || h.logs.contains("tok-1.x") {
		t.Errorf("the edge logged a token")
	}
}

func TestRevocationStreamResume(t *testing.T) {
	h := newHarness(t, nil)
	x, _ := connectToken(t, h.addr, "tok-4", 4)
	y, _ := connectToken(t, h.addr, "tok-5", 5)
	h.auth.revokeToken("tok-4")
	x.expectRevoked()
	seen := h.auth.revocations.head()

	h.auth.revocations.breakStreams()
	h.waitFor("the revocation stream to break", func() bool { _, open := h.auth.revocations.subscriptions(); return open == 0 })
	h.auth.revokeToken("tok-5") // committed while the edge has no stream
	y.expectRevoked()
	afters, _ := h.auth.revocations.subscriptions()
	if len(afters) < 2 || afters[0] != "unset" || afters[len(afters)-1] != "1" || seen != 1 {
		t.Errorf("WatchRevocations after_seq values = %v (head before the break %d), want [unset ... 1]", afters, seen)
	}
	if slices.Contains(afters[1:], "unset") {
		t.Errorf("WatchRevocations after_seq values = %v: a resubscription started at the head", afters)
	}
}

// TestRevokedSessionServesNothing checks that a revoked session serves no
// request while its last envelopes are still being written: its client
// does not read, so the edge's writes to it are blocked.
func TestRevokedSessionServesNothing(t *testing.T) {
	h := newHarness(t, func(c *edge.Config) {
		c.WriteTimeout = 3 * time.Second
		c.OutboundQueueMessages, c.OutboundQueueBytes = 1<<20, 1<<30
	})
	h.chat.addRoom(1, false, 0)
	stuck := h.connectStuck(1, 1) // token tok-1
	reader := h.connect(2)
	reader.send("JOIN_ROOM", "j", map[string]any{"chatroom_id": 1})
	reader.expect("JOIN_ROOM_SUCCESS", "j")
	// 8 MiB for the stuck client, more than the socket buffers hold: the
	// reader receiving each burst tells that the edge has queued it.
	pad := strings.Repeat("x", 16<<10)
	for range 64 {
		for range 8 {
			h.chat.publish(postEvent(1, pad))
		}
		reader.skipLines(8, `{"action":"NEW_MESSAGE"`)
	}
	h.auth.revokeToken("tok-1")
	h.waitFor("the revocation to be applied", func() bool { return h.logs.contains("sessions ended: token revoked") })
	stuck.send("SEND_MESSAGE", "late", map[string]any{"chatroom_id": 1, "content": "after revocation"})
	// The request loop ends on the first request after the revocation: the
	// session is reported closed then, not at the write timeout.
	h.waitFor("the session to be reported closed", func() bool {
		reports, _ := h.presence.state()
		return slices.ContainsFunc(reports, func(r string) bool { return strings.HasPrefix(r, "close ") })
	})
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	for _, m := range h.chat.rooms[1].messages {
		if m.GetContent() == "after revocation" {
			t.Errorf("SEND_MESSAGE of a revoked session was served: message %d stored", m.GetId())
		}
	}
}
