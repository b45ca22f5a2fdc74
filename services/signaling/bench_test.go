package signaling_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

// BenchmarkRelay measures relayed signals (ICE candidates) through the
// service over loopback gRPC, each one committed (fsync, group commit) and
// streamed to a subscribed edge, with 64 callers relaying at once as the
// participants of 32 two-party calls would.
func BenchmarkRelay(b *testing.B) {
	f := newFixture(b)
	cfg := f.config()
	cfg.Now = nil
	cfg.MaxSignalBytes = 0
	s := start(b, cfg)
	st, err := s.api.Subscribe(context.Background(), &signalingv1.SubscribeRequest{EdgeId: "edge-bench"})
	if err != nil {
		b.Fatal(err)
	}
	go func() { // the edge's side: drain the stream until the service stops
		for {
			if _, err := st.Recv(); err != nil {
				return
			}
		}
	}()
	const calls = 32
	type pair struct {
		from *signalingv1.Caller
		room int64
		to   int64
	}
	var pairs []pair
	for i := range calls {
		a := caller("edge-bench", fmt.Sprint("a", i), 1)
		c := caller("edge-bench", fmt.Sprint("c", i), 3)
		room := s.create(b, a, chatroom, fmt.Sprint("call ", i)).GetVideoRoomId()
		s.join(b, c, room)
		pairs = append(pairs, pair{a, room, 3}, pair{c, room, 1})
	}
	payload := []byte(`{"candidate":"candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, p := range pairs {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				_, err := s.api.Relay(context.Background(), &signalingv1.RelayRequest{Caller: p.from, VideoRoomId: p.room,
					TargetUserId: p.to, Kind: signalingv1.SignalKind_SIGNAL_KIND_ICE_CANDIDATE, Payload: payload})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "relays/s")
}
