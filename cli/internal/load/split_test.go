package load

import (
	"context"
	"sync"
	"testing"
	"time"

	"switchboard.dev/cli/internal/bare"
	"switchboard.dev/cli/internal/hist"
	"switchboard.dev/cli/internal/servicetest"
)

// members returns how many clients a configuration puts in each room.
func members(cfg Config) map[int64]int {
	m := map[int64]int{}
	for i := range cfg.Clients {
		m[cfg.RoomBase+int64(i%cfg.Rooms)]++
	}
	return m
}

// stalledMembers returns how many stalled clients a configuration puts in
// each room.
func stalledMembers(cfg Config) map[int64]int {
	m := map[int64]int{}
	for _, c := range stalledClients(cfg) {
		m[c.room]++
	}
	return m
}

func TestSplit(t *testing.T) {
	cfg := testConfig("127.0.0.1:1", "")
	cfg.Clients, cfg.Rooms, cfg.Rate, cfg.PIDs, cfg.Stalled = 10, 4, 100, []int{7, 8}, 7
	ws, err := Split(cfg, 3, []string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	want, wantStalled := members(cfg), stalledMembers(cfg)
	got, gotStalled := map[int64]int{}, map[int64]int{}
	var rate float64
	stalled := 0
	for i, w := range ws {
		for room, n := range members(w) {
			if got[room] != 0 {
				t.Errorf("room %d is in two workers", room)
			}
			got[room] = n
		}
		// A worker's stalled clients are in its own rooms.
		for room, n := range stalledMembers(w) {
			if members(w)[room] == 0 {
				t.Errorf("worker %d has %d stalled clients in room %d, not one of its rooms", i, n, room)
			}
			gotStalled[room] = n
		}
		stalled += w.Stalled
		rate += w.Rate
		if wantAddr := []string{"127.0.0.1:1", "127.0.0.1:2"}[i%2]; w.Addr != wantAddr {
			t.Errorf("worker %d addr %q, want %q", i, w.Addr, wantAddr)
		}
		if w.Sources != 1 || w.FirstSource != i+1 {
			t.Errorf("worker %d sources %d from %d, want 1 from %d", i, w.Sources, w.FirstSource, i+1)
		}
		if (len(w.PIDs) > 0) != (i == 0) {
			t.Errorf("worker %d pids %v; want them on worker 0 only", i, w.PIDs)
		}
		if err := w.validate(false); err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("workers cover rooms %v, want %v", got, want)
	}
	for room, n := range want {
		if got[room] != n {
			t.Errorf("room %d has %d clients across the workers, want %d", room, got[room], n)
		}
	}
	if rate < 99.999 || rate > 100.001 {
		t.Errorf("workers' rates sum to %v, want 100", rate)
	}
	if stalled != 7 || len(gotStalled) != len(wantStalled) {
		t.Errorf("workers hold %d stalled clients in rooms %v, want 7 in %v", stalled, gotStalled, wantStalled)
	}
	for room, n := range wantStalled {
		if gotStalled[room] != n {
			t.Errorf("room %d has %d stalled clients across the workers, want %d", room, gotStalled[room], n)
		}
	}

	for _, tc := range []struct {
		n     int
		addrs []string
		edit  func(*Config)
	}{
		{0, []string{"a:1"}, func(*Config) {}},
		{5, []string{"a:1"}, func(*Config) {}}, // more workers than rooms
		{2, nil, func(*Config) {}},
		{2, []string{"a:1"}, func(c *Config) { c.Sources = 2 }},
		{2, []string{"a:1"}, func(c *Config) { c.Rate = 0 }},
	} {
		c := cfg
		tc.edit(&c)
		if _, err := Split(c, tc.n, tc.addrs); err == nil {
			t.Errorf("Split(n %d, addrs %v, %+v) = nil error, want one", tc.n, tc.addrs, c)
		}
	}
}

func TestSplitIdle(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:1", Secret: secret, Clients: 10, RoomBase: 5, Duration: time.Second, PIDs: []int{7}}
	ws, err := SplitIdle(cfg, 3, []string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	clients := 0
	for i, w := range ws {
		clients += w.Clients
		if w.Clients < 3 || w.Clients > 4 || w.RoomBase != 5+int64(i) || len(w.PIDs) != 0 || w.FirstSource != i+1 {
			t.Errorf("worker %d = %d clients from user base %d, pids %v, first source %d; want 3 or 4, %d, none, %d",
				i, w.Clients, w.RoomBase, w.PIDs, w.FirstSource, 5+i, i+1)
		}
	}
	if clients != 10 {
		t.Errorf("workers hold %d clients, want 10", clients)
	}
	for _, n := range []int{0, 11} {
		if _, err := SplitIdle(cfg, n, []string{"a:1"}); err == nil {
			t.Errorf("SplitIdle(%d workers of 10 clients) = nil error, want one", n)
		}
	}
	if m := MergeIdle([]IdleReport{{Clients: 3, Connected: 3}, {Clients: 4, Connected: 2, Errors: 2}}); m != (IdleReport{Clients: 7, Connected: 5, Errors: 2}) {
		t.Errorf("MergeIdle = %+v", m)
	}
}

func TestSplitSilent(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:1", Clients: 10, RoomBase: 5, Duration: time.Second, PIDs: []int{7}}
	ws, err := SplitSilent(cfg, 3, []string{"127.0.0.1:1", "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	clients := 0
	for i, w := range ws {
		clients += w.Clients
		if wantAddr := []string{"127.0.0.1:1", "127.0.0.1:2"}[i%2]; w.Clients < 3 || w.Clients > 4 || len(w.PIDs) != 0 || w.FirstSource != i+1 || w.Addr != wantAddr {
			t.Errorf("worker %d = %d clients, pids %v, first source %d, addr %s; want 3 or 4, none, %d, %s",
				i, w.Clients, w.PIDs, w.FirstSource, w.Addr, i+1, wantAddr)
		}
	}
	if clients != 10 {
		t.Errorf("workers hold %d clients, want 10", clients)
	}
	for _, n := range []int{0, 11} {
		if _, err := SplitSilent(cfg, n, []string{"a:1"}); err == nil {
			t.Errorf("SplitSilent(%d workers of 10 clients) = nil error, want one", n)
		}
	}
	// Silent clients are no users: a worker may hold more than a room's.
	big := cfg
	big.Clients = UsersPerRoom + 1
	if _, err := SplitSilent(big, 1, []string{"a:1"}); err != nil {
		t.Errorf("SplitSilent(%d clients, 1 worker) = %v, want no error", big.Clients, err)
	}
	if _, err := SplitIdle(big, 1, []string{"a:1"}); err == nil {
		t.Errorf("SplitIdle(%d clients, 1 worker) = nil error, want the user ids bounded", big.Clients)
	}
}

func TestMergeSilent(t *testing.T) {
	var a, b hist.Histogram
	for i := range 100 {
		a.Record(time.Duration(i+1) * time.Millisecond)
		b.Record(time.Duration(i+101) * time.Millisecond)
	}
	m, err := MergeSilent([]SilentReport{
		{Clients: 100, Connected: 100, Closed: 100, ClosedAfterP50Ms: 50, ClosedAfterMaxMs: 100, RSSBeforeKiB: 9, Histogram: &a},
		{Clients: 101, Connected: 100, Closed: 100, Errors: 1, ClosedAfterP50Ms: 150, ClosedAfterMaxMs: 200, Histogram: &b},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Clients != 201 || m.Connected != 200 || m.Closed != 200 || m.Errors != 1 || m.RSSBeforeKiB != 0 || m.Histogram != nil {
		t.Errorf("MergeSilent = %+v", m)
	}
	// The median of 1..200 ms is about 100 ms: of both histograms, not of either.
	if m.ClosedAfterP50Ms < 99 || m.ClosedAfterP50Ms > 101 || m.ClosedAfterMaxMs != 200 {
		t.Errorf("MergeSilent closed after p50 %v, max %v; want about 100 and 200", m.ClosedAfterP50Ms, m.ClosedAfterMaxMs)
	}
	if _, err := MergeSilent([]SilentReport{{Clients: 1}}); err == nil {
		t.Error("MergeSilent of a report without histogram = nil error, want one")
	}
	if _, err := MergeSilent(nil); err == nil {
		t.Error("MergeSilent of no report = nil error, want one")
	}
}

func TestMerge(t *testing.T) {
	var a, b hist.Histogram
	for i := range 100 {
		a.Record(time.Duration(i+1) * time.Millisecond)
		b.Record(time.Duration(i+101) * time.Millisecond)
	}
	cpu := 42.0
	two, none := 2, 0
	m, err := Merge([]Report{
		{Clients: 3, Rooms: 1, Rate: 30, DurationS: 2, Size: 50, Sent: 60, Expected: 100, Delivered: 100, DeliveriesPerS: 50, Errors: 1, ServerCPUPct: &cpu, Histogram: &a,
			Stalled: 2, StalledClosed: &two},
		{Clients: 2, Rooms: 1, Rate: 20, DurationS: 2, Size: 50, Sent: 40, Expected: 100, Delivered: 90, DeliveriesPerS: 45, Histogram: &b},
		{Clients: 1, Rooms: 1, Rate: 10, DurationS: 2, Size: 50, Histogram: &hist.Histogram{}, Stalled: 1, StalledClosed: &none},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Clients != 6 || m.Rooms != 3 || m.Rate != 60 || m.Sent != 100 || m.Expected != 200 || m.Delivered != 190 ||
		m.DeliveredRatio != 0.95 || m.DeliveriesPerS != 95 || m.Errors != 1 || m.ServerCPUPct != &cpu || m.Histogram != nil {
		t.Errorf("Merge = %+v", m)
	}
	if m.Stalled != 3 || m.StalledClosed == nil || *m.StalledClosed != 2 || two != 2 {
		t.Errorf("Merge stalled %d, stalled_closed %v; want 3 and 2 (the workers' reports unchanged)", m.Stalled, m.StalledClosed)
	}
	if m, _ := Merge([]Report{{Histogram: &a}, {Histogram: &b}}); m.Stalled != 0 || m.StalledClosed != nil {
		t.Errorf("Merge without stalled clients: stalled %d, stalled_closed %v; want 0 and nil (left out of the JSON)", m.Stalled, m.StalledClosed)
	}
	// The median of 1..200 ms is about 100 ms: of both histograms, not of either.
	if m.P50Ms < 99 || m.P50Ms > 101 || m.MaxMs != 200 {
		t.Errorf("Merge p50 %v, max %v; want about 100 and 200", m.P50Ms, m.MaxMs)
	}
	if _, err := Merge([]Report{{Clients: 1}}); err == nil {
		t.Error("Merge of a report without histogram = nil error, want one")
	}
}

// TestSplitRun runs a split load on two edges at once, started together
// through the gate, and merges the reports.
func TestSplitRun(t *testing.T) {
	edges := []*bare.Server{servicetest.StartBare(t, bare.Options{Secret: secret}), servicetest.StartBare(t, bare.Options{Secret: secret})}
	chat := servicetest.NewChatAdmin()
	cfg := testConfig(edges[0].Addr(), chat.Start(t))
	cfg.Clients, cfg.Rooms = 9, 3
	ws, err := Split(cfg, 2, []string{edges[0].Addr(), edges[1].Addr()})
	if err != nil {
		t.Fatal(err)
	}
	var ready sync.WaitGroup
	ready.Add(len(ws))
	start := make(chan struct{})
	go func() { ready.Wait(); close(start) }()
	reps := make([]Report, len(ws))
	errs := make([]error, len(ws))
	var runs sync.WaitGroup
	for i, w := range ws {
		w.KeepHistogram = true
		w.Gate = func(ctx context.Context) error {
			ready.Done()
			<-start
			return nil
		}
		runs.Go(func() { reps[i], errs[i] = Run(context.Background(), w) })
	}
	runs.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
		if reps[i].Histogram == nil || reps[i].Histogram.Count() != uint64(reps[i].Delivered) {
			t.Errorf("worker %d histogram %v, want one count per delivery (%d)", i, reps[i].Histogram, reps[i].Delivered)
		}
	}
	m, err := Merge(reps)
	if err != nil {
		t.Fatal(err)
	}
	if m.Clients != 9 || m.Rooms != 3 || m.Delivered != m.Expected || m.Expected == 0 || m.Errors != 0 {
		t.Errorf("Merge = %+v; want 9 clients in 3 rooms, every delivery", m)
	}
	for i, e := range edges {
		if e.Received() == 0 {
			t.Errorf("edge %d received nothing", i)
		}
	}
}
