package load

import (
	"errors"
	"fmt"

	"switchboard.dev/cli/internal/hist"
)

// Split divides a load run among n workers, each in a process of its own
// (one process may hold too few descriptors for 100,000 connections): the
// rooms are dealt out in contiguous ranges, each with the clients and the
// stalled clients that Config assigns to it, and the rate in proportion to
// the clients. Worker i connects to
// addrs[i%len(addrs)] from loopback source addresses of its own, and only
// worker 0 measures the server processes (PIDs). Merge adds up their
// reports.
func Split(cfg Config, n int, addrs []string) ([]Config, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	switch {
	case n < 1:
		return nil, fmt.Errorf("--workers %d: want at least 1", n)
	case len(addrs) == 0:
		return nil, errors.New("no edge address")
	case cfg.Sources != 0:
		return nil, errors.New("--sources with --workers: each worker takes sources of its own")
	case cfg.Rooms < n:
		return nil, fmt.Errorf("--workers %d: want at most --rooms (%d)", n, cfg.Rooms)
	}
	out := make([]Config, n)
	room := 0
	for i := range out {
		w := cfg
		w.Rooms = cfg.Rooms/n + btoi(i < cfg.Rooms%n)
		w.RoomBase = cfg.RoomBase + int64(room)
		w.Clients, w.Stalled = 0, 0
		for r := room; r < room+w.Rooms; r++ {
			// Config gives room r the clients r, r+Rooms, r+2·Rooms, …,
			// and the stalled clients likewise.
			w.Clients += cfg.Clients/cfg.Rooms + btoi(r < cfg.Clients%cfg.Rooms)
			w.Stalled += cfg.Stalled/cfg.Rooms + btoi(r < cfg.Stalled%cfg.Rooms)
		}
		room += w.Rooms
		w.Rate = cfg.Rate * float64(w.Clients) / float64(cfg.Clients)
		if i > 0 {
			w.PIDs = nil
		}
		out[i] = w
	}
	placeWorkers(out, addrs)
	return out, nil
}

// SplitIdle divides an idle run (RunIdle) among n workers, each in a
// process of its own: worker i holds its share of the clients, with user
// ids from RoomBase+i, and connects to addrs[i%len(addrs)]. The workers
// measure no process: the one that starts them reads the RSS before and
// after all have connected.
func SplitIdle(cfg Config, n int, addrs []string) ([]Config, error) {
	return splitClients(cfg, n, addrs, true)
}

// SplitSilent divides a silent run (RunSilent) among n workers as
// SplitIdle does an idle run. The workers measure no process: the one that
// starts them reads the RSS before they connect, once all have connected,
// and once they have ended.
func SplitSilent(cfg Config, n int, addrs []string) ([]Config, error) {
	return splitClients(cfg, n, addrs, false)
}

// splitClients deals the clients of an idle or silent run out to n
// workers; users says that they authenticate, as users of ids from
// RoomBase+i (the ids of one worker are bounded).
func splitClients(cfg Config, n int, addrs []string, users bool) ([]Config, error) {
	if err := cfg.validate(true); err != nil {
		return nil, err
	}
	switch {
	case n < 1 || n > cfg.Clients:
		return nil, fmt.Errorf("--workers %d: want 1 to --clients (%d)", n, cfg.Clients)
	case len(addrs) == 0:
		return nil, errors.New("no edge address")
	case cfg.Sources != 0:
		return nil, errors.New("--sources with --workers: each worker takes sources of its own")
	case !users:
	case (cfg.Clients+n-1)/n > UsersPerRoom:
		return nil, fmt.Errorf("--clients %d on %d workers: at most %d a worker", cfg.Clients, n, UsersPerRoom)
	case cfg.RoomBase > maxRoomID-int64(n):
		return nil, fmt.Errorf("--room-base %d: want at most %d", cfg.RoomBase, maxRoomID-int64(n))
	}
	out := make([]Config, n)
	for i := range out {
		w := cfg
		w.Clients = cfg.Clients/n + btoi(i < cfg.Clients%n)
		w.RoomBase = cfg.RoomBase + int64(i)
		w.PIDs = nil
		out[i] = w
	}
	placeWorkers(out, addrs)
	return out, nil
}

// placeWorkers gives worker i the address addrs[i%len(addrs)] and loopback
// source addresses of its own, from 127.0.0.2 up, so that their ports
// never collide.
func placeWorkers(ws []Config, addrs []string) {
	source := 1
	for i := range ws {
		ws[i].Addr = addrs[i%len(addrs)]
		ws[i].defaults()
		ws[i].FirstSource = source
		source += ws[i].Sources
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Merge adds up the reports of the workers of one Split run, each with its
// histogram (Config.KeepHistogram): the percentiles are those of every
// delivery, and the server's figures are worker 0's.
func Merge(reps []Report) (Report, error) {
	if len(reps) == 0 {
		return Report{}, errors.New("no report to merge")
	}
	var h hist.Histogram
	m := Report{DurationS: reps[0].DurationS, Size: reps[0].Size, RSSKiB: reps[0].RSSKiB, ServerCPUPct: reps[0].ServerCPUPct}
	for i, r := range reps {
		if r.Histogram == nil {
			return Report{}, fmt.Errorf("report %d has no histogram", i)
		}
		h.Merge(r.Histogram)
		m.Clients += r.Clients
		m.Rooms += r.Rooms
		m.Rate += r.Rate
		m.Sent += r.Sent
		m.Expected += r.Expected
		m.Delivered += r.Delivered
		m.Errors += r.Errors
		m.Stalled += r.Stalled
		if r.StalledClosed != nil {
			if m.StalledClosed == nil {
				m.StalledClosed = new(int)
			}
			*m.StalledClosed += *r.StalledClosed
		}
	}
	m.Rate = round(m.Rate, 3)
	if m.Expected > 0 {
		m.DeliveredRatio = round(float64(m.Delivered)/float64(m.Expected), 4)
	}
	for _, r := range reps {
		m.DeliveriesPerS += r.DeliveriesPerS
	}
	m.DeliveriesPerS = round(m.DeliveriesPerS, 1)
	m.P50Ms = ms(h.Quantile(0.50))
	m.P90Ms = ms(h.Quantile(0.90))
	m.P99Ms = ms(h.Quantile(0.99))
	m.MaxMs = ms(h.Max())
	return m, nil
}

// MergeIdle adds up the reports of the workers of one SplitIdle run; the
// RSS fields are left to the caller, who measured them.
func MergeIdle(reps []IdleReport) IdleReport {
	var m IdleReport
	for _, r := range reps {
		m.Clients += r.Clients
		m.Connected += r.Connected
		m.Errors += r.Errors
	}
	return m
}

// MergeSilent adds up the reports of the workers of one SplitSilent run,
// each with its histogram (Config.KeepHistogram): the close times are
// those of every connection. The RSS fields are left to the caller, who
// measured them.
func MergeSilent(reps []SilentReport) (SilentReport, error) {
	if len(reps) == 0 {
		return SilentReport{}, errors.New("no report to merge")
	}
	var h hist.Histogram
	var m SilentReport
	for i, r := range reps {
		if r.Histogram == nil {
			return SilentReport{}, fmt.Errorf("report %d has no histogram", i)
		}
		h.Merge(r.Histogram)
		m.Clients += r.Clients
		m.Connected += r.Connected
		m.Closed += r.Closed
		m.Errors += r.Errors
	}
	m.ClosedAfterP50Ms = ms(h.Quantile(0.50))
	m.ClosedAfterMaxMs = ms(h.Max())
	return m, nil
}
