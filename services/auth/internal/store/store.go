// Package store persists the auth service's user directory, revocations
// and API keys in one bbolt file: token revocations by jti, user
// revocations by user id, API keys by their hash, and the log of every
// revocation that WatchRevocations streams replay.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

// Sentinel errors of the store.
var (
	// ErrNotFound reports that a user has no directory entry.
	ErrNotFound = errors.New("not found")
	// ErrAPIKeyNotFound reports that no API key has an id or a hash.
	ErrAPIKeyNotFound = errors.New("api key not found")
	// ErrAPIKeyExists refuses a new API key whose id or hash is taken.
	ErrAPIKeyExists = errors.New("api key exists")
)

// Bucket names, declared once.
var (
	// bucketUsers maps a big-endian uint64 user id to a protobuf authv1.User.
	bucketUsers = []byte("users")
	// bucketRevoked maps a jti to the big-endian unix second at which its
	// revocation may be forgotten.
	bucketRevoked = []byte("revoked")
	// bucketUsersRevoked maps a big-endian uint64 user id to its user
	// revocation: the big-endian unix nanosecond before which the user's
	// tokens are refused, then the big-endian unix second at which the
	// revocation may be forgotten.
	bucketUsersRevoked = []byte("users_revoked")
	// bucketLog maps a big-endian uint64 seq, from the bucket's sequence, to
	// a protobuf authv1.Revocation. The bucket's sequence outlives purged
	// entries, so seqs never restart.
	bucketLog = []byte("revocation_log")
	// bucketAPIKeys maps a big-endian uint64 seq, from the bucket's
	// sequence (creation order), to an API key: the SHA-256 of the whole
	// key, then a protobuf authv1.APIKey. The key itself is never stored.
	bucketAPIKeys = []byte("api_keys")
	// bucketAPIKeyIDs maps an API key's id to its big-endian seq.
	bucketAPIKeyIDs = []byte("api_key_ids")
	// bucketAPIKeyHashes maps the SHA-256 of an API key to its big-endian
	// seq.
	bucketAPIKeyHashes = []byte("api_key_hashes")
)

// Options configure a Store.
type Options struct {
	// Publish, when set, receives each revocation appended to the log, in
	// seq order, after its commit. It must not block and must not modify
	// the revocation.
	Publish func(*authv1.Revocation)
}

// userRevocation refuses a user's tokens issued before issuedBefore until
// the unix second expires.
type userRevocation struct {
	issuedBefore time.Time
	expires      int64
}

// Store is the bbolt file of the auth service. Revocations are mirrored in
// memory so that the checks on every token cost map lookups. It is safe for
// concurrent use.
type Store struct {
	db      *bolt.DB
	publish func(*authv1.Revocation)

	// wmu serializes the revocation writes, so that the log is published
	// in seq order; the maps change only under it.
	wmu sync.Mutex
	// mu guards the maps, held for writing only while they change so that
	// lookups never wait for a commit.
	mu        sync.RWMutex
	revoked   map[string]int64         // jti → unix expiry
	users     map[int64]userRevocation // user id → its revocation
	logExpiry map[uint64]int64         // log seq → unix expiry; entries without expiry are absent
}

// Open opens (creating if needed) the bbolt file at path, creates its
// buckets and loads the revocations.
func Open(path string, opts Options) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:        db,
		publish:   opts.Publish,
		revoked:   make(map[string]int64),
		users:     make(map[int64]userRevocation),
		logExpiry: make(map[uint64]int64),
	}
	if s.publish == nil {
		s.publish = func(*authv1.Revocation) {}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketUsers, bucketRevoked, bucketUsersRevoked, bucketLog, bucketAPIKeys, bucketAPIKeyIDs, bucketAPIKeyHashes} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return s.load(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// load fills the in-memory mirrors from tx.
func (s *Store) load(tx *bolt.Tx) error {
	err := tx.Bucket(bucketRevoked).ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("revocation %q: value of %d bytes", k, len(v))
		}
		s.revoked[string(k)] = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketUsersRevoked).ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) != 16 {
			return fmt.Errorf("user revocation %x: key of %d bytes, value of %d", k, len(k), len(v))
		}
		s.users[int64(binary.BigEndian.Uint64(k))] = userRevocation{
			issuedBefore: time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			expires:      int64(binary.BigEndian.Uint64(v[8:])),
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
		r := &authv1.Revocation{}
		if len(k) != 8 {
			return fmt.Errorf("revocation log key %x of %d bytes", k, len(k))
		}
		if err := proto.Unmarshal(v, r); err != nil {
			return fmt.Errorf("revocation log entry %x: %w", k, err)
		}
		if r.ExpiresAt != nil {
			s.logExpiry[binary.BigEndian.Uint64(k)] = r.ExpiresAt.GetSeconds()
		}
		return nil
	})
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

// Revoke refuses jti until expiresAt; a zero expiresAt never forgets it. It
// appends the revocation to the log in the same transaction. Revoking a jti
// again keeps the later expiry; one that changes nothing is not logged.
func (s *Store) Revoke(jti string, expiresAt time.Time) error {
	exp := int64(math.MaxInt64)
	r := &authv1.Revocation{Target: &authv1.Revocation_TokenId{TokenId: jti}}
	if !expiresAt.IsZero() {
		exp = expiresAt.Unix()
		r.ExpiresAt = timestamppb.New(expiresAt)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if old, ok := s.revoked[jti]; ok && old >= exp { // read under wmu: no writer
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRevoked).Put([]byte(jti), binary.BigEndian.AppendUint64(nil, uint64(exp))); err != nil {
			return err
		}
		return appendLog(tx, r)
	})
	if err != nil {
		return fmt.Errorf("revoke %q: %w", jti, err)
	}
	s.mu.Lock()
	s.revoked[jti] = exp
	s.mu.Unlock()
	s.logged(r)
	return nil
}

// RevokeUser refuses user id's tokens issued before now, and those without
// an iat, for ttl; revoking the user again moves both bounds forward (never
// back, should the clock step back). It appends the revocation to the log
// in the same transaction and returns it.
func (s *Store) RevokeUser(id int64, now time.Time, ttl time.Duration) (*authv1.Revocation, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ur := userRevocation{issuedBefore: now}
	if old, ok := s.users[id]; ok && old.issuedBefore.After(now) {
		ur.issuedBefore = old.issuedBefore
	}
	expiresAt := ur.issuedBefore.Add(ttl)
	ur.expires = expiresAt.Unix()
	r := &authv1.Revocation{
		Target:       &authv1.Revocation_UserId{UserId: id},
		IssuedBefore: timestamppb.New(ur.issuedBefore),
		ExpiresAt:    timestamppb.New(expiresAt),
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(ur.issuedBefore.UnixNano()))
	v = binary.BigEndian.AppendUint64(v, uint64(ur.expires))
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketUsersRevoked).Put(userKey(id), v); err != nil {
			return err
		}
		return appendLog(tx, r)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke user %d: %w", id, err)
	}
	s.mu.Lock()
	s.users[id] = ur
	s.mu.Unlock()
	s.logged(r)
	return r, nil
}

// appendLog gives r the log's next seq and stores it.
func appendLog(tx *bolt.Tx, r *authv1.Revocation) error {
	b := tx.Bucket(bucketLog)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	r.Seq = seq
	v, err := proto.Marshal(r)
	if err != nil {
		return fmt.Errorf("marshal revocation: %w", err)
	}
	return b.Put(seqKey(seq), v)
}

// logged records a committed log entry and publishes it; s.wmu is held.
func (s *Store) logged(r *authv1.Revocation) {
	if r.ExpiresAt != nil {
		s.logExpiry[r.Seq] = r.ExpiresAt.GetSeconds() // only writers use it
	}
	s.publish(r)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// IsRevoked reports whether jti is revoked at now: revoked and its
// revocation's expiry not yet passed.
func (s *Store) IsRevoked(jti string, now time.Time) bool {
	s.mu.RLock()
	exp, ok := s.revoked[jti]
	s.mu.RUnlock()
	return ok && now.Unix() <= exp
}

// IsUserRevoked reports whether a token of user id issued at iat (zero when
// the token has none) is refused at now by a user revocation not yet expired.
func (s *Store) IsUserRevoked(id int64, iat, now time.Time) bool {
	s.mu.RLock()
	ur, ok := s.users[id]
	s.mu.RUnlock()
	return ok && now.Unix() <= ur.expires && (iat.IsZero() || iat.Before(ur.issuedBefore))
}

// EventsAfter returns at most limit log entries with seq above after,
// in seq order, with the newest seq ever logged (0 for none) and the oldest
// seq kept (head+1 when the log is empty), as seen by the same read. The
// purge leaves holes where expired entries were.
func (s *Store) EventsAfter(ctx context.Context, after uint64, limit int) (revs []*authv1.Revocation, head, oldest uint64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, 0, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		head = b.Sequence()
		c := b.Cursor()
		if k, _ := c.First(); k == nil {
			oldest = head + 1
		} else {
			oldest = binary.BigEndian.Uint64(k)
		}
		if after == math.MaxUint64 {
			return nil
		}
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(revs) < limit; k, v = c.Next() {
			r := &authv1.Revocation{}
			// Unmarshal copies out of the transaction's memory.
			if err := proto.Unmarshal(v, r); err != nil {
				return fmt.Errorf("unmarshal revocation %x: %w", k, err)
			}
			revs = append(revs, r)
		}
		return nil
	})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("revocations after %d: %w", after, err)
	}
	return revs, head, oldest, nil
}

// Purged counts what PurgeExpired forgot.
type Purged struct {
	// Tokens is the number of token revocations forgotten.
	Tokens int
	// Users is the number of user revocations forgotten.
	Users int
	// Log is the number of log entries deleted.
	Log int
}

// PurgeExpired forgets the token and user revocations and the log entries
// whose expiry is before now, in one transaction. The log's sequence is
// kept, so that seqs continue from the newest even when the log empties.
func (s *Store) PurgeExpired(now time.Time) (Purged, error) {
	cutoff := now.Unix()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var (
		jtis  []string
		users []int64
		seqs  []uint64
	)
	for jti, exp := range s.revoked {
		if exp < cutoff {
			jtis = append(jtis, jti)
		}
	}
	for id, ur := range s.users {
		if ur.expires < cutoff {
			users = append(users, id)
		}
	}
	for seq, exp := range s.logExpiry {
		if exp < cutoff {
			seqs = append(seqs, seq)
		}
	}
	if len(jtis)+len(users)+len(seqs) == 0 {
		return Purged{}, nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRevoked)
		for _, jti := range jtis {
			if err := b.Delete([]byte(jti)); err != nil {
				return err
			}
		}
		b = tx.Bucket(bucketUsersRevoked)
		for _, id := range users {
			if err := b.Delete(userKey(id)); err != nil {
				return err
			}
		}
		b = tx.Bucket(bucketLog)
		for _, seq := range seqs {
			if err := b.Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Purged{}, fmt.Errorf("purge revocations: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, jti := range jtis {
		delete(s.revoked, jti)
	}
	for _, id := range users {
		delete(s.users, id)
	}
	for _, seq := range seqs {
		delete(s.logExpiry, seq)
	}
	return Purged{Tokens: len(jtis), Users: len(users), Log: len(seqs)}, nil
}
