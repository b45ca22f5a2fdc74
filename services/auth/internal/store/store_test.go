package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
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
	if want := (Purged{Tokens: 1, Log: 1}); err != nil || n != want {
		t.Fatalf("PurgeExpired(now) = %+v, %v; want %+v (b), nil", n, err, want)
	}
	n, err = s.PurgeExpired(now.Add(2 * time.Hour))
	// d was logged once: its second revocation changed nothing.
	if want := (Purged{Tokens: 2, Log: 2}); err != nil || n != want {
		t.Fatalf("PurgeExpired(now+2h) = %+v, %v; want %+v (a, d), nil", n, err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	defer s.Close()
	check("after purge and reopen", s, now, map[string]bool{"a": false, "b": false, "c": true, "d": false})
	if n, err := s.PurgeExpired(now.Add(100 * 365 * 24 * time.Hour)); err != nil || n != (Purged{}) {
		t.Errorf("PurgeExpired(in a century) = %+v, %v; want nothing (c is forever), nil", n, err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	s := open(t, path)
	defer s.Close()
	// One process per file: a second Open times out instead of sharing it.
	if s2, err := Open(path, Options{}); err == nil {
		s2.Close()
		t.Fatalf("second Open(%s) error = nil, want a lock timeout", path)
	}
}

func TestUserRevocations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	t0 := time.Unix(1_800_000_000, 500_000_000)
	const ttl = 337 * time.Hour
	s := open(t, path)
	r, err := s.RevokeUser(7, t0, ttl)
	if err != nil {
		t.Fatalf("RevokeUser(7, t0) error = %v", err)
	}
	if r.GetUserId() != 7 || !r.GetIssuedBefore().AsTime().Equal(t0) || !r.GetExpiresAt().AsTime().Equal(t0.Add(ttl)) || r.GetSeq() != 1 {
		t.Errorf("RevokeUser(7, t0) = %v; want seq 1 user 7 issued_before t0 expires_at t0+ttl", r)
	}
	type check struct {
		user    int64
		iat, at time.Time
		want    bool
	}
	checks := func(when string, s *Store, cs []check) {
		t.Helper()
		for _, c := range cs {
			if got := s.IsUserRevoked(c.user, c.iat, c.at); got != c.want {
				t.Errorf("%s: IsUserRevoked(%d, iat %v, at %v) = %v, want %v", when, c.user, c.iat, c.at, got, c.want)
			}
		}
	}
	before := []check{
		{7, t0.Add(-time.Hour), t0, true},
		{7, t0.Add(-time.Second), t0, true}, // same second, earlier
		{7, time.Time{}, t0, true},          // no iat
		{7, t0, t0, false},
		{7, t0.Add(time.Second), t0.Add(time.Hour), false},
		{8, t0.Add(-time.Hour), t0, false},
		{7, t0.Add(-time.Hour), t0.Add(ttl), true},                // last second of the ttl
		{7, t0.Add(-time.Hour), t0.Add(ttl + time.Second), false}, // ttl over
		{7, time.Time{}, t0.Add(ttl + 2*time.Second), false},
	}
	checks("first revocation", s, before)

	// Revoking again moves issued_before (and the expiry) forward, never back.
	t1 := t0.Add(time.Hour)
	if _, err := s.RevokeUser(7, t1, ttl); err != nil {
		t.Fatalf("RevokeUser(7, t0+1h) error = %v", err)
	}
	r, err = s.RevokeUser(7, t0, ttl) // a clock that stepped back
	if err != nil || !r.GetIssuedBefore().AsTime().Equal(t1) || r.GetSeq() != 3 {
		t.Fatalf("RevokeUser(7, t0) after t0+1h = %v, %v; want seq 3 issued_before t0+1h", r, err)
	}
	after := []check{
		{7, t0.Add(time.Second), t1, true},
		{7, t1, t1, false},
		{7, t0.Add(-time.Hour), t1.Add(ttl), true},
		{7, t0.Add(-time.Hour), t1.Add(ttl + time.Second), false},
	}
	checks("second revocation", s, after)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	defer s.Close()
	checks("after reopen", s, after)

	// The first log entry expired an hour before the user revocation.
	if n, err := s.PurgeExpired(t1.Add(ttl)); err != nil || n != (Purged{Log: 1}) {
		t.Errorf("PurgeExpired(t1+ttl) = %+v, %v; want the first log entry only", n, err)
	}
	if n, err := s.PurgeExpired(t1.Add(ttl + time.Second)); err != nil || n != (Purged{Users: 1, Log: 2}) {
		t.Errorf("PurgeExpired(t1+ttl+1s) = %+v, %v; want 1 user, 2 log entries", n, err)
	}
	checks("after purge", s, []check{{7, t0.Add(-time.Hour), t1, false}})
}

func TestRevocationLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	now := time.Unix(1_800_000_000, 0)
	var published []uint64
	s, err := Open(path, Options{Publish: func(r *authv1.Revocation) { published = append(published, r.GetSeq()) }})
	if err != nil {
		t.Fatalf("Open(%s) error = %v", path, err)
	}
	ctx := context.Background()
	after := func(when string, s *Store, from uint64, limit int, wantSeqs []uint64, wantHead, wantOldest uint64) []*authv1.Revocation {
		t.Helper()
		revs, head, oldest, err := s.EventsAfter(ctx, from, limit)
		var seqs []uint64
		for _, r := range revs {
			seqs = append(seqs, r.GetSeq())
		}
		if err != nil || !slices.Equal(seqs, wantSeqs) || head != wantHead || oldest != wantOldest {
			t.Errorf("%s: EventsAfter(%d, %d) = seqs %v head %d oldest %d, %v; want %v %d %d",
				when, from, limit, seqs, head, oldest, err, wantSeqs, wantHead, wantOldest)
		}
		return revs
	}
	after("empty", s, 0, 10, nil, 0, 1)

	steps := []func() error{
		func() error { return s.Revoke("a", now.Add(-time.Hour)) },               // 1, expired
		func() error { return s.Revoke("b", time.Time{}) },                       // 2, forever
		func() error { _, err := s.RevokeUser(5, now, time.Minute); return err }, // 3
		func() error { return s.Revoke("b", time.Time{}) },                       // no change, not logged
		func() error { return s.Revoke("c", now.Add(-time.Minute)) },             // 4, expired
		func() error { return s.Revoke("d", now.Add(time.Hour)) },                // 5
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d error = %v", i, err)
		}
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(published, want) {
		t.Errorf("published seqs = %v, want %v", published, want)
	}
	revs := after("full", s, 0, 10, []uint64{1, 2, 3, 4, 5}, 5, 1)
	want := []*authv1.Revocation{
		{Seq: 1, Target: &authv1.Revocation_TokenId{TokenId: "a"}, ExpiresAt: timestamppb.New(now.Add(-time.Hour))},
		{Seq: 2, Target: &authv1.Revocation_TokenId{TokenId: "b"}},
		{Seq: 3, Target: &authv1.Revocation_UserId{UserId: 5}, IssuedBefore: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(time.Minute))},
		{Seq: 4, Target: &authv1.Revocation_TokenId{TokenId: "c"}, ExpiresAt: timestamppb.New(now.Add(-time.Minute))},
		{Seq: 5, Target: &authv1.Revocation_TokenId{TokenId: "d"}, ExpiresAt: timestamppb.New(now.Add(time.Hour))},
	}
	for i := range min(len(revs), len(want)) {
		if !proto.Equal(revs[i], want[i]) {
			t.Errorf("log entry %d = %v, want %v", i, revs[i], want[i])
		}
	}
	after("page", s, 1, 2, []uint64{2, 3}, 5, 1)
	after("at head", s, 5, 10, nil, 5, 1)
	after("beyond head", s, 1<<64-1, 10, nil, 5, 1)

	// The purge deletes the expired entries, leaving holes; the forever
	// entry stays.
	if n, err := s.PurgeExpired(now); err != nil || n != (Purged{Tokens: 2, Log: 2}) {
		t.Fatalf("PurgeExpired(now) = %+v, %v; want 2 tokens, 2 log entries (a, c)", n, err)
	}
	after("after purge", s, 0, 10, []uint64{2, 3, 5}, 5, 2)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	after("after reopen", s, 0, 10, []uint64{2, 3, 5}, 5, 2)

	// An empty log still reports its head, and seqs continue from it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if _, err := s.PurgeExpired(now.Add(2 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	after("without b", s, 0, 10, []uint64{2}, 5, 2)
	if err := s.Revoke("e", now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	after("after e", s, 0, 10, []uint64{2, 6}, 6, 2)
	if _, err := s.PurgeExpired(now.Add(4 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	after("only forever b", s, 2, 10, nil, 6, 2)
	if _, _, _, err := s.EventsAfter(canceled(), 0, 10); err == nil {
		t.Errorf("EventsAfter(cancelled ctx) error = nil, want the ctx's")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestEmptyLogKeepsHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	now := time.Unix(1_800_000_000, 0)
	s := open(t, path)
	for _, jti := range []string{"x", "y"} {
		if err := s.Revoke(jti, now); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PurgeExpired(now.Add(time.Hour)); err != nil || n.Log != 2 {
		t.Fatalf("PurgeExpired(now+1h) = %+v, %v; want 2 log entries", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	revs, head, oldest, err := s.EventsAfter(context.Background(), 0, 10)
	if err != nil || len(revs) != 0 || head != 2 || oldest != 3 {
		t.Fatalf("EventsAfter(0) of an emptied log = %v, head %d oldest %d, %v; want none, 2, 3", revs, head, oldest, err)
	}
	r, err := s.RevokeUser(1, now, time.Hour)
	if err != nil || r.GetSeq() != 3 {
		t.Errorf("RevokeUser after the log emptied = %v, %v; want seq 3", r, err)
	}
}

// TestConcurrentRevocationsPublishInOrder revokes from several goroutines:
// Publish sees every seq once, in order, while lookups go on.
func TestConcurrentRevocationsPublishInOrder(t *testing.T) {
	var published []uint64 // Publish is called with the write lock held
	s, err := Open(filepath.Join(t.TempDir(), "auth.db"), Options{Publish: func(r *authv1.Revocation) { published = append(published, r.GetSeq()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_800_000_000, 0)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				var err error
				if i%2 == 0 {
					err = s.Revoke(fmt.Sprintf("w%d-%d", w, i), now.Add(time.Hour))
				} else {
					_, err = s.RevokeUser(int64(w*100+i), now, time.Hour)
				}
				if err != nil {
					t.Errorf("writer %d revocation %d error = %v", w, i, err)
				}
				s.IsRevoked("w0-0", now)
				s.IsUserRevoked(1, now, now)
			}
		})
	}
	wg.Wait()
	if len(published) != writers*each {
		t.Fatalf("published %d revocations, want %d", len(published), writers*each)
	}
	for i, seq := range published {
		if seq != uint64(i+1) {
			t.Fatalf("published seq %d at position %d, want %d", seq, i, i+1)
		}
	}
}
