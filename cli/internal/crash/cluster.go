// Package crash is Switchboard's crash test: the per-service binaries run
// as separate processes, as in the compose stack, while senders and
// receivers use two edges and a driver kills one process after another
// with SIGKILL and restarts it. A checker then proves, from what the
// clients saw and from the stores, that no acknowledged message was lost
// or stored twice, that every receiver has every message of its rooms in
// order, and that every store passes bbolt's consistency check.
package crash

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// proc is one process of the cluster: a binary with its environment,
// serving on a fixed loopback port across restarts.
type proc struct {
	name string
	bin  string
	env  []string
	addr string
	grpc bool // a gRPC service (health-checked), else an edge (TCP)
	log  *os.File

	mu  sync.Mutex
	cmd *exec.Cmd
	// exited is closed when the current process has been waited for.
	exited chan struct{}
}

// cluster is the set of processes of one crash test.
type cluster struct {
	dir   string
	procs []*proc
	auth  *proc
	chat  *proc
	edges []*proc
}

// freeAddr returns a loopback address with a port that was free a moment
// ago: the processes keep their address across restarts.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// newCluster lays out the processes of binDir in dir: auth, chat, presence,
// signaling, each with its own data directory, and edges that use them.
// Nothing is started.
func newCluster(binDir, dir, secret string, edges int) (*cluster, error) {
	c := &cluster{dir: dir}
	addrs := make([]string, 4+edges)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	authAddr, chatAddr, presenceAddr, signalingAddr := addrs[0], addrs[1], addrs[2], addrs[3]
	common := []string{"LOG_LEVEL=warn"}
	service := func(name, bin, addrVar, addr string, extra ...string) *proc {
		env := append(append([]string{addrVar + "=" + addr, "DATA_DIR=" + filepath.Join(dir, name)}, common...), extra...)
		return &proc{name: name, bin: filepath.Join(binDir, bin), env: env, addr: addr, grpc: true}
	}
	c.auth = service("auth", "authd", "AUTH_ADDR", authAddr, "JWT_SECRET="+secret)
	// No message is trimmed during the test, and the test's senders are
	// not rate-limited: the checker reads every message back.
	c.chat = service("chat", "chatd", "CHAT_ADDR", chatAddr,
		"CHAT_RETENTION_MESSAGES=0", "CHAT_RATE_LIMIT=0")
	presence := service("presence", "presenced", "PRESENCE_ADDR", presenceAddr, "CHAT_ADDR="+chatAddr)
	signaling := service("signaling", "signalingd", "SIGNALING_ADDR", signalingAddr, "CHAT_ADDR="+chatAddr)
	c.procs = []*proc{c.chat, presence, signaling, c.auth}
	for i := range edges {
		e := &proc{
			name: fmt.Sprintf("edge%d", i+1),
			bin:  filepath.Join(binDir, "edged"),
			addr: addrs[4+i],
			env: append([]string{
				"EDGE_ADDR=" + addrs[4+i], fmt.Sprintf("EDGE_ID=edge%d", i+1),
				"AUTH_ADDR=" + authAddr, "CHAT_ADDR=" + chatAddr,
				"PRESENCE_ADDR=" + presenceAddr, "SIGNALING_ADDR=" + signalingAddr,
			}, common...),
		}
		c.edges = append(c.edges, e)
		c.procs = append(c.procs, e)
	}
	for _, p := range c.procs {
		if _, err := os.Stat(p.bin); err != nil {
			return nil, fmt.Errorf("%s: %w (run make build)", p.name, err)
		}
		f, err := os.OpenFile(filepath.Join(dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		p.log = f
	}
	return c, nil
}

// start starts the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	fmt.Fprintf(p.log, "--- started pid %d at %s\n", cmd.Process.Pid, time.Now().Format(time.RFC3339Nano))
	p.cmd = cmd
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-exited
	fmt.Fprintf(p.log, "--- killed at %s\n", time.Now().Format(time.RFC3339Nano))
	return nil
}

// stop asks the process to shut down (SIGTERM) and waits up to grace, then
// kills it. It reports whether it stopped by itself.
func (p *proc) stop(grace time.Duration) bool {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return true
	case <-time.After(grace):
		p.kill()
		return false
	}
}

// healthy reports whether the process serves: SERVING on its gRPC health
// service, or, for an edge, a TCP connection accepted.
func (p *proc) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if !p.grpc {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	cc, err := grpc.NewClient(p.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// waitHealthy polls healthy every 20 ms until it holds or ctx ends.
func (p *proc) waitHealthy(ctx context.Context) error {
	for !p.healthy(ctx) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not come up: %w", p.name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// startAll starts every process, the services first, and waits until all
// serve.
func (c *cluster) startAll(ctx context.Context) error {
	for _, p := range c.procs {
		if err := p.start(); err != nil {
			return err
		}
		if err := p.waitHealthy(ctx); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops every process gracefully, the edges first, and returns
// the names of those that had to be killed.
func (c *cluster) stopAll(grace time.Duration) []string {
	var killed []string
	for i := len(c.procs) - 1; i >= 0; i-- {
		if !c.procs[i].stop(grace) {
			killed = append(killed, c.procs[i].name)
		}
	}
	for _, p := range c.procs {
		p.log.Close()
	}
	return killed
}
