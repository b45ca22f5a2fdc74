package load

import (
	"errors"
	"fmt"

	"switchboard.dev/cli/internal/hist"
)

// Split divides a load run among n workers, each in a process of its own
// (one process may hold too few descriptors for 100,000 connections): the
// rooms are dealt out in contiguous ranges, each with the clients that
// Config assigns to it, and the rate in proportion. Worker i connects to
// addrs[i%len(addrs)] from loopback source addresses of its own, and only worker
// 0 measures the server processes (PIDs). Merge adds up their reports.
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
	// Every worker binds its source addresses, from 127.0.0.2 up: a
	// connect without bind takes its port from what bind left free on any
	// address, and the others' bound ports would exhaust it.
	room, source := 0, 1
	for i := range out {
		w := cfg
		w.Rooms = cfg.Rooms/n + btoi(i < cfg.Rooms%n)
		w.RoomBase = cfg.RoomBase + int64(room)
		w.Clients = 0
		for r := room; r < room+w.Rooms; r++ {
			// Config gives room r the clients r, r+Rooms, r+2·Rooms, …
			w.Clients += cfg.Clients/cfg.Rooms + btoi(r < cfg.Clients%cfg.Rooms)
		}
		room += w.Rooms
		w.Rate = cfg.Rate * float64(w.Clients) / float64(cfg.Clients)
		w.Addr = addrs[i%len(addrs)]
		if i > 0 {
			w.PIDs = nil
		}
		w.defaults()
		w.FirstSource = source
		source += w.Sources
		out[i] = w
	}
	return out, nil
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
