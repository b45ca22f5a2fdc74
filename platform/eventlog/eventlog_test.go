package eventlog

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/platform/eventstream"
)

// event is a generated message with a seq field, as the services log.
type event = *presencev1.Event

var bucket = []byte("events")

// A Log is what an eventstream stream replays.
var _ eventstream.Log[event] = (*Log[event])(nil)

func config(retention, chunk int) Config[event] {
	return Config[event]{
		Bucket:    bucket,
		Retention: retention,
		TrimChunk: chunk,
		New:       func() event { return &presencev1.Event{} },
		SetSeq:    func(ev event, seq uint64) { ev.Seq = seq },
	}
}

func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openLog(t *testing.T, db *bolt.DB, cfg Config[event]) *Log[event] {
	t.Helper()
	l, err := Open(db, cfg)
	if err != nil {
		t.Fatalf("Open(retention %d): %v", cfg.Retention, err)
	}
	return l
}

// commit appends n events, tagged with user ids from first on, in one
// transaction that also trims, as a store's writer does, and returns what
// Commit hands over for publishing.
func commit(t *testing.T, db *bolt.DB, l *Log[event], first int64, n int) []event {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		for i := range int64(n) {
			if err := l.Append(tx, &presencev1.Event{UserIds: []int64{first + i}}); err != nil {
				return err
			}
		}
		return l.Trim(tx)
	})
	if err != nil {
		l.Abort()
		t.Fatalf("append %d events: %v", n, err)
	}
	return l.Commit()
}

func seqs(evs []event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.GetSeq()
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// checkLog compares the committed bounds and the stored log with want.
func checkLog(t *testing.T, l *Log[event], wantHead, wantOldest uint64) {
	t.Helper()
	if head, oldest := l.Bounds(); head != wantHead || oldest != wantOldest {
		t.Errorf("Bounds() = %d, %d; want %d, %d", head, oldest, wantHead, wantOldest)
	}
	evs, head, oldest, err := l.EventsAfter(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatalf("EventsAfter(0): %v", err)
	}
	if got, want := seqs(evs), span(wantOldest, wantHead); !slices.Equal(got, want) || head != wantHead || oldest != wantOldest {
		t.Errorf("EventsAfter(0) = seqs %v, head %d, oldest %d; want %v, %d, %d", got, head, oldest, want, wantHead, wantOldest)
	}
}

// TestAppend gives events consecutive seqs from 1, hands them to Commit in
// order and stores them as they were.
func TestAppend(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "log.db"))
	l := openLog(t, db, config(100, 0))
	checkLog(t, l, 0, 1)

	if got := commit(t, db, l, 10, 3); !slices.Equal(seqs(got), []uint64{1, 2, 3}) {
		t.Errorf("Commit() after 3 appends = seqs %v, want [1 2 3]", seqs(got))
	}
	if got := commit(t, db, l, 13, 2); !slices.Equal(seqs(got), []uint64{4, 5}) {
		t.Errorf("Commit() after 2 more appends = seqs %v, want [4 5]", seqs(got))
	}
	checkLog(t, l, 5, 1)
	evs, _, _, err := l.EventsAfter(context.Background(), 0, 10)
	if err != nil {
		t.Fatalf("EventsAfter(0, 10): %v", err)
	}
	for i, ev := range evs {
		if got, want := ev.GetUserIds(), []int64{10 + int64(i)}; !slices.Equal(got, want) {
			t.Errorf("EventsAfter(0, 10)[%d].user_ids = %v, want %v", i, got, want)
		}
	}
	if got := l.Commit(); got != nil {
		t.Errorf("Commit() without a transaction = %d events, want none", len(got))
	}
}

// TestRetention keeps the newest events within the retention, trimming at
// most a chunk per transaction and catching up on later ones.
func TestRetention(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "log.db"))
	l := openLog(t, db, config(5, 3))
	for i := range int64(8) {
		commit(t, db, l, i, 1)
	}
	checkLog(t, l, 8, 4)
	if got := l.Backlog(); got != 0 {
		t.Errorf("Backlog() after single appends = %d, want 0", got)
	}

	// 10 appends in one transaction: its trim deletes only a chunk.
	commit(t, db, l, 8, 10)
	checkLog(t, l, 18, 7)
	if got := l.Backlog(); got != 7 {
		t.Errorf("Backlog() after 10 appends to 5 events with chunk 3 = %d, want 7", got)
	}
	// Commits without appends trim a chunk each.
	commit(t, db, l, 0, 0)
	checkLog(t, l, 18, 10)
	if err := l.TrimBacklog(); err != nil {
		t.Fatalf("TrimBacklog(): %v", err)
	}
	checkLog(t, l, 18, 14)
	if got := l.Backlog(); got != 0 {
		t.Errorf("Backlog() after TrimBacklog = %d, want 0", got)
	}
}

// TestLoweredRetention reopens a log with a lower retention: Open leaves the
// backlog, TrimBacklog deletes it, and seqs go on from the head.
func TestLoweredRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	db := openDB(t, path)
	l := openLog(t, db, config(10, 0))
	commit(t, db, l, 0, 25)
	checkLog(t, l, 25, 16)
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	db = openDB(t, path)
	l = openLog(t, db, config(3, 2))
	checkLog(t, l, 25, 16)
	if got := l.Backlog(); got != 7 {
		t.Errorf("Backlog() after reopening 10 events with retention 3 = %d, want 7", got)
	}
	if err := l.TrimBacklog(); err != nil {
		t.Fatalf("TrimBacklog(): %v", err)
	}
	checkLog(t, l, 25, 23)
	if got := commit(t, db, l, 0, 1); !slices.Equal(seqs(got), []uint64{26}) {
		t.Errorf("Commit() after reopen = seqs %v, want [26]", seqs(got))
	}
	checkLog(t, l, 26, 24)
}

// TestReopen keeps seqs monotonic across restarts, the trimmed ones
// included.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	var next uint64 = 1
	for round := range 3 {
		db := openDB(t, path)
		l := openLog(t, db, config(2, 0))
		if head, _ := l.Bounds(); head != next-1 {
			t.Errorf("round %d: Bounds() head after reopen = %d, want %d", round, head, next-1)
		}
		got := commit(t, db, l, 0, 3)
		if want := span(next, next+2); !slices.Equal(seqs(got), want) {
			t.Errorf("round %d: Commit() = seqs %v, want %v", round, seqs(got), want)
		}
		next += 3
		checkLog(t, l, next-1, next-2)
		if err := db.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
}

// TestAbort leaves the bounds as they were when the transaction fails, and
// the seqs it took are given again.
func TestAbort(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "log.db"))
	l := openLog(t, db, config(3, 0))
	commit(t, db, l, 0, 4)
	checkLog(t, l, 4, 2)

	errFail := errors.New("refused")
	err := db.Update(func(tx *bolt.Tx) error {
		for range 5 {
			if err := l.Append(tx, &presencev1.Event{}); err != nil {
				return err
			}
		}
		if err := l.Trim(tx); err != nil {
			return err
		}
		return errFail
	})
	if !errors.Is(err, errFail) {
		t.Fatalf("Update = %v, want %v", err, errFail)
	}
	l.Abort()
	checkLog(t, l, 4, 2)
	if got := commit(t, db, l, 0, 1); !slices.Equal(seqs(got), []uint64{5}) {
		t.Errorf("Commit() after an abort = seqs %v, want [5]", seqs(got))
	}
	checkLog(t, l, 5, 3)
}

// TestEventsAfter reads the bounds and at most limit events above after.
func TestEventsAfter(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "log.db"))
	l := openLog(t, db, config(5, 0))
	commit(t, db, l, 0, 8) // keeps 4..8
	tests := []struct {
		name  string
		after uint64
		limit int
		want  []uint64
	}{
		{"from the start", 0, 100, []uint64{4, 5, 6, 7, 8}},
		{"trimmed seq", 2, 100, []uint64{4, 5, 6, 7, 8}},
		{"limited", 4, 2, []uint64{5, 6}},
		{"bounds only", 0, 0, nil},
		{"at head", 8, 100, nil},
		{"past head", 50, 100, nil},
		{"max seq", math.MaxUint64, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, head, oldest, err := l.EventsAfter(context.Background(), tt.after, tt.limit)
			if err != nil || !slices.Equal(seqs(evs), tt.want) || head != 8 || oldest != 4 {
				t.Errorf("EventsAfter(%d, %d) = seqs %v, head %d, oldest %d, %v; want %v, 8, 4, nil", tt.after, tt.limit, seqs(evs), head, oldest, err, tt.want)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := l.EventsAfter(ctx, 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("EventsAfter with a canceled context = %v, want %v", err, context.Canceled)
	}
}

// TestOpenConfig refuses incomplete configurations.
func TestOpenConfig(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "log.db"))
	tests := []struct {
		name string
		edit func(*Config[event])
	}{
		{"no bucket", func(c *Config[event]) { c.Bucket = nil }},
		{"zero retention", func(c *Config[event]) { c.Retention = 0 }},
		{"negative chunk", func(c *Config[event]) { c.TrimChunk = -1 }},
		{"no New", func(c *Config[event]) { c.New = nil }},
		{"no SetSeq", func(c *Config[event]) { c.SetSeq = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(5, 0)
			tt.edit(&cfg)
			if _, err := Open(db, cfg); err == nil {
				t.Errorf("Open(%s) = nil error, want one", tt.name)
			}
		})
	}
}
