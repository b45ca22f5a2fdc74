package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Session reports. The presence and signaling services are told of the
// edge's sessions from one goroutine per service, in order, off the
// clients' request paths: a slow or absent service never delays chat. A
// report that fails is only logged; the SyncSessions sent after every
// (re)subscription repairs what the service missed.

// maxPendingReports bounds the reports waiting for a service; past it they
// are replaced by one SyncSessions.
const maxPendingReports = 4096

// reportKind is what a report tells; its value names it in logs.
type reportKind string

const (
	reportOpened reportKind = "SessionOpened"
	reportClosed reportKind = "SessionClosed"
	reportSync   reportKind = "SyncSessions" // the hub's sessions as they are when it is sent
)

type report struct {
	kind      reportKind
	sessionID string
	userID    int64
}

// reporter queues the session reports of the edge for one service and
// sends them with send, one at a time.
type reporter struct {
	service    string // names the service in logs
	log        *slog.Logger
	rpcTimeout time.Duration
	send       func(context.Context, report) error
	wake       chan struct{} // capacity 1: there is something pending
	failing    bool          // whether the last report failed; used by run alone

	mu      sync.Mutex
	pending []report
}

func newReporter(service string, log *slog.Logger, rpcTimeout time.Duration, send func(context.Context, report) error) *reporter {
	return &reporter{service: service, log: log, rpcTimeout: rpcTimeout, send: send, wake: make(chan struct{}, 1)}
}

// add queues r without blocking. On overflow the pending reports are
// replaced by a sync, which reports the state they led to.
func (q *reporter) add(r report) {
	q.mu.Lock()
	if len(q.pending) >= maxPendingReports {
		clear(q.pending)
		q.pending = append(q.pending[:0], report{kind: reportSync})
	} else {
		q.pending = append(q.pending, r)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the pending reports and empties the queue.
func (q *reporter) take() []report {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pending
	q.pending = nil
	return p
}

// run sends the queued reports, in order, until ctx is done; then, within
// one RPC deadline, it sends the sessions left (none, once Serve has
// returned), so that the service need not wait for the edge's lease to
// lapse.
func (q *reporter) run(ctx context.Context) {
	for {
		select {
		case <-q.wake:
			q.sendAll(ctx, q.take())
		case <-ctx.Done():
			// A fresh context: ctx is done, but the last report still has
			// its deadline.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.rpcTimeout)
			q.sendAll(final, []report{{kind: reportSync}})
			cancel()
			return
		}
	}
}

// sendAll sends reports in order. A sync among them sends the hub's
// sessions as they are now, which every earlier report of the batch has
// already changed: it replaces the whole batch.
func (q *reporter) sendAll(ctx context.Context, reports []report) {
	for _, r := range reports {
		if r.kind == reportSync {
			reports = []report{r}
			break
		}
	}
	for _, r := range reports {
		if ctx.Err() != nil && r.kind != reportSync {
			return
		}
		rctx, cancel := context.WithTimeout(ctx, q.rpcTimeout)
		err := q.send(rctx, r)
		cancel()
		q.failed(r, err)
	}
}

// failed logs a failed report: at warning level on the first failure after
// a success, so that an outage is logged once, not once per session.
func (q *reporter) failed(r report, err error) {
	switch {
	case err == nil:
		q.failing = false
	case !q.failing:
		q.failing = true
		q.log.Warn("session report failed; the next SyncSessions repairs it", "service", q.service, "rpc", r.kind, "session", r.sessionID, "err", err)
	default:
		q.log.Debug("session report failed", "service", q.service, "rpc", r.kind, "session", r.sessionID, "err", err)
	}
}

// ReportSessions sends the session reports of the edge to the presence and
// signaling services until ctx is done, then sends each its final sync.
func (srv *Server) ReportSessions(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { srv.presenceReports.run(ctx) })
	wg.Go(func() { srv.signalingReports.run(ctx) })
	wg.Wait()
}
