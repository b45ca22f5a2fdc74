package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
	"switchboard.dev/services/presence/internal/store"
)

func open(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func announcement(title string) *presencev1.Event {
	return &presencev1.Event{Payload: &presencev1.Event_Announcement{Announcement: &presencev1.Announcement{Title: title, Message: "m"}}}
}

func seqs(events []*presencev1.Event) []uint64 {
	var out []uint64
	for _, e := range events {
		out = append(out, e.GetSeq())
	}
	return out
}

// TestEventLogRetention appends beyond the retention: the oldest events
// go, sequence numbers go on, and a reopen with a lower retention trims
// at once.
func TestEventLogRetention(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "presence.db")
	var (
		mu        sync.Mutex
		published []uint64
	)
	st := open(t, path, store.Options{EventRetention: 5, Publish: func(evs []*presencev1.Event) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, seqs(evs)...)
	}})
	for i := range 8 {
		if err := st.Apply(ctx, store.Write{Event: announcement(string(rune('a' + i)))}); err != nil {
			t.Fatalf("Apply(event %d) = %v", i, err)
		}
	}
	events, head, oldest, err := st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatalf("EventsAfter(0) = %v", err)
	}
	if got, want := seqs(events), []uint64{4, 5, 6, 7, 8}; !slices.Equal(got, want) || head != 8 || oldest != 4 {
		t.Errorf("EventsAfter(0) = seqs %v, head %d, oldest %d; want %v, 8, 4", got, head, oldest, want)
	}
	if got := events[0].GetAnnouncement().GetTitle(); got != "d" {
		t.Errorf("event 4 title = %q, want %q", got, "d")
	}
	mu.Lock()
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(published, want) {
		t.Errorf("published seqs %v, want %v", published, want)
	}
	mu.Unlock()
	if events, _, _, _ := st.EventsAfter(ctx, 6, 1); !slices.Equal(seqs(events), []uint64{7}) {
		t.Errorf("EventsAfter(6, limit 1) = %v, want [7]", seqs(events))
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := st.Apply(ctx, store.Write{Event: announcement("late")}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}

	st = open(t, path, store.Options{EventRetention: 2})
	events, head, oldest, err = st.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatalf("EventsAfter(0) after reopen = %v", err)
	}
	if got, want := seqs(events), []uint64{7, 8}; !slices.Equal(got, want) || head != 8 || oldest != 7 {
		t.Errorf("after reopen with retention 2: seqs %v, head %d, oldest %d; want %v, 8, 7", got, head, oldest, want)
	}
	if err := st.Apply(ctx, store.Write{Event: announcement("next")}); err != nil {
		t.Fatalf("Apply after reopen = %v", err)
	}
	if events, head, _, _ := st.EventsAfter(ctx, 0, 100); !slices.Equal(seqs(events), []uint64{8, 9}) || head != 9 {
		t.Errorf("after one more event: seqs %v, head %d; want [8 9], 9", seqs(events), head)
	}
}

// TestUsers writes user records and reads them back, across a reopen.
func TestUsers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "presence.db")
	st := open(t, path, store.Options{})
	t1 := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	w := store.Write{Users: []store.User{
		{ID: 1, Online: true, LastSeen: t1},
		{ID: 2, Online: true, LastSeen: t1.Add(time.Second)},
		{ID: 3, Online: false},
	}}
	if err := st.Apply(ctx, w); err != nil {
		t.Fatalf("Apply(%v) = %v", w, err)
	}
	if err := st.Apply(ctx, store.Write{Users: []store.User{{ID: 2, Online: false, LastSeen: t1.Add(2 * time.Second)}}}); err != nil {
		t.Fatalf("Apply(user 2 offline) = %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path, store.Options{})
	got, err := st.Users(ctx, []int64{1, 2, 3, 4})
	if err != nil {
		t.Fatalf("Users = %v", err)
	}
	want := map[int64]store.User{
		1: {ID: 1, Online: true, LastSeen: t1},
		2: {ID: 2, Online: false, LastSeen: t1.Add(2 * time.Second)},
		3: {ID: 3},
	}
	if len(got) != len(want) {
		t.Errorf("Users(1..4) = %v, want %v", got, want)
	}
	for id, w := range want {
		if g := got[id]; g.ID != w.ID || g.Online != w.Online || !g.LastSeen.Equal(w.LastSeen) {
			t.Errorf("Users(...)[%d] = %+v, want %+v", id, g, w)
		}
	}
	online, err := st.OnlineUsers(ctx)
	if err != nil {
		t.Fatalf("OnlineUsers = %v", err)
	}
	if len(online) != 1 || online[0].ID != 1 || !online[0].LastSeen.Equal(t1) {
		t.Errorf("OnlineUsers = %+v, want only user 1 seen at %v", online, t1)
	}
}
