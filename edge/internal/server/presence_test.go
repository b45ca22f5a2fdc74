package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	presencev1 "switchboard.dev/api/gen/switchboard/presence/v1"
)

// recordingPresence records the reports it is sent. Its other methods are
// those of the nil embedded interface: calling them panics.
type recordingPresence struct {
	presencev1.PresenceServiceClient
	calls []string
}

func (p *recordingPresence) SessionOpened(_ context.Context, in *presencev1.SessionOpenedRequest, _ ...grpc.CallOption) (*presencev1.SessionOpenedResponse, error) {
	p.calls = append(p.calls, "open "+in.GetSession().GetSessionId())
	return &presencev1.SessionOpenedResponse{}, nil
}

func (p *recordingPresence) SessionClosed(_ context.Context, in *presencev1.SessionClosedRequest, _ ...grpc.CallOption) (*presencev1.SessionClosedResponse, error) {
	p.calls = append(p.calls, "close "+in.GetSessionId())
	return &presencev1.SessionClosedResponse{}, nil
}

func (p *recordingPresence) SyncSessions(_ context.Context, in *presencev1.SyncSessionsRequest, _ ...grpc.CallOption) (*presencev1.SyncSessionsResponse, error) {
	var ids []string
	for _, s := range in.GetSessions() {
		ids = append(ids, s.GetSessionId())
	}
	slices.Sort(ids)
	p.calls = append(p.calls, "sync ["+strings.Join(ids, " ")+"]")
	return &presencev1.SyncSessionsResponse{}, nil
}

// TestReportQueue checks the bound of the pending reports and that a sync
// replaces the reports queued with it.
func TestReportQueue(t *testing.T) {
	rec := &recordingPresence{}
	srv := newDeliverServer(2, false, nil) // sessions "0" and "1"
	srv.opts.Presence, srv.opts.RPCTimeout = rec, time.Second

	q := srv.presenceReports
	srv.sessionOpened("0", 1)
	q.add(report{kind: reportClosed, sessionID: "9"})
	q.sendAll(context.Background(), q.take())
	if want := []string{"open 0", "close 9"}; !slices.Equal(rec.calls, want) {
		t.Errorf("reports sent = %q, want %q in order", rec.calls, want)
	}

	rec.calls = nil
	for i := range maxPendingReports {
		srv.sessionOpened(fmt.Sprint(i), 1)
	}
	if n := len(q.pending); n != maxPendingReports {
		t.Fatalf("%d reports queued, want %d", n, maxPendingReports)
	}
	q.add(report{kind: reportClosed, sessionID: "overflow"})
	pending := q.take()
	if len(pending) != 1 || pending[0].kind != reportSync {
		t.Fatalf("queue after overflowing = %v, want a single sync", pending)
	}
	srv.sessionOpened("x", 1)
	q.sendAll(context.Background(), append(pending, q.take()...))
	if want := []string{"sync [0 1]"}; !slices.Equal(rec.calls, want) {
		t.Errorf("reports sent after an overflow = %q, want %q (the hub's sessions)", rec.calls, want)
	}
}

// TestDeliverPresenceAllocs checks that a presence event is encoded once,
// not once per recipient, whether sent to every session or to listed users.
func TestDeliverPresenceAllocs(t *testing.T) {
	const n = 200
	srv := newDeliverServer(n, true, nil)
	all := &presencev1.Event{Payload: &presencev1.Event_Announcement{Announcement: &presencev1.Announcement{
		Title: "Maintenance", Message: "down at noon", Type: "maintenance", Priority: "high",
	}}}
	listed := &presencev1.Event{Payload: &presencev1.Event_StatusChanged{StatusChanged: &presencev1.StatusChanged{UserId: 5, Online: true}}}
	for i := range n {
		listed.UserIds = append(listed.UserIds, int64(i+1))
	}
	for name, ev := range map[string]*presencev1.Event{"announcement to all": all, "status to listed users": listed} {
		allocs := testing.AllocsPerRun(50, func() { srv.DeliverPresence(ev) })
		t.Logf("%s: %.1f allocs per event to %d sessions", name, allocs, n)
		if allocs/n > 1 {
			t.Errorf("%s: DeliverPresence allocates %.2f times per delivery, want well under 1", name, allocs/n)
		}
	}
}
