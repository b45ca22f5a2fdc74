// Package provision makes the bridge's media nodes: in the bridge's own
// process (InProcess, the embedded default) or as medianode processes
// (Process). Both serve switchboard.media.v1 on a loopback port of their
// own; the pool talks to them over gRPC only.
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/medianode"
)

// InProcess runs each node as medianode.Run in the bridge's process, on
// its own gRPC server on 127.0.0.1:0.
type InProcess struct {
	// Node is the nodes' configuration; its Listener, Addr, NodeID and
	// Logger are set per node.
	Node medianode.Config
	// Logger receives the nodes' records; nil discards them.
	Logger *slog.Logger
}

var _ pool.Provisioner = (*InProcess)(nil)

// Provision implements pool.Provisioner.
func (p *InProcess) Provision(ctx context.Context, id string) (pool.Instance, error) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := p.Node
	cfg.NodeID = id
	cfg.Logger = log.With("node", id)
	n := &inProcessNode{cfg: cfg}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// inProcessNode is one medianode.Run, restarted on a new port by Start.
type inProcessNode struct {
	cfg medianode.Config

	mu     sync.Mutex
	addr   string
	cancel context.CancelFunc // nil while stopped
	exited chan error
}

func (n *inProcessNode) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

func (n *inProcessNode) Start(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		return errors.New("media node already running")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg := n.cfg
	cfg.Listener = lis
	// The node lives until Stop or Close, not as long as the call that
	// started it.
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- medianode.Run(ctx, cfg) }()
	n.addr, n.cancel, n.exited = lis.Addr().String(), cancel, exited
	return nil
}

func (n *inProcessNode) Stop(ctx context.Context) error {
	n.mu.Lock()
	cancel, exited := n.cancel, n.exited
	n.cancel = nil
	n.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case err := <-exited:
		return err
	case <-ctx.Done():
		return fmt.Errorf("stop media node: %w", ctx.Err())
	}
}

// Close stops the node; Run's shutdown is bounded by its server's
// graceful-stop timeout.
func (n *inProcessNode) Close() error {
	return n.Stop(context.Background())
}
