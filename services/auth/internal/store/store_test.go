package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", path, err)
	}
	return s
}

func TestUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	s := open(t, path)
	if _, err := s.GetUser(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser(1) on empty store error = %v, want ErrNotFound", err)
	}
	for _, u := range []*authv1.User{
		{UserId: 1, Nickname: "ann"},
		{UserId: 1 << 40, Nickname: "big"},
		{UserId: 1, Nickname: "anne"}, // replaces
	} {
		if err := s.PutUser(u); err != nil {
			t.Fatalf("PutUser(%v) error = %v", u, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	defer s.Close()
	for _, want := range []*authv1.User{{UserId: 1, Nickname: "anne"}, {UserId: 1 << 40, Nickname: "big"}} {
		got, err := s.GetUser(want.UserId)
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("GetUser(%d) after reopen = %v, %v; want %v", want.UserId, got, err, want)
		}
	}
	if _, err := s.GetUser(2); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetUser(2) error = %v, want ErrNotFound", err)
	}
}

func TestRevocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	now := time.Unix(1_800_000_000, 0)
	s := open(t, path)
	revs := []struct {
		jti string
		exp time.Time
	}{
		{"a", now.Add(time.Hour)},
		{"b", now.Add(-time.Hour)},
		{"c", time.Time{}}, // forever
		{"d", now.Add(time.Minute)},
		{"d", now.Add(-time.Minute)}, // an earlier expiry does not shorten d
	}
	for _, r := range revs {
		if err := s.Revoke(r.jti, r.exp); err != nil {
			t.Fatalf("Revoke(%q, %v) error = %v", r.jti, r.exp, err)
		}
	}
	check := func(when string, s *Store, at time.Time, want map[string]bool) {
		t.Helper()
		for jti, w := range want {
			if got := s.IsRevoked(jti, at); got != w {
				t.Errorf("%s: IsRevoked(%q, %v) = %v, want %v", when, jti, at, got, w)
			}
		}
	}
	check("before reopen", s, now, map[string]bool{"a": true, "b": false, "c": true, "d": true, "e": false})
	check("at a's expiry", s, now.Add(time.Hour), map[string]bool{"a": true})
	check("after a's expiry", s, now.Add(time.Hour+time.Second), map[string]bool{"a": false, "c": true})

	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	check("after reopen", s, now, map[string]bool{"a": true, "b": false, "c": true, "d": true, "e": false})

	n, err := s.PurgeExpired(now)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpired(now) = %d, %v; want 1 (b), nil", n, err)
	}
	n, err = s.PurgeExpired(now.Add(2 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PurgeExpired(now+2h) = %d, %v; want 2 (a, d), nil", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	defer s.Close()
	check("after purge and reopen", s, now, map[string]bool{"a": false, "b": false, "c": true, "d": false})
	if n, err := s.PurgeExpired(now.Add(100 * 365 * 24 * time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeExpired(in a century) = %d, %v; want 0 (c is forever), nil", n, err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	s := open(t, path)
	defer s.Close()
	// One process per file: a second Open times out instead of sharing it.
	if s2, err := Open(path); err == nil {
		s2.Close()
		t.Fatalf("second Open(%s) error = nil, want a lock timeout", path)
	}
}
