package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/internal/provision"
	"switchboard.dev/bridge/medianode"
)

const waitFor = 30 * time.Second

// flaky makes real in-process nodes, and fails on demand.
type flaky struct {
	inner         provision.InProcess
	failProvision atomic.Bool
	failStart     atomic.Bool

	mu        sync.Mutex
	instances map[string]*flakyInstance
}

func newFlaky() *flaky {
	return &flaky{inner: provision.InProcess{Node: medianode.Config{ICE: medianode.ICEConfig{Interfaces: []string{"lo"}}}},
		instances: map[string]*flakyInstance{}}
}

func (f *flaky) Provision(ctx context.Context, id string) (pool.Instance, error) {
	if f.failProvision.Load() {
		return nil, errors.New("provisioning refused by the test")
	}
	inst, err := f.inner.Provision(ctx, id)
	if err != nil {
		return nil, err
	}
	fi := &flakyInstance{Instance: inst, f: f}
	f.mu.Lock()
	f.instances[id] = fi
	f.mu.Unlock()
	return fi, nil
}

func (f *flaky) instance(id string) *flakyInstance {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.instances[id]
}

type flakyInstance struct {
	pool.Instance
	f      *flaky
	closed atomic.Bool
}

func (i *flakyInstance) Start(ctx context.Context) error {
	if i.f.failStart.Load() {
		return errors.New("start refused by the test")
	}
	return i.Instance.Start(ctx)
}

func (i *flakyInstance) Close() error {
	i.closed.Store(true)
	return i.Instance.Close()
}

// recorder is an Observer keeping the transitions.
type recorder struct {
	mu          sync.Mutex
	transitions []string
	starts      map[string]int
}

func (r *recorder) NodeState(from, to pool.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.transitions = append(r.transitions, from.String()+">"+to.String())
}

func (r *recorder) NodeStarted(kind string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.starts == nil {
		r.starts = map[string]int{}
	}
	r.starts[kind]++
}

func (r *recorder) count(transition string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, tr := range r.transitions {
		if tr == transition {
			n++
		}
	}
	return n
}

// run starts a pool with opts (Provisioner and Observer set here) until the
// test ends.
func run(t *testing.T, opts pool.Options) (*pool.Pool, *flaky, *recorder) {
	t.Helper()
	prov, rec := newFlaky(), &recorder{}
	opts.Provisioner, opts.Observer = prov, rec
	p, err := pool.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Errorf("Run did not return %v after its context ended", waitFor)
		}
	})
	return p, prov, rec
}

func waitNodes(t *testing.T, p *pool.Pool, what string, ok func([]pool.NodeInfo) bool) []pool.NodeInfo {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		nodes := p.Nodes()
		if ok(nodes) {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("Nodes() = %+v after %v, want %s", nodes, waitFor, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func states(ns []pool.NodeInfo) []pool.State {
	out := make([]pool.State, len(ns))
	for i, n := range ns {
		out[i] = n.State
	}
	return out
}

func wantStates(want ...pool.State) func([]pool.NodeInfo) bool {
	return func(ns []pool.NodeInfo) bool { return slices.Equal(states(ns), want) }
}

// ready waits until the lease's node is ready and returns Client's error.
func ready(t *testing.T, l *pool.Lease) error {
	t.Helper()
	select {
	case <-l.Ready():
	case <-time.After(waitFor):
		t.Fatalf("lease on %s not ready after %v", l.NodeID(), waitFor)
	}
	_, err := l.Client()
	return err
}

func acquire(t *testing.T, p *pool.Pool, want pool.Status) *pool.Lease {
	t.Helper()
	l, err := p.Acquire()
	if err != nil {
		t.Fatalf("Acquire() = %v, want a lease", err)
	}
	if l.Status() != want {
		t.Fatalf("Acquire() status = %v, want %v", l.Status(), want)
	}
	return l
}

func TestNewRefusesBadOptions(t *testing.T) {
	prov := newFlaky()
	tests := []pool.Options{
		{},
		{Provisioner: prov, MaxSize: -1},
		{Provisioner: prov, Capacity: -1},
		{Provisioner: prov, Warm: 3, MaxSize: 2},
		{Provisioner: prov, HealthInterval: -time.Second},
	}
	for _, opts := range tests {
		if _, err := pool.New(opts); err == nil {
			t.Errorf("New(%+v) = nil error, want one", opts)
		}
	}
}

func TestWarmNodesCapacityAndFull(t *testing.T) {
	p, _, rec := run(t, pool.Options{MaxSize: 2, Capacity: 2, Warm: 1})
	waitNodes(t, p, "one warm node ready", wantStates(pool.StateReady))

	a := acquire(t, p, pool.Waiting)
	b := acquire(t, p, pool.Waiting) // capacity 2: the same node
	if a.NodeID() != b.NodeID() {
		t.Errorf("two leases with capacity 2 on nodes %s and %s, want one node", a.NodeID(), b.NodeID())
	}
	if err := ready(t, a); err != nil {
		t.Fatalf("lease on a ready node: Client() = %v", err)
	}
	// The warm node is busy: another one is made.
	waitNodes(t, p, "a second warm node", wantStates(pool.StateAssigned, pool.StateReady))
	c := acquire(t, p, pool.Waiting)
	d := acquire(t, p, pool.Waiting)
	if _, err := p.Acquire(); !errors.Is(err, pool.ErrFull) {
		t.Errorf("Acquire() on a full pool = %v, want ErrFull", err)
	}
	for _, l := range []*pool.Lease{a, b, c, d} {
		l.Release()
		l.Release() // twice is harmless
	}
	waitNodes(t, p, "both nodes free", wantStates(pool.StateReady, pool.StateReady))
	if got := rec.count("provisioning>ready"); got != 2 {
		t.Errorf("provisioning>ready transitions = %d, want 2", got)
	}
}

func TestStoppedNodeRestartsBeforeNewOne(t *testing.T) {
	p, _, rec := run(t, pool.Options{MaxSize: 2, Warm: 0, IdleTimeout: 100 * time.Millisecond})
	l := acquire(t, p, pool.Pending)
	if err := ready(t, l); err != nil {
		t.Fatalf("lease on a new node: Client() = %v", err)
	}
	first := l.NodeID()
	l.Release()
	waitNodes(t, p, "the idle node stopped", wantStates(pool.StateStopped))

	l = acquire(t, p, pool.Pending)
	if l.NodeID() != first {
		t.Errorf("Acquire() with a stopped node took node %s, want the stopped %s", l.NodeID(), first)
	}
	if err := ready(t, l); err != nil {
		t.Fatalf("lease on a restarted node: Client() = %v", err)
	}
	for _, tr := range []string{"ready>stopped", "stopped>starting", "starting>ready", "ready>assigned"} {
		if rec.count(tr) < 1 {
			t.Errorf("transitions %v lack %s", rec.transitions, tr)
		}
	}
	if rec.starts["start"] != 1 || rec.starts["provision"] != 1 {
		t.Errorf("NodeStarted counts = %v, want one provision and one start", rec.starts)
	}
	l.Release()
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, p *pool.Pool, f *flaky)
		want    error
	}{
		{"provisioning fails", func(_ *testing.T, _ *pool.Pool, f *flaky) { f.failProvision.Store(true) }, pool.ErrProvisionFailed},
		{"a stopped node fails to start", func(t *testing.T, p *pool.Pool, f *flaky) {
			l := acquire(t, p, pool.Pending)
			if err := ready(t, l); err != nil {
				t.Fatalf("first lease: Client() = %v", err)
			}
			l.Release()
			waitNodes(t, p, "the idle node stopped", wantStates(pool.StateStopped))
			f.failStart.Store(true)
		}, pool.ErrStartFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, f, _ := run(t, pool.Options{MaxSize: 1, IdleTimeout: 100 * time.Millisecond})
			tt.prepare(t, p, f)
			l := acquire(t, p, pool.Pending)
			if err := ready(t, l); !errors.Is(err, tt.want) {
				t.Errorf("Client() = %v, want %v", err, tt.want)
			}
			l.Release()
			waitNodes(t, p, "the failed node removed", wantStates())
		})
	}
}

func TestDeadNodeIsReplaced(t *testing.T) {
	p, f, rec := run(t, pool.Options{MaxSize: 1, Warm: 1, HealthInterval: 50 * time.Millisecond, HealthTimeout: time.Second, HealthFailures: 2})
	nodes := waitNodes(t, p, "a warm node ready", wantStates(pool.StateReady))
	l := acquire(t, p, pool.Waiting)
	dead := nodes[0].ID
	// The node dies behind the pool's back.
	if err := f.instance(dead).Instance.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(waitFor):
		t.Fatalf("lease on dead node %s not lost after %v", dead, waitFor)
	}
	if _, err := l.Client(); !errors.Is(err, pool.ErrNodeLost) {
		t.Errorf("Client() on a lost node = %v, want ErrNodeLost", err)
	}
	l.Release()
	waitNodes(t, p, "a new node in place of "+dead, func(ns []pool.NodeInfo) bool {
		return len(ns) == 1 && ns[0].ID != dead && ns[0].State == pool.StateReady
	})
	if !f.instance(dead).closed.Load() {
		t.Errorf("dead node %s not closed", dead)
	}
	if got := rec.count("assigned>failed"); got != 1 {
		t.Errorf("assigned>failed transitions = %d, want 1", got)
	}
}

func TestRunEndClosesEverything(t *testing.T) {
	prov := newFlaky()
	p, err := pool.New(pool.Options{Provisioner: prov, MaxSize: 2, Warm: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p.Run(ctx)
		close(done)
	}()
	nodes := waitNodes(t, p, "a warm node ready", wantStates(pool.StateReady))
	l := acquire(t, p, pool.Waiting)
	cancel()
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatalf("Run did not return %v after its context ended", waitFor)
	}
	select {
	case <-l.Lost():
	default:
		t.Errorf("a lease's Lost is open after Run returned")
	}
	if !prov.instance(nodes[0].ID).closed.Load() {
		t.Errorf("node %s not closed after Run returned", nodes[0].ID)
	}
	if _, err := p.Acquire(); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Acquire() after Run = %v, want ErrClosed", err)
	}
	if n := len(p.Nodes()); n != 0 {
		t.Errorf("Nodes() after Run lists %d nodes, want none", n)
	}
}

func TestStateNames(t *testing.T) {
	var got []string
	for _, s := range pool.States() {
		got = append(got, s.String())
	}
	want := []string{"provisioning", "ready", "assigned", "stopped", "starting", "failed"}
	if !slices.Equal(got, want) {
		t.Errorf("States() names = %v, want %v", got, want)
	}
	if s := fmt.Sprint(pool.State(42)); s != "state42" {
		t.Errorf("State(42) = %q, want state42", s)
	}
}
