// Package pool keeps the bridge's media nodes: it provisions them through a
// Provisioner, hands out session slots (leases) on them, keeps warm nodes
// ready, stops nodes that stayed idle, restarts a stopped node before it
// provisions a new one, and takes out of the pool a node that fails its
// health checks so that a new one replaces it.
//
// A node moves through these states (docs/bridge.md has the rules):
//
//	               provisioned               a slot taken
//	provisioning ──────────────▶ ready ───────────────────▶ assigned
//	     │                        ▲  │  ◀───────────────────    │
//	     │                started │  │ idle   last slot freed   │
//	     │                        │  └─timeout─┐                │
//	     │                        │            ▼                │
//	     │                     starting ◀─slot─ stopped         │
//	     │ cannot start           │ cannot start                │ health checks fail
//	     ▼                        ▼                             ▼ (from ready too)
//	   failed: closed and removed; the warm nodes replace it
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	mediav1 "switchboard.dev/api/gen/switchboard/media/v1"
)

// State is where a node is in its life.
type State int

// The states of a node. StateNone is not a state: it is the origin of a new
// node and the destination of a removed one in Observer.NodeState.
const (
	StateNone State = iota
	// StateProvisioning: the provisioner is making the node.
	StateProvisioning
	// StateReady: the node runs and has no session.
	StateReady
	// StateAssigned: the node runs sessions (it may have free slots).
	StateAssigned
	// StateStopped: the node was stopped after an idle timeout; it is
	// started again before a new node is provisioned.
	StateStopped
	// StateStarting: a stopped node is being started again.
	StateStarting
	// StateFailed: the node could not be provisioned or started, or failed
	// its health checks; it is being removed.
	StateFailed
)

var stateNames = [...]string{"none", "provisioning", "ready", "assigned", "stopped", "starting", "failed"}

// String returns the state's lower-case name.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "state" + strconv.Itoa(int(s))
	}
	return stateNames[s]
}

// States lists the states a node can be in.
func States() []State {
	return []State{StateProvisioning, StateReady, StateAssigned, StateStopped, StateStarting, StateFailed}
}

func (s State) running() bool { return s == StateReady || s == StateAssigned }
func (s State) pending() bool { return s == StateProvisioning || s == StateStarting }

// Errors of Acquire and Lease.Client.
var (
	// ErrFull: the pool is at its maximum size and every node is busy.
	ErrFull = errors.New("maximum pool size reached")
	// ErrStartFailed: the stopped node the lease was on could not start.
	ErrStartFailed = errors.New("failed to start a stopped node")
	// ErrProvisionFailed: the new node the lease was on could not be
	// provisioned.
	ErrProvisionFailed = errors.New("failed to provision a node")
	// ErrNodeLost: the node failed its health checks.
	ErrNodeLost = errors.New("media node lost")
	// ErrClosed: the pool is shut down.
	ErrClosed = errors.New("pool closed")
)

// Provisioner makes nodes. It is called from the pool's goroutines, one
// call per node at a time.
type Provisioner interface {
	// Provision makes and starts a node named id and returns it once it
	// listens.
	Provision(ctx context.Context, id string) (Instance, error)
}

// Instance is a node a Provisioner made.
type Instance interface {
	// Addr is the node's gRPC address while it runs.
	Addr() string
	// Stop stops the node, keeping what Start needs to run it again.
	Stop(ctx context.Context) error
	// Start runs a stopped node again; its address may change.
	Start(ctx context.Context) error
	// Close stops the node for good and releases what it holds; it may be
	// called in any state.
	Close() error
}

// Observer is told what happens to the nodes, for metrics. Its methods are
// called with the pool's lock held: they must be quick and must not call
// the pool.
type Observer interface {
	// NodeState records a node's move; from is StateNone for a new node,
	// to is StateNone for a removed one.
	NodeState(from, to State)
	// NodeStarted records how long a node took to become ready: kind is
	// "provision" for a new node and "start" for a stopped one.
	NodeStarted(kind string, d time.Duration)
}

// Defaults of Options.
const (
	DefaultMaxSize          = 4
	DefaultCapacity         = 1
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultHealthInterval   = 5 * time.Second
	DefaultHealthTimeout    = 2 * time.Second
	DefaultHealthFailures   = 2
	DefaultProvisionTimeout = 30 * time.Second
)

// Options configure a Pool. Zero values mean the defaults.
type Options struct {
	// Provisioner makes the nodes. Required.
	Provisioner Provisioner
	// MaxSize bounds the nodes, stopped ones included; default
	// DefaultMaxSize.
	MaxSize int
	// Capacity is how many sessions a node runs at once (lowered to the
	// node's own max_sessions when it has one); default DefaultCapacity.
	Capacity int
	// Warm is how many idle nodes are kept ready (or being made ready)
	// ahead of demand, within MaxSize; 0 makes nodes on demand only.
	Warm int
	// IdleTimeout is how long a ready node without sessions runs before it
	// is stopped (warm nodes excepted); default DefaultIdleTimeout,
	// negative never stops nodes.
	IdleTimeout time.Duration
	// HealthInterval is the period of the health checks of running nodes;
	// default DefaultHealthInterval.
	HealthInterval time.Duration
	// HealthTimeout bounds one health check; default DefaultHealthTimeout.
	HealthTimeout time.Duration
	// HealthFailures is how many consecutive failed checks fail a node;
	// default DefaultHealthFailures.
	HealthFailures int
	// ProvisionTimeout bounds the making, starting or stopping of a node,
	// until it serves; default DefaultProvisionTimeout.
	ProvisionTimeout time.Duration
	// Observer, when set, is told of every state change and start.
	Observer Observer
	// Logger receives the pool's records; nil discards them.
	Logger *slog.Logger
}

// Pool keeps the media nodes. Acquire may be called before and while Run
// runs; Run starts the nodes' work.
type Pool struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}

	mu     sync.Mutex
	closed bool
	nodes  []*node
	seq    int
	jobs   []func(context.Context) // work for Run to start
}

// attempt is one provisioning or start of a node: ready is closed when it
// ends, err says how (nil: the node runs).
type attempt struct {
	ready chan struct{}
	err   error
}

// done is the attempt of leases on running nodes.
var done = func() *attempt {
	a := &attempt{ready: make(chan struct{})}
	close(a.ready)
	return a
}()

type node struct {
	id    string
	state State
	inst  Instance // nil until provisioned
	conn  *grpc.ClientConn
	cli   mediav1.MediaNodeServiceClient
	cap   int
	gen   int // counts the starts, to ignore late health checks

	leases    int
	idleSince time.Time
	att       *attempt
	lost      chan struct{} // closed when the node failed
	lostDone  bool
	busy      bool // a provision, start, stop or close runs on it
	// startAfterStop: a lease came while the node was being stopped
	startAfterStop bool
	checking       bool
	fails          int
	startedAt      time.Time
}

// New returns a pool without nodes; Run makes them.
func New(opts Options) (*Pool, error) {
	if opts.Provisioner == nil {
		return nil, errors.New("pool: no provisioner")
	}
	if opts.MaxSize < 0 || opts.Capacity < 0 || opts.Warm < 0 || opts.HealthInterval < 0 || opts.HealthTimeout < 0 || opts.HealthFailures < 0 || opts.ProvisionTimeout < 0 {
		return nil, errors.New("pool: negative size, capacity, warm nodes, health or provision setting")
	}
	setDefault(&opts.MaxSize, DefaultMaxSize)
	setDefault(&opts.Capacity, DefaultCapacity)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&opts.HealthInterval, DefaultHealthInterval)
	setDefault(&opts.HealthTimeout, DefaultHealthTimeout)
	setDefault(&opts.HealthFailures, DefaultHealthFailures)
	setDefault(&opts.ProvisionTimeout, DefaultProvisionTimeout)
	if opts.Warm > opts.MaxSize {
		return nil, fmt.Errorf("pool: %d warm nodes exceed the maximum size %d", opts.Warm, opts.MaxSize)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{opts: opts, log: log, kick: make(chan struct{}, 1)}, nil
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// Status is what a lease's node was doing when the lease was taken.
type Status int

const (
	// Waiting: the node runs and waits for the session's offer.
	Waiting Status = iota + 1
	// Pending: the node is being provisioned or started.
	Pending
)

// Lease is a session's slot on a node, from Acquire to Release.
type Lease struct {
	p      *Pool
	n      *node
	status Status
	att    *attempt
	once   sync.Once
}

// Status is the node's status when the lease was taken.
func (l *Lease) Status() Status { return l.status }

// NodeID names the lease's node.
func (l *Lease) NodeID() string { return l.n.id }

// Ready is closed once the node runs or could not be made to run; then
// Client tells which.
func (l *Lease) Ready() <-chan struct{} { return l.att.ready }

// Lost is closed when the node fails its health checks.
func (l *Lease) Lost() <-chan struct{} { return l.n.lost }

// Client returns the node's client once Ready is closed. The error is
// ErrStartFailed or ErrProvisionFailed (wrapping the cause) when the node
// could not be made to run, ErrNodeLost when it failed since.
func (l *Lease) Client() (mediav1.MediaNodeServiceClient, error) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	select {
	case <-l.att.ready:
	default:
		return nil, errors.New("pool: node not ready yet")
	}
	switch {
	case l.att.err != nil:
		return nil, l.att.err
	case l.n.lostDone || !l.n.state.running():
		return nil, ErrNodeLost
	}
	return l.n.cli, nil
}

// Release frees the slot. It may be called more than once.
func (l *Lease) Release() {
	l.once.Do(func() {
		p := l.p
		p.mu.Lock()
		defer p.mu.Unlock()
		n := l.n
		n.leases--
		if n.state == StateAssigned && n.leases == 0 {
			p.transition(n, StateReady)
			n.idleSince = time.Now()
		}
		p.kickLocked()
	})
}

// Acquire takes a session slot: on a running node when one has a free slot
// (Waiting), else on a node being made ready, a stopped node it starts, or
// a new node it provisions (Pending). It returns ErrFull when the pool is
// at its maximum size and no node has a free slot.
func (p *Pool) Acquire() (*Lease, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	var best *node
	for _, n := range p.nodes {
		if n.state.running() && n.leases < n.cap && (best == nil || n.leases > best.leases) {
			best = n // the busiest node with room: idle nodes stay idle, to be stopped
		}
	}
	if best != nil {
		best.leases++
		if best.state == StateReady {
			p.transition(best, StateAssigned)
			p.kickLocked() // one idle node less: maybe a warm one to make
		}
		return &Lease{p: p, n: best, status: Waiting, att: done}, nil
	}
	for _, n := range p.nodes {
		if n.state.pending() && n.leases < n.cap {
			n.leases++
			p.kickLocked()
			return &Lease{p: p, n: n, status: Pending, att: n.att}, nil
		}
	}
	n := p.stoppedLocked()
	if n != nil {
		p.startLocked(n)
	} else if p.sizeLocked() < p.opts.MaxSize {
		n = p.provisionLocked()
	} else {
		return nil, ErrFull
	}
	n.leases++
	return &Lease{p: p, n: n, status: Pending, att: n.att}, nil
}

// NodeInfo describes a node, for tests and operators.
type NodeInfo struct {
	// ID names the node.
	ID string
	// State is the node's state.
	State State
	// Sessions counts the node's leases.
	Sessions int
	// Addr is the node's address while it runs.
	Addr string
}

// Nodes describes the nodes, in the order they were made.
func (p *Pool) Nodes() []NodeInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]NodeInfo, 0, len(p.nodes))
	for _, n := range p.nodes {
		info := NodeInfo{ID: n.id, State: n.state, Sessions: n.leases}
		if n.state.running() {
			info.Addr = n.inst.Addr()
		}
		out = append(out, info)
	}
	return out
}

// Run does the pool's work until ctx is done: it makes the warm nodes,
// provisions and starts nodes for the leases, stops idle nodes and checks
// the running ones' health. Then it closes every node and returns; Acquire
// fails with ErrClosed from then on.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	health := time.NewTicker(p.opts.HealthInterval)
	defer health.Stop()
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	check := false
	for {
		jobs, next := p.reconcile(time.Now(), check)
		check = false
		for _, job := range jobs {
			wg.Go(func() { job(ctx) })
		}
		idle.Stop()
		if !next.IsZero() {
			idle.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			p.shutdown(&wg)
			return
		case <-p.kick:
		case <-idle.C:
		case <-health.C:
			check = true
		}
	}
}

// reconcile, under the lock, makes the warm nodes, stops the nodes idle
// for too long, starts the health checks when check is set, and returns
// the queued work and when the next idle node is due.
func (p *Pool) reconcile(now time.Time, check bool) ([]func(context.Context), time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	idleNodes := 0
	for _, n := range p.nodes {
		if (n.state == StateReady || n.state.pending()) && n.leases == 0 {
			idleNodes++
		}
	}
	for ; idleNodes < p.opts.Warm; idleNodes++ {
		if n := p.stoppedLocked(); n != nil {
			p.startLocked(n)
		} else if p.sizeLocked() < p.opts.MaxSize {
			p.provisionLocked()
		} else {
			break
		}
	}

	var next time.Time
	if p.opts.IdleTimeout > 0 {
		var candidates []*node
		for _, n := range p.nodes {
			if n.state == StateReady && n.leases == 0 && !n.busy {
				candidates = append(candidates, n)
			}
		}
		slices.SortFunc(candidates, func(a, b *node) int { return a.idleSince.Compare(b.idleSince) })
		for _, n := range candidates {
			due := n.idleSince.Add(p.opts.IdleTimeout)
			switch {
			case idleNodes <= p.opts.Warm:
				// kept warm; a new idle node or a lease reconciles again
			case !due.After(now):
				p.stopLocked(n)
				idleNodes--
			case next.IsZero() || due.Before(next):
				next = due
			}
		}
	}

	if check {
		for _, n := range p.nodes {
			if n.state.running() && !n.busy && !n.checking {
				n.checking = true
				p.jobs = append(p.jobs, p.healthJob(n, n.gen, n.conn))
			}
		}
	}
	jobs := p.jobs
	p.jobs = nil
	return jobs, next
}

func (p *Pool) sizeLocked() int {
	size := 0
	for _, n := range p.nodes {
		if n.state != StateFailed {
			size++
		}
	}
	return size
}

func (p *Pool) stoppedLocked() *node {
	for _, n := range p.nodes {
		if n.state == StateStopped {
			return n
		}
	}
	return nil
}

func (p *Pool) kickLocked() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Pool) transition(n *node, to State) {
	from := n.state
	n.state = to
	p.log.Debug("media node state", "node", n.id, "from", from.String(), "to", to.String())
	if p.opts.Observer != nil {
		p.opts.Observer.NodeState(from, to)
	}
}

// provisionLocked adds a node in StateProvisioning and queues its making.
func (p *Pool) provisionLocked() *node {
	p.seq++
	n := &node{id: "node-" + strconv.Itoa(p.seq), cap: p.opts.Capacity, lost: make(chan struct{})}
	p.nodes = append(p.nodes, n)
	p.transition(n, StateProvisioning)
	n.att = &attempt{ready: make(chan struct{})}
	n.busy = true
	n.startedAt = time.Now()
	p.jobs = append(p.jobs, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, p.opts.ProvisionTimeout)
		defer cancel()
		inst, err := p.opts.Provisioner.Provision(ctx, n.id)
		var (
			conn *grpc.ClientConn
			max  int
		)
		if err == nil {
			conn, max, err = p.connect(ctx, inst.Addr())
			if err != nil {
				_ = inst.Close()
				inst = nil
			}
		}
		p.started(n, inst, conn, max, err, "provision")
	})
	p.kickLocked()
	return n
}

// startLocked moves a stopped node to StateStarting and queues its start,
// or leaves it to the stop in progress to queue.
func (p *Pool) startLocked(n *node) {
	p.transition(n, StateStarting)
	n.att = &attempt{ready: make(chan struct{})}
	n.startedAt = time.Now()
	if n.busy {
		n.startAfterStop = true
		return
	}
	p.queueStartLocked(n)
}

func (p *Pool) queueStartLocked(n *node) {
	n.busy = true
	inst := n.inst
	p.jobs = append(p.jobs, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, p.opts.ProvisionTimeout)
		defer cancel()
		err := inst.Start(ctx)
		var (
			conn *grpc.ClientConn
			max  int
		)
		if err == nil {
			conn, max, err = p.connect(ctx, inst.Addr())
		}
		p.started(n, inst, conn, max, err, "start")
	})
	p.kickLocked()
}

// started records the end of a provisioning or a start.
func (p *Pool) started(n *node, inst Instance, conn *grpc.ClientConn, max int, err error, kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n.busy = false
	n.inst = inst
	if err != nil {
		sentinel := ErrProvisionFailed
		if kind == "start" {
			sentinel = ErrStartFailed
		}
		p.log.Error("media node "+kind+" failed", "node", n.id, "err", err)
		n.att.err = fmt.Errorf("%w: %w", sentinel, err)
		close(n.att.ready)
		p.failLocked(n)
		return
	}
	n.conn = conn
	n.cli = mediav1.NewMediaNodeServiceClient(conn)
	n.gen++
	n.fails = 0
	n.cap = p.opts.Capacity
	if max > 0 && max < n.cap {
		n.cap = max
	}
	p.transition(n, StateReady)
	n.idleSince = time.Now()
	if n.leases > 0 {
		p.transition(n, StateAssigned)
	}
	if p.opts.Observer != nil {
		p.opts.Observer.NodeStarted(kind, time.Since(n.startedAt))
	}
	p.log.Info("media node ready", "node", n.id, "addr", inst.Addr(), "how", kind, "took", time.Since(n.startedAt))
	close(n.att.ready)
	p.kickLocked()
}

// stopLocked moves an idle node to StateStopped and queues its stop.
func (p *Pool) stopLocked(n *node) {
	p.transition(n, StateStopped)
	n.busy = true
	inst, conn := n.inst, n.conn
	n.conn, n.cli = nil, nil
	p.log.Info("media node idle: stopping", "node", n.id, "idle", time.Since(n.idleSince))
	p.jobs = append(p.jobs, func(ctx context.Context) {
		_ = conn.Close()
		ctx, cancel := context.WithTimeout(ctx, p.opts.ProvisionTimeout)
		defer cancel()
		err := inst.Stop(ctx)
		p.mu.Lock()
		defer p.mu.Unlock()
		n.busy = false
		switch {
		case err != nil:
			p.log.Error("media node stop failed", "node", n.id, "err", err)
			if n.startAfterStop {
				n.att.err = fmt.Errorf("%w: %w", ErrStartFailed, err)
				close(n.att.ready)
			}
			p.failLocked(n)
			return
		case n.startAfterStop:
			n.startAfterStop = false
			p.queueStartLocked(n)
		}
		p.kickLocked()
	})
}

// failLocked moves a node to StateFailed, tells its leases and queues its
// removal.
func (p *Pool) failLocked(n *node) {
	p.transition(n, StateFailed)
	if !n.lostDone {
		n.lostDone = true
		close(n.lost)
	}
	n.busy = true
	inst, conn := n.inst, n.conn
	n.conn, n.cli = nil, nil
	p.jobs = append(p.jobs, func(context.Context) {
		if conn != nil {
			_ = conn.Close()
		}
		if inst != nil {
			if err := inst.Close(); err != nil {
				p.log.Warn("close failed media node", "node", n.id, "err", err)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.removeLocked(n)
		p.kickLocked()
	})
	p.kickLocked()
}

func (p *Pool) removeLocked(n *node) {
	i := slices.Index(p.nodes, n)
	if i < 0 {
		return
	}
	p.nodes = slices.Delete(p.nodes, i, i+1)
	p.transition(n, StateNone)
	n.inst = nil
}

// healthJob checks a running node once; the node fails after
// HealthFailures failed checks in a row.
func (p *Pool) healthJob(n *node, gen int, conn *grpc.ClientConn) func(context.Context) {
	return func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, p.opts.HealthTimeout)
		err := serving(cctx, conn)
		cancel()
		p.mu.Lock()
		defer p.mu.Unlock()
		n.checking = false
		if ctx.Err() != nil || n.gen != gen || !n.state.running() {
			return
		}
		if err == nil {
			n.fails = 0
			return
		}
		n.fails++
		p.log.Warn("media node health check failed", "node", n.id, "fails", n.fails, "err", err)
		if n.fails >= p.opts.HealthFailures {
			p.log.Error("media node failed its health checks: replacing it", "node", n.id, "sessions", n.leases)
			p.failLocked(n)
		}
	}
}

// serving checks that the node's MediaNodeService is SERVING.
func serving(ctx context.Context, conn *grpc.ClientConn) error {
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: mediav1.MediaNodeService_ServiceDesc.ServiceName})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", resp.GetStatus())
	}
	return nil
}

// connect opens a client to a node at addr, waits until it serves, and
// reads its own session limit.
func (p *Pool) connect(ctx context.Context, addr string) (*grpc.ClientConn, int, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, 0, fmt.Errorf("client of %s: %w", addr, err)
	}
	backoff := 10 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, p.opts.HealthTimeout)
		err = serving(cctx, conn)
		cancel()
		if err == nil {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			conn.Close()
			return nil, 0, fmt.Errorf("node at %s not serving: %w", addr, err)
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
	cctx, cancel := context.WithTimeout(ctx, p.opts.HealthTimeout)
	defer cancel()
	st, err := mediav1.NewMediaNodeServiceClient(conn).GetStatus(cctx, &mediav1.GetStatusRequest{})
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("status of node at %s: %w", addr, err)
	}
	return conn, int(min(st.GetMaxSessions(), 1<<20)), nil
}

// shutdown refuses new leases, waits for the running work and closes every
// node.
func (p *Pool) shutdown(wg *sync.WaitGroup) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	wg.Wait()

	p.mu.Lock()
	nodes := p.nodes
	p.nodes = nil
	p.jobs = nil
	for _, n := range nodes {
		if !n.lostDone {
			n.lostDone = true
			close(n.lost)
		}
		select {
		case <-n.att.ready:
		default: // queued work that never ran
			n.att.err = ErrClosed
			close(n.att.ready)
		}
	}
	p.mu.Unlock()

	var closing sync.WaitGroup
	for _, n := range nodes {
		closing.Go(func() {
			if n.conn != nil {
				_ = n.conn.Close()
			}
			if n.inst != nil {
				if err := n.inst.Close(); err != nil {
					p.log.Warn("close media node", "node", n.id, "err", err)
				}
			}
		})
	}
	closing.Wait()
	p.mu.Lock()
	for _, n := range nodes {
		p.transition(n, StateNone)
	}
	p.mu.Unlock()
	p.log.Info("media node pool closed", "nodes", len(nodes))
}
