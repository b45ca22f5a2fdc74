package store

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "switchboard.dev/api/gen/switchboard/auth/v1"
)

// CreateAPIKey stores k (id, env, name, created_at; no revoked_at) under
// hash, the SHA-256 of the whole key. It refuses with ErrAPIKeyExists when
// k's id or hash is taken, never replacing a key.
func (s *Store) CreateAPIKey(k *authv1.APIKey, hash [sha256.Size]byte) error {
	rec, err := proto.Marshal(k)
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.GetId(), err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		keys, ids, hashes := tx.Bucket(bucketAPIKeys), tx.Bucket(bucketAPIKeyIDs), tx.Bucket(bucketAPIKeyHashes)
		if ids.Get([]byte(k.GetId())) != nil || hashes.Get(hash[:]) != nil {
			return ErrAPIKeyExists
		}
		seq, err := keys.NextSequence()
		if err != nil {
			return err
		}
		if err := keys.Put(seqKey(seq), append(hash[:], rec...)); err != nil {
			return err
		}
		if err := ids.Put([]byte(k.GetId()), seqKey(seq)); err != nil {
			return err
		}
		return hashes.Put(hash[:], seqKey(seq))
	})
	if err != nil {
		return fmt.Errorf("create api key %s: %w", k.GetId(), err)
	}
	return nil
}

// APIKeyByHash returns the key whose SHA-256 is hash, revoked or not, or
// ErrAPIKeyNotFound.
func (s *Store) APIKeyByHash(hash [sha256.Size]byte) (*authv1.APIKey, error) {
	var k *authv1.APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		seq := tx.Bucket(bucketAPIKeyHashes).Get(hash[:])
		if seq == nil {
			return ErrAPIKeyNotFound
		}
		stored, rec, err := apiKeyAt(tx, seq)
		if err != nil {
			return err
		}
		// The index lookup found it already; the constant-time check on the
		// record itself also guards against an index pointing elsewhere.
		if subtle.ConstantTimeCompare(stored, hash[:]) != 1 {
			return ErrAPIKeyNotFound
		}
		k = rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListAPIKeys() ([]*authv1.APIKey, error) {
	var out []*authv1.APIKey
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAPIKeys).ForEach(func(k, v []byte) error {
			_, rec, err := decodeAPIKey(k, v)
			if err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey marks key id revoked at now and appends its revocation to
// the log in the same transaction, returning the revocation. Revoking a
// revoked key changes nothing and logs nothing: it returns nil. The log
// entry has no expiry: a key never expires, so its revocation matters for
// as long as a session opened with it may last, and the log keeps one
// entry per key at most. ErrAPIKeyNotFound when no key has that id.
func (s *Store) RevokeAPIKey(id string, now time.Time) (*authv1.Revocation, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var r *authv1.Revocation
	err := s.db.Update(func(tx *bolt.Tx) error {
		seq := bytes.Clone(tx.Bucket(bucketAPIKeyIDs).Get([]byte(id))) // Put needs it past the Get
		if seq == nil {
			return ErrAPIKeyNotFound
		}
		hash, k, err := apiKeyAt(tx, seq)
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return nil
		}
		k.RevokedAt = timestamppb.New(now)
		rec, err := proto.Marshal(k)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketAPIKeys).Put(seq, append(hash, rec...)); err != nil {
			return err
		}
		r = &authv1.Revocation{Target: &authv1.Revocation_ApiKeyId{ApiKeyId: id}}
		return appendLog(tx, r)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	if r != nil {
		s.logged(r)
	}
	return r, nil
}

// apiKeyAt returns a copy of the hash and the record of the key at the
// big-endian seq.
func apiKeyAt(tx *bolt.Tx, seq []byte) ([]byte, *authv1.APIKey, error) {
	v := tx.Bucket(bucketAPIKeys).Get(seq)
	if v == nil {
		return nil, nil, fmt.Errorf("api key index names seq %x, which has no key", seq)
	}
	return decodeAPIKey(seq, v)
}

// decodeAPIKey splits the value v of seq k into a copy of its hash and
// its record.
func decodeAPIKey(k, v []byte) ([]byte, *authv1.APIKey, error) {
	if len(k) != 8 || len(v) < sha256.Size {
		return nil, nil, fmt.Errorf("api key %x: key of %d bytes, value of %d", k, len(k), len(v))
	}
	rec := &authv1.APIKey{}
	// Unmarshal copies out of the transaction's memory; so does Clone.
	if err := proto.Unmarshal(v[sha256.Size:], rec); err != nil {
		return nil, nil, fmt.Errorf("api key %x: %w", k, err)
	}
	return bytes.Clone(v[:sha256.Size]), rec, nil
}
