package store

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

func TestAPIKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	t0 := time.Unix(1_800_000_000, 0)
	var published []*authv1.Revocation
	s, err := Open(path, Options{Publish: func(r *authv1.Revocation) { published = append(published, r) }})
	if err != nil {
		t.Fatalf("Open(%s) error = %v", path, err)
	}
	// Created in this order, with clocks out of order: the list keeps
	// creation order.
	keys := []*authv1.APIKey{
		{Id: "key_b", Env: "TEST01", Name: "ci", CreatedAt: timestamppb.New(t0)},
		{Id: "key_a", Env: "LIVE", CreatedAt: timestamppb.New(t0.Add(-time.Hour))},
		{Id: "key_c", Env: "TEST01", Name: "other", CreatedAt: timestamppb.New(t0.Add(time.Hour))},
	}
	hashes := []([sha256.Size]byte){sha256.Sum256([]byte("b")), sha256.Sum256([]byte("a")), sha256.Sum256([]byte("c"))}
	for i, k := range keys {
		if err := s.CreateAPIKey(k, hashes[i]); err != nil {
			t.Fatalf("CreateAPIKey(%v) error = %v", k, err)
		}
	}
	for _, tt := range []struct {
		name string
		k    *authv1.APIKey
		hash [sha256.Size]byte
	}{
		{"taken id", &authv1.APIKey{Id: "key_a", Env: "X"}, sha256.Sum256([]byte("new"))},
		{"taken hash", &authv1.APIKey{Id: "key_new", Env: "X"}, hashes[2]},
	} {
		if err := s.CreateAPIKey(tt.k, tt.hash); !errors.Is(err, ErrAPIKeyExists) {
			t.Errorf("CreateAPIKey(%s) error = %v, want ErrAPIKeyExists", tt.name, err)
		}
	}

	r, err := s.RevokeAPIKey("key_a", t0)
	want := &authv1.Revocation{Seq: 1, Target: &authv1.Revocation_ApiKeyId{ApiKeyId: "key_a"}}
	if err != nil || !proto.Equal(r, want) {
		t.Fatalf("RevokeAPIKey(key_a) = %v, %v; want %v", r, err, want)
	}
	// Idempotent: no second log entry, revoked_at stays the first.
	if r, err := s.RevokeAPIKey("key_a", t0.Add(time.Minute)); err != nil || r != nil {
		t.Errorf("second RevokeAPIKey(key_a) = %v, %v; want nil, nil", r, err)
	}
	if r, err := s.RevokeAPIKey("key_zzz", t0); !errors.Is(err, ErrAPIKeyNotFound) {
		t.Errorf("RevokeAPIKey(key_zzz) = %v, %v; want ErrAPIKeyNotFound", r, err)
	}
	if len(published) != 1 || !proto.Equal(published[0], want) {
		t.Errorf("published %v, want %v only", published, want)
	}
	keys[1].RevokedAt = timestamppb.New(t0)

	check := func(when string, s *Store) {
		t.Helper()
		got, err := s.ListAPIKeys()
		if err != nil || len(got) != len(keys) {
			t.Fatalf("%s: ListAPIKeys() = %v, %v; want %v", when, got, err, keys)
		}
		for i := range keys {
			if !proto.Equal(got[i], keys[i]) {
				t.Errorf("%s: ListAPIKeys()[%d] = %v, want %v", when, i, got[i], keys[i])
			}
		}
		for i, h := range hashes {
			if got, err := s.APIKeyByHash(h); err != nil || !proto.Equal(got, keys[i]) {
				t.Errorf("%s: APIKeyByHash(hash of %s) = %v, %v; want %v", when, keys[i].GetId(), got, err, keys[i])
			}
		}
		if got, err := s.APIKeyByHash(sha256.Sum256([]byte("unknown"))); !errors.Is(err, ErrAPIKeyNotFound) {
			t.Errorf("%s: APIKeyByHash(unknown) = %v, %v; want ErrAPIKeyNotFound", when, got, err)
		}
	}
	check("before reopen", s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error = %v", err)
	}
	s = open(t, path)
	defer s.Close()
	check("after reopen", s)

	// The log entry has no expiry: no purge forgets it.
	if n, err := s.PurgeExpired(t0.Add(100 * 365 * 24 * time.Hour)); err != nil || n != (Purged{}) {
		t.Errorf("PurgeExpired(in a century) = %+v, %v; want nothing, nil", n, err)
	}
	revs, head, oldest, err := s.EventsAfter(t.Context(), 0, 10)
	if err != nil || head != 1 || oldest != 1 || len(revs) != 1 || !proto.Equal(revs[0], want) {
		t.Errorf("EventsAfter(0) = %v, head %d, oldest %d, %v; want %v, 1, 1", revs, head, oldest, err, want)
	}
	// Seqs continue after the API key's revocation.
	if r, err := s.RevokeUser(9, t0, time.Hour); err != nil || r.GetSeq() != 2 {
		t.Errorf("RevokeUser(9) after an API key revocation = %v, %v; want seq 2", r, err)
	}
}
