package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// Compaction deletes the messages a room's retention no longer keeps: the
// oldest beyond its message count, and those older than its age. A pass
// walks the rooms in id order in small transactions (at most compactChunk
// deletes and compactRooms rooms each) that the writer runs between
// batches, so that writes never wait for a whole pass.
//
// A room's messages are always contiguous ids from its oldest to its
// newest: messages are only ever deleted from the oldest end, and a
// bucket's sequence never goes back, so ids are never reused.

// compactPass is a compaction under way.
type compactPass struct {
	next    int64        // the room id to resume at
	waiters []chan error // Compact callers answered when the pass ends
}

// Compact runs a whole compaction pass that starts after the call and
// returns when it has ended. The periodic compaction (Options.CompactInterval)
// runs the same passes; Compact exists for tests and operators.
func (s *Store) Compact(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case s.compacts <- done:
	case <-s.writes.Closing():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requestPass starts a pass, or, when one is under way, queues done for
// the next one (a tick, done nil, joins the current pass).
func (s *Store) requestPass(done chan error) {
	switch {
	case s.pass == nil:
		s.pass = &compactPass{}
		if done != nil {
			s.pass.waiters = append(s.pass.waiters, done)
		}
	case done != nil:
		s.nextPass = append(s.nextPass, done)
	}
}

// endPass answers the pass's waiters with err and starts the next pass
// when callers wait for one.
func (s *Store) endPass(err error) {
	for _, done := range s.pass.waiters {
		done <- err
	}
	s.pass = nil
	if len(s.nextPass) > 0 {
		s.pass = &compactPass{waiters: s.nextPass}
		s.nextPass = nil
	}
}

// compactStep runs one compaction transaction of the pass under way.
func (s *Store) compactStep() {
	now := s.now()
	var (
		next     int64
		finished bool
	)
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		next, finished, err = s.compactChunk(tx, s.pass.next, now)
		return err
	})
	if err != nil {
		s.log.Error("compact messages", "err", err)
		s.endPass(fmt.Errorf("compact messages: %w", err))
		return
	}
	s.commits.Add(1)
	if finished {
		s.endPass(nil)
		return
	}
	s.pass.next = next
}

// compactChunk compacts rooms from the id from on, within the chunk's
// bounds. It returns the room to resume at, or finished.
func (s *Store) compactChunk(tx *bolt.Tx, from int64, now time.Time) (next int64, finished bool, err error) {
	all := tx.Bucket(bucketMessages)
	budget := compactChunk
	c := tx.Bucket(bucketRooms).Cursor()
	visited := 0
	for k, v := c.Seek(id64(from)); k != nil; k, v = c.Next() {
		id := int64(binary.BigEndian.Uint64(k))
		if visited == compactRooms || budget == 0 {
			return id, false, nil
		}
		visited++
		room := &chatv1.Room{}
		if err := proto.Unmarshal(v, room); err != nil {
			return 0, false, fmt.Errorf("unmarshal room %d: %w", id, err)
		}
		keep, age := s.keepCount, s.keepAge
		if room.RetentionMessages > 0 {
			keep = room.RetentionMessages
		}
		if room.RetentionSeconds > 0 {
			age = time.Duration(room.RetentionSeconds) * time.Second
		}
		if keep <= 0 && age <= 0 {
			continue
		}
		b := all.Bucket(k)
		if b == nil {
			continue
		}
		var cutoff time.Time
		if age > 0 {
			cutoff = now.Add(-age)
		}
		n, err := compactRoom(b, keep, cutoff, budget)
		if err != nil {
			return 0, false, fmt.Errorf("compact room %d: %w", id, err)
		}
		budget -= n
		if budget == 0 {
			return id, false, nil // the room may have more: resume at it
		}
	}
	return 0, true, nil
}

// compactRoom deletes at most max of the oldest messages of b: those beyond
// the newest keep (0: no count limit) and those created before cutoff (zero:
// no age limit). It returns how many it deleted.
func compactRoom(b *bolt.Bucket, keep int64, cutoff time.Time, max int) (int, error) {
	c := b.Cursor()
	fk, _ := c.First()
	if fk == nil {
		return 0, nil
	}
	lk, _ := c.Last()
	first, last := binary.BigEndian.Uint64(fk), binary.BigEndian.Uint64(lk)
	n := 0
	for id := first; id <= last && n < max; id++ {
		k := key(id)
		if keep <= 0 || last-id+1 <= uint64(keep) {
			// Within the count: only its age may condemn it.
			if cutoff.IsZero() {
				break
			}
			v := b.Get(k)
			if v == nil {
				continue
			}
			m := &chatv1.Message{}
			if err := proto.Unmarshal(v, m); err != nil {
				return n, fmt.Errorf("unmarshal message %d: %w", id, err)
			}
			if !m.GetCreatedAt().AsTime().Before(cutoff) {
				break // ids grow with time: the rest are younger
			}
		}
		if err := b.Delete(k); err != nil {
			return n, fmt.Errorf("delete message %d: %w", id, err)
		}
		n++
	}
	return n, nil
}
