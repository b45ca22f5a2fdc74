package crash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/cli/internal/token"
)

// Config is one crash test.
type Config struct {
	// BinDir holds authd, chatd, presenced, signalingd and edged.
	BinDir string
	// Dir receives the stores and the processes' logs; it should be empty.
	Dir string
	// Kills is how many processes are killed, one after another.
	Kills int
	// Seed makes the kill schedule reproducible.
	Seed uint64
	// Rooms, Senders (per room) and Receivers (members of every room) are
	// the load; each sender sends a message every Pace once the previous
	// one is acknowledged.
	Rooms, Senders, Receivers int
	Pace                      time.Duration
	// MinGap and MaxGap bound the random pause between a recovery and the
	// next kill.
	MinGap, MaxGap time.Duration
	// RecoveryTimeout bounds the wait for the cluster to serve again after
	// a kill; Drain the wait for the last messages and catch-ups.
	RecoveryTimeout, Drain time.Duration
	// Progress receives a line per kill; nil discards them.
	Progress io.Writer
}

// Defaults of Config.
const (
	DefaultKills           = 100
	DefaultRooms           = 4
	DefaultSenders         = 3
	DefaultReceivers       = 6
	DefaultPace            = time.Millisecond
	DefaultMinGap          = 200 * time.Millisecond
	DefaultMaxGap          = 1500 * time.Millisecond
	DefaultRecoveryTimeout = 60 * time.Second
	DefaultDrain           = 60 * time.Second
)

// Test ids: rooms 1..Rooms, senders from senderBase, receivers from
// receiverBase, one probe user per edge in probeRoom.
const (
	senderBase   = 1000
	receiverBase = 2000
	probeBase    = 9000
	probeRoom    = 100
	secret       = "crash-test-secret-0123456789abcdef0123456789abcdef0123456789abcdef"
)

// Report is what the crash test saw, printed as JSON.
type Report struct {
	Kills         int            `json:"kills"`
	KillsByTarget map[string]int `json:"kills_by_target"`
	DurationS     float64        `json:"duration_s"`
	Seed          uint64         `json:"seed"`
	// Messages: sent (distinct), acknowledged, resends, and the failures.
	Sent    int `json:"sent"`
	Acked   int `json:"acked"`
	Resends int `json:"resends"`
	// Deduplicated counts resends answered as duplicates: messages stored
	// whose acknowledgement had been lost, that the resend did not store
	// again.
	Deduplicated int `json:"deduplicated"`
	Lost         int `json:"lost"`       // acknowledged, not in the history
	Duplicated   int `json:"duplicated"` // stored more than once
	Unacked      int `json:"unacked"`    // never acknowledged by the end
	Refused      int `json:"refused"`    // refused for good
	// History: messages of the test's rooms, and ids missing among them.
	History     int `json:"history"`
	HistoryGaps int `json:"history_gaps"`
	// Receivers: connections; ids dropped as held already: read from
	// history and then delivered live (overlap, expected) or delivered live
	// twice on one connection (redelivered, a failure); live gaps;
	// messages missing or different at the end.
	Receivers   int `json:"receivers"`
	Connections int `json:"receiver_connections"`
	Overlap     int `json:"catch_up_overlap"`
	Redelivered int `json:"redelivered"`
	LiveGaps    int `json:"live_gaps"`
	Missing     int `json:"receiver_missing"`
	// Recovery: from a kill until the killed process serves again and a
	// new client can CONNECT and have a message acknowledged on every edge.
	RecoveryP50Ms float64                     `json:"recovery_p50_ms"`
	RecoveryP99Ms float64                     `json:"recovery_p99_ms"`
	RecoveryMaxMs float64                     `json:"recovery_max_ms"`
	ByTarget      map[string]TargetRecoveryMs `json:"recovery_by_target_ms"`
	Unrecovered   int                         `json:"unrecovered"`
	StoresChecked int                         `json:"stores_checked"`
	StoreErrors   []string                    `json:"store_errors,omitempty"`
	Problems      []string                    `json:"problems,omitempty"`
	recoveries    map[string][]time.Duration
}

// TargetRecoveryMs is the recovery of one kind of process.
type TargetRecoveryMs struct {
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

// OK reports whether the test found nothing wrong.
func (r *Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Unacked == 0 && r.Refused == 0 && r.HistoryGaps == 0 &&
		r.LiveGaps == 0 && r.Redelivered == 0 && r.Missing == 0 && r.Unrecovered == 0 &&
		len(r.StoreErrors) == 0 && len(r.Problems) == 0
}

func (c *Config) defaults() {
	if c.Kills <= 0 {
		c.Kills = DefaultKills
	}
	if c.Rooms <= 0 {
		c.Rooms = DefaultRooms
	}
	if c.Senders <= 0 {
		c.Senders = DefaultSenders
	}
	if c.Receivers <= 0 {
		c.Receivers = DefaultReceivers
	}
	if c.Pace <= 0 {
		c.Pace = DefaultPace
	}
	if c.MinGap <= 0 {
		c.MinGap = DefaultMinGap
	}
	if c.MaxGap < c.MinGap {
		c.MaxGap = max(DefaultMaxGap, c.MinGap)
	}
	if c.RecoveryTimeout <= 0 {
		c.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Run starts the cluster, runs the load while killing and restarting its
// processes, then stops it and checks what the clients saw and the stores.
// An error means the test could not run; a failed check is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if cfg.Dir == "" || cfg.BinDir == "" {
		return nil, errors.New("crash: BinDir and Dir are required")
	}
	start := time.Now()
	cl, err := newCluster(cfg.BinDir, cfg.Dir, secret, 2)
	if err != nil {
		return nil, err
	}
	defer cl.stopAll(15 * time.Second)
	setupCtx, cancel := context.WithTimeout(ctx, cfg.RecoveryTimeout)
	defer cancel()
	if err := cl.startAll(setupCtx); err != nil {
		return nil, err
	}
	minter, err := token.NewMinter(secret, "HS256")
	if err != nil {
		return nil, err
	}
	edges := make([]string, len(cl.edges))
	for i, e := range cl.edges {
		edges[i] = e.addr
	}
	rooms := make([]int64, cfg.Rooms)
	for i := range rooms {
		rooms[i] = int64(i + 1)
	}
	if err := createRooms(setupCtx, cl.chat.addr, append(slices.Clone(rooms), probeRoom)); err != nil {
		return nil, err
	}
	probes := make([]*probe, len(edges))
	for i, addr := range edges {
		probes[i] = &probe{addr: addr, user: probeBase + int64(i), minter: minter}
		if err := probes[i].join(setupCtx); err != nil {
			return nil, err
		}
	}

	// Receivers first, members of every room before the first message.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	finish := make(chan struct{})
	var clients sync.WaitGroup
	receivers := make([]*receiver, cfg.Receivers)
	for i := range receivers {
		r := newReceiver(receiverBase+int64(i), rooms, rotate(edges, i), minter)
		receivers[i] = r
		clients.Go(func() { r.run(loadCtx, finish) })
	}
	for _, r := range receivers {
		select {
		case <-r.ready:
		case <-setupCtx.Done():
			return nil, fmt.Errorf("receivers did not join: %w", setupCtx.Err())
		}
	}
	var senders []*sender
	for i, room := range rooms {
		for j := range cfg.Senders {
			s := newSender(senderBase+int64(i*cfg.Senders+j), room, rotate(edges, i+j), minter, cfg.Pace)
			if err := s.join(setupCtx); err != nil {
				return nil, err
			}
			senders = append(senders, s)
		}
	}
	stop := make(chan struct{})
	var sending sync.WaitGroup
	for _, s := range senders {
		sending.Go(func() { s.run(loadCtx, stop) })
	}

	rep := &Report{KillsByTarget: map[string]int{}, Seed: cfg.Seed, recoveries: map[string][]time.Duration{}}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	targets := cl.procs // chat, presence, signaling, auth, then each edge
	var all []time.Duration
	for k := 0; k < cfg.Kills && ctx.Err() == nil; k++ {
		gap := cfg.MinGap + time.Duration(rng.Int64N(int64(cfg.MaxGap-cfg.MinGap)+1))
		sleepCtx(ctx, gap)
		p := targets[k%len(targets)]
		d, err := killAndRecover(ctx, p, probes, cfg.RecoveryTimeout)
		rep.Kills++
		rep.KillsByTarget[p.name]++
		if err != nil {
			rep.Unrecovered++
			rep.Problems = append(rep.Problems, fmt.Sprintf("kill %d (%s): %v", k+1, p.name, err))
			fmt.Fprintf(cfg.Progress, "sbcrash: kill %d/%d: %s did not recover: %v\n", k+1, cfg.Kills, p.name, err)
			break
		}
		rep.recoveries[p.name] = append(rep.recoveries[p.name], d)
		all = append(all, d)
		fmt.Fprintf(cfg.Progress, "sbcrash: kill %d/%d: %s, serving again after %v\n", k+1, cfg.Kills, p.name, d.Round(time.Millisecond))
	}

	// Stop sending; let the messages in hand finish and every receiver
	// catch up, within the drain.
	close(stop)
	drained := make(chan struct{})
	go func() { sending.Wait(); close(finish); clients.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(cfg.Drain):
		rep.Problems = append(rep.Problems, fmt.Sprintf("the clients did not finish within %v", cfg.Drain))
		stopLoad()
		<-drained
	}

	histories, err := readHistories(ctx, cl.chat.addr, rooms)
	if err != nil {
		return nil, err
	}
	check(rep, senders, receivers, histories)
	rep.RecoveryP50Ms, rep.RecoveryP99Ms, rep.RecoveryMaxMs = quantileMs(all, 0.5), quantileMs(all, 0.99), quantileMs(all, 1)
	rep.ByTarget = map[string]TargetRecoveryMs{}
	for name, ds := range rep.recoveries {
		rep.ByTarget[name] = TargetRecoveryMs{P50: quantileMs(ds, 0.5), Max: quantileMs(ds, 1)}
	}
	if killed := cl.stopAll(15 * time.Second); len(killed) > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("did not stop within 15 s of SIGTERM: %v", killed))
	}
	rep.StoresChecked, rep.StoreErrors = checkStores(cfg.Dir)
	rep.DurationS = time.Since(start).Round(time.Millisecond).Seconds()
	return rep, nil
}

// rotate returns addrs starting at the i-th (mod len), so that the clients
// spread over the edges.
func rotate(addrs []string, i int) []string {
	i %= len(addrs)
	return append(slices.Clone(addrs[i:]), addrs[:i]...)
}

// killAndRecover kills p, restarts it and returns how long until it serves
// again and every probe has a message acknowledged.
func killAndRecover(ctx context.Context, p *proc, probes []*probe, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := p.kill(); err != nil {
		return 0, err
	}
	if err := p.start(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.waitHealthy(ctx); err != nil {
		return 0, err
	}
	for _, pr := range probes {
		if err := pr.untilAcked(ctx); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// createRooms creates the test's rooms through the chat admin API.
func createRooms(ctx context.Context, chatAddr string, ids []int64) error {
	cc, err := grpc.NewClient(chatAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	admin := chatv1.NewChatAdminServiceClient(cc)
	for _, id := range ids {
		if _, err := admin.CreateRoom(ctx, &chatv1.CreateRoomRequest{Id: id, Name: "crash " + strconv.FormatInt(id, 10)}); err != nil {
			return fmt.Errorf("create room %d: %w", id, err)
		}
	}
	return nil
}

// readHistories reads every message of the rooms through the chat admin
// API, oldest first.
func readHistories(ctx context.Context, chatAddr string, rooms []int64) (map[int64][]*chatv1.Message, error) {
	cc, err := grpc.NewClient(chatAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	admin := chatv1.NewChatAdminServiceClient(cc)
	out := map[int64][]*chatv1.Message{}
	for _, room := range rooms {
		var after int64
		for {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := admin.ListRoomMessages(rctx, &chatv1.ListRoomMessagesRequest{RoomId: room, AfterId: &after, Limit: 100})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("read history of room %d: %w", room, err)
			}
			out[room] = append(out[room], resp.GetMessages()...)
			if n := len(resp.GetMessages()); n > 0 {
				after = resp.GetMessages()[n-1].GetId()
			}
			if !resp.GetHasMore() || len(resp.GetMessages()) == 0 {
				break
			}
		}
	}
	return out, nil
}

// check compares what the senders and receivers saw with the histories.
func check(rep *Report, senders []*sender, receivers []*receiver, histories map[int64][]*chatv1.Message) {
	problem := func(format string, args ...any) {
		if len(rep.Problems) < 20 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	// Each room's history: ids 1, 2, 3, … and each client_msg_id once.
	stored := map[int64]map[string][]int64{} // room → client_msg_id → ids
	for room, msgs := range histories {
		stored[room] = map[string][]int64{}
		rep.History += len(msgs)
		for i, m := range msgs {
			if m.GetId() != int64(i+1) {
				rep.HistoryGaps++
				problem("room %d: history position %d holds id %d", room, i+1, m.GetId())
			}
			stored[room][m.GetClientMsgId()] = append(stored[room][m.GetClientMsgId()], m.GetId())
		}
		for id, ids := range stored[room] {
			if len(ids) > 1 {
				rep.Duplicated += len(ids) - 1
				problem("room %d: client_msg_id %q stored %d times (ids %v)", room, id, len(ids), ids)
			}
		}
	}
	// Every acknowledged message is stored once, under the id acknowledged.
	for _, s := range senders {
		rep.Sent += len(s.order)
		rep.Acked += len(s.acked)
		rep.Resends += s.resends
		rep.Deduplicated += s.dups
		rep.Refused += len(s.refused)
		for _, r := range s.refused {
			problem("user %d: message refused: %s", s.user, r)
		}
		if s.inFlight != "" {
			rep.Unacked++
			problem("user %d: message %s never acknowledged", s.user, s.inFlight)
		}
		for id, msgID := range s.acked {
			ids := stored[s.room][id]
			if len(ids) == 0 {
				rep.Lost++
				problem("room %d: acknowledged message %s (id %d) is not in the history", s.room, id, msgID)
			} else if ids[0] != msgID {
				problem("room %d: message %s acknowledged as id %d, stored as %v", s.room, id, msgID, ids)
			}
		}
	}
	// Every receiver holds its rooms' whole histories, message for message.
	for _, r := range receivers {
		rep.Receivers++
		rep.Connections += r.conns
		rep.Overlap += r.overlap
		rep.Redelivered += r.redelivered
		rep.LiveGaps += len(r.gaps)
		for _, g := range r.gaps {
			problem("%s", g)
		}
		if !r.done {
			problem("user %d: the final catch-up did not complete", r.user)
		}
		for _, room := range r.rooms {
			h := histories[room]
			if int(r.last[room]) != len(h) {
				rep.Missing += max(len(h)-int(r.last[room]), 0)
				problem("user %d room %d: holds ids up to %d of %d", r.user, room, r.last[room], len(h))
			}
			for _, m := range h {
				if got, ok := r.got[room][m.GetId()]; ok && got != m.GetClientMsgId() {
					problem("user %d room %d: message %d is %q, the history says %q", r.user, room, m.GetId(), got, m.GetClientMsgId())
				}
			}
		}
	}
}

// checkStores runs bbolt's consistency check on every store under dir.
func checkStores(dir string) (int, []string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.db"))
	var errs []string
	for _, f := range files {
		db, err := bolt.Open(f, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		err = db.View(func(tx *bolt.Tx) error {
			for cerr := range tx.Check() {
				errs = append(errs, fmt.Sprintf("%s: %v", f, cerr))
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", f, err))
		}
		db.Close()
	}
	if len(files) == 0 {
		errs = append(errs, "no store found under "+dir)
	}
	return len(files), errs
}

// quantileMs returns the q-quantile of ds in milliseconds (0 when empty).
func quantileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(int(q*float64(len(s))), len(s)-1)
	if q >= 1 {
		i = len(s) - 1
	}
	return float64(s[i].Microseconds()) / 1000
}

// MkdirTemp makes a fresh directory for a test run under dir (the system's
// temporary directory when empty).
func MkdirTemp(dir string) (string, error) {
	return os.MkdirTemp(dir, "sbcrash-")
}
