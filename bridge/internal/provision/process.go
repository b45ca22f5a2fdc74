package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard.dev/bridge/internal/pool"
	"switchboard.dev/bridge/medianode"
)

// DefaultStopGrace is how long a node process has to exit after SIGTERM
// before it is killed.
const DefaultStopGrace = 5 * time.Second

// Process runs each node as a medianode process listening on 127.0.0.1:0;
// the process prints its address (medianode.AddrLinePrefix) on its
// standard output. A stopped node's process is ended; Start runs a new one.
type Process struct {
	// Path is the medianode binary. Required.
	Path string
	// Args are added to the command line, before -media-addr (for
	// example medianode.ICEConfig.Args). The process inherits the
	// bridge's environment.
	Args []string
	// Stderr receives the processes' logs; nil discards them.
	Stderr io.Writer
	// StopGrace is how long a process has to exit after SIGTERM before it
	// is killed; default DefaultStopGrace.
	StopGrace time.Duration
	// Logger receives the provisioner's records; nil discards them.
	Logger *slog.Logger
}

var _ pool.Provisioner = (*Process)(nil)

// Provision implements pool.Provisioner.
func (p *Process) Provision(ctx context.Context, id string) (pool.Instance, error) {
	n := &processNode{p: p, id: id}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// processNode is one node's process, replaced by Start after a Stop.
type processNode struct {
	p  *Process
	id string

	mu     sync.Mutex
	addr   string
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed once cmd was waited for
}

func (n *processNode) Addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

func (n *processNode) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return errors.New("media node process already running")
	}
	args := append(append([]string{}, n.p.Args...), "-media-addr=127.0.0.1:0")
	cmd := exec.Command(n.p.Path, args...)
	cmd.Stderr = n.p.Stderr
	orphanGuard(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("media node %s stdout: %w", n.id, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start media node %s: %w", n.id, err)
	}
	addrc := make(chan string, 1)
	exited := make(chan struct{})
	// The goroutine reads the process's output until the process closes
	// it, then reaps the process: it ends with the process.
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if line := sc.Text(); !found && strings.HasPrefix(line, medianode.AddrLinePrefix) {
				found = true
				addrc <- strings.TrimSpace(strings.TrimPrefix(line, medianode.AddrLinePrefix))
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // after an overlong line
		err := cmd.Wait()
		n.logger().Info("media node process exited", "node", n.id, "pid", cmd.Process.Pid, "err", err)
	}()

	select {
	case addr := <-addrc:
		n.addr, n.cmd, n.exited = addr, cmd, exited
		n.logger().Info("media node process started", "node", n.id, "pid", cmd.Process.Pid, "addr", addr)
		return nil
	case <-exited:
		return fmt.Errorf("media node %s exited before it listened", n.id)
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("media node %s did not listen: %w", n.id, ctx.Err())
	}
}

func (n *processNode) logger() *slog.Logger {
	if n.p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.p.Logger
}

// Stop ends the process: SIGTERM, then SIGKILL after the grace period or
// when ctx is done.
func (n *processNode) Stop(ctx context.Context) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	grace := n.p.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	n.logger().Warn("media node process did not exit: killing it", "node", n.id, "pid", cmd.Process.Pid)
	_ = cmd.Process.Kill()
	<-exited
	return nil
}

func (n *processNode) Close() error {
	return n.Stop(context.Background())
}
