// Package store persists the auth service's user directory and token
// revocations in one bbolt file.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

// ErrNotFound reports that a user has no directory entry.
var ErrNotFound = errors.New("not found")

// Bucket names, declared once.
var (
	// bucketUsers maps a big-endian uint64 user id to a protobuf authv1.User.
	bucketUsers = []byte("users")
	// bucketRevoked maps a jti to the big-endian unix second at which its
	// revocation may be forgotten.
	bucketRevoked = []byte("revoked")
)

// Store is the bbolt file of the auth service. Revocations are mirrored in
// memory so that the check on every token costs a map lookup. It is safe for
// concurrent use.
type Store struct {
	db *bolt.DB

	mu      sync.RWMutex
	revoked map[string]int64 // jti → unix expiry
}

// Open opens (creating if needed) the bbolt file at path, creates its
// buckets and loads the revocations.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, revoked: make(map[string]int64)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsers, bucketRevoked} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketRevoked).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("revocation %q: value of %d bytes", k, len(v))
			}
			s.revoked[string(k)] = int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error {
	return s.db.Close()
}

func userKey(id int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(id))
}

// PutUser creates or replaces u's directory entry.
func (s *Store) PutUser(u *authv1.User) error {
	v, err := proto.Marshal(u)
	if err != nil {
		return fmt.Errorf("put user %d: %w", u.GetUserId(), err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).Put(userKey(u.GetUserId()), v)
	})
	if err != nil {
		return fmt.Errorf("put user %d: %w", u.GetUserId(), err)
	}
	return nil
}

// GetUser returns the directory entry of user id, or ErrNotFound.
func (s *Store) GetUser(id int64) (*authv1.User, error) {
	u := &authv1.User{}
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUsers).Get(userKey(id))
		if v == nil {
			return ErrNotFound
		}
		// Unmarshal copies out of the transaction's memory.
		return proto.Unmarshal(v, u)
	})
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// Revoke refuses jti until expiresAt; a zero expiresAt never forgets it.
// Revoking a jti again keeps the later expiry.
func (s *Store) Revoke(jti string, expiresAt time.Time) error {
	exp := int64(math.MaxInt64)
	if !expiresAt.IsZero() {
		exp = expiresAt.Unix()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.revoked[jti]; ok && old >= exp {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRevoked).Put([]byte(jti), binary.BigEndian.AppendUint64(nil, uint64(exp)))
	})
	if err != nil {
		return fmt.Errorf("revoke %q: %w", jti, err)
	}
	s.revoked[jti] = exp
	return nil
}

// IsRevoked reports whether jti is revoked at now: revoked and its
// revocation's expiry not yet passed.
func (s *Store) IsRevoked(jti string, now time.Time) bool {
	s.mu.RLock()
	exp, ok := s.revoked[jti]
	s.mu.RUnlock()
	return ok && now.Unix() <= exp
}

// PurgeExpired forgets the revocations whose expiry is before now and
// returns how many it forgot.
func (s *Store) PurgeExpired(now time.Time) (int, error) {
	cutoff := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	var expired []string
	for jti, exp := range s.revoked {
		if exp < cutoff {
			expired = append(expired, jti)
		}
	}
	if len(expired) == 0 {
		return 0, nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRevoked)
		for _, jti := range expired {
			if err := b.Delete([]byte(jti)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge revocations: %w", err)
	}
	for _, jti := range expired {
		delete(s.revoked, jti)
	}
	return len(expired), nil
}
