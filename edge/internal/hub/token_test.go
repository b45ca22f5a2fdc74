package hub

import (
	"slices"
	"testing"
	"time"
)

// registerTokens registers sessions of users with tokens, all with mark 0.
func registerTokens(t *testing.T, h *Hub, regs map[string]Registration) (map[string]*Session, map[string]*recordConn) {
	t.Helper()
	sessions, conns := map[string]*Session{}, map[string]*recordConn{}
	for id, reg := range regs {
		conns[id] = &recordConn{}
		sessions[id] = h.NewSession(id, conns[id])
		if !h.Register(sessions[id], reg, nil) {
			t.Fatalf("Register(%s) = false, want true (no revocation yet)", id)
		}
	}
	return sessions, conns
}

// ended returns the ids of the sessions that are ending, sorted.
func ended(sessions map[string]*Session) []string {
	var ids []string
	for id, s := range sessions {
		if s.Ending() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func TestRevoke(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		rev  Revocation
		want []string
	}{
		{"by jti: every session of the token", Revocation{TokenID: "j1"}, []string{"a1", "a1bis"}},
		{"unknown jti", Revocation{TokenID: "nope"}, nil},
		{"by user, issued before", Revocation{UserID: 2, IssuedBefore: t0}, []string{"b-noiat", "b-old"}},
		{"by user, issued before all", Revocation{UserID: 2, IssuedBefore: t0.Add(time.Hour)}, []string{"b-new", "b-noiat", "b-old"}},
		{"by user without a bound", Revocation{UserID: 2}, []string{"b-new", "b-noiat", "b-old"}},
		{"unknown user", Revocation{UserID: 9, IssuedBefore: t0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(testLimits)
			sessions, conns := registerTokens(t, h, map[string]Registration{
				"a1":      {UserID: 1, Token: Token{ID: "j1", IssuedAt: t0}},
				"a1bis":   {UserID: 1, Token: Token{ID: "j1", IssuedAt: t0}},
				"a2":      {UserID: 1, Token: Token{ID: "j2", IssuedAt: t0}},
				"b-old":   {UserID: 2, Token: Token{ID: "k1", IssuedAt: t0.Add(-time.Minute)}},
				"b-new":   {UserID: 2, Token: Token{ID: "k2", IssuedAt: t0}},
				"b-noiat": {UserID: 2, Token: Token{ID: "k3"}},
				"c":       {UserID: 3, Token: Token{ID: "", IssuedAt: t0.Add(-time.Hour)}},
			})
			if n := h.Revoke(tc.rev, []byte("revoked\n")); n != len(tc.want) {
				t.Errorf("Revoke(%+v) = %d, want %d", tc.rev, n, len(tc.want))
			}
			if got := ended(sessions); !slices.Equal(got, tc.want) {
				t.Errorf("Revoke(%+v) ended %v, want %v", tc.rev, got, tc.want)
			}
			for _, id := range tc.want {
				waitDone(t, sessions[id])
				if got, closed := conns[id].state(); got != "revoked\n" || !closed {
					t.Errorf("revoked session %s got %q closed=%v, want the line then closed", id, got, closed)
				}
				if n := h.SendAll(&Broadcast{Line: []byte("x\n")}); n != len(sessions)-len(tc.want) {
					t.Errorf("SendAll after Revoke = %d sessions, want %d: revoked sessions left the indexes", n, len(sessions)-len(tc.want))
				}
				h.Unregister(sessions[id]) // the request loop's own cleanup: a no-op now
			}
			for _, s := range sessions {
				s.Close()
				h.Unregister(s)
			}
			if len(h.tokens) != 0 || len(h.users) != 0 {
				t.Errorf("indexes after unregistering all: %d tokens, %d users, want none", len(h.tokens), len(h.users))
			}
		})
	}
}

func TestSetToken(t *testing.T) {
	h := New(testLimits)
	sessions, _ := registerTokens(t, h, map[string]Registration{"a": {UserID: 1, Token: Token{ID: "old"}}})
	s := sessions["a"]
	if !h.SetToken(s, Token{ID: "new"}, h.RevocationMark()) {
		t.Fatal("SetToken(new) = false, want true")
	}
	if n := h.Revoke(Revocation{TokenID: "old"}, nil); n != 0 || s.Ending() {
		t.Errorf("Revoke(old jti) after a refresh ended %d sessions, want 0", n)
	}
	// A revocation applied while the new token was being verified.
	mark := h.RevocationMark()
	h.Revoke(Revocation{TokenID: "newer"}, nil)
	if h.SetToken(s, Token{ID: "newer"}, mark) {
		t.Errorf("SetToken(newer) revoked since the mark = true, want false")
	}
	if n := h.Revoke(Revocation{TokenID: "new"}, nil); n != 1 {
		t.Errorf("Revoke(new jti) = %d, want 1: a refused SetToken keeps the token in force", n)
	}
	waitDone(t, s)
	if h.SetToken(s, Token{ID: "again"}, h.RevocationMark()) {
		t.Errorf("SetToken on an unregistered session = true, want false")
	}
}

// TestRegisterRevokedSinceMark covers a revocation applied while a token
// was being verified, before its session could be found by a lookup.
func TestRegisterRevokedSinceMark(t *testing.T) {
	iat := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		revs    []Revocation
		refused bool
	}{
		{"none", nil, false},
		{"its jti", []Revocation{{TokenID: "x"}, {TokenID: "j"}}, true},
		{"another jti", []Revocation{{TokenID: "x"}}, false},
		{"its user before its iat", []Revocation{{UserID: 1, IssuedBefore: iat}}, false},
		{"its user after its iat", []Revocation{{UserID: 1, IssuedBefore: iat.Add(time.Second)}}, true},
		{"more than remembered", make([]Revocation, maxRecentRevocations+1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(testLimits)
			h.Revoke(Revocation{TokenID: "j"}, nil) // before the mark: already known to auth
			mark := h.RevocationMark()
			for _, r := range tc.revs {
				if r.TokenID == "" && r.UserID == 0 {
					r.TokenID = "filler"
				}
				h.Revoke(r, nil)
			}
			c := &recordConn{}
			s := h.NewSession("s", c)
			ok := h.Register(s, Registration{UserID: 1, Token: Token{ID: "j", IssuedAt: iat}, RevocationMark: mark}, []byte("hi\n"))
			if ok == tc.refused {
				t.Errorf("Register after revocations %v = %v, want %v", tc.revs, ok, !tc.refused)
			}
			if !ok && (h.Online(1) || len(h.tokens) != 0) {
				t.Errorf("a refused Register indexed the session")
			}
			s.CloseAfterFlush()
			waitDone(t, s)
			if got, _ := c.state(); (got == "hi\n") != ok {
				t.Errorf("Register = %v wrote %q: the first envelope must be queued only when registered", ok, got)
			}
		})
	}
}

func TestSendUsersAndAll(t *testing.T) {
	h := New(testLimits)
	sessions, conns := registerTokens(t, h, map[string]Registration{
		"a1": {UserID: 1}, "a2": {UserID: 1}, "b": {UserID: 2}, "c": {UserID: 3},
	})
	many := []int64{404}
	for range maxLinearDedup {
		many = append(many, 3) // long enough to dedup with a map
	}
	for _, tc := range []struct {
		ids  []int64
		want int
	}{
		{[]int64{1, 2, 1}, 3},
		{[]int64{404}, 0},
		{many, 1},
	} {
		if n := h.SendUsers(tc.ids, &Broadcast{Line: []byte("u\n")}); n != tc.want {
			t.Errorf("SendUsers(%v) = %d sessions, want %d", tc.ids, n, tc.want)
		}
	}
	if n := h.SendAll(&Broadcast{Line: []byte("all\n")}); n != 4 {
		t.Errorf("SendAll = %d sessions, want 4", n)
	}
	var listed []string
	h.EachSession(func(id string, userID int64) { listed = append(listed, id) })
	slices.Sort(listed)
	if want := []string{"a1", "a2", "b", "c"}; !slices.Equal(listed, want) || h.Count() != 4 {
		t.Errorf("EachSession listed %v, Count %d; want %v, 4", listed, h.Count(), want)
	}
	for _, s := range sessions {
		s.CloseAfterFlush()
		waitDone(t, s)
	}
	for id, want := range map[string]string{"a1": "u\nall\n", "a2": "u\nall\n", "b": "u\nall\n", "c": "u\nall\n"} {
		if got, _ := conns[id].state(); got != want {
			t.Errorf("session %s got %q, want %q", id, got, want)
		}
	}
}
