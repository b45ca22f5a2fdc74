package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"switchboard.dev/edge/internal/hub"
	"switchboard.dev/edge/internal/netpoll"
	"switchboard.dev/edge/internal/protocol"
)

// pollServer serves plain TCP connections with epoll (package netpoll),
// so that a connection whose client is silent holds no goroutine and no
// read buffer. When a socket becomes readable, a goroutine takes a buffer
// from a pool, serves the requests it reads (in order, one at a time, as
// serveConn does) and ends when the socket has nothing more, giving the
// buffer back. One writer goroutine writes the sessions' queues with
// non-blocking writev, every session that has something once per round:
// what comes for a session while the writer is busy with the others goes
// out in its next writev, so a busy edge makes few, large writes. A
// sweep closes the connections past their CONNECT or idle deadline and
// the sessions whose socket stayed full longer than the write timeout.
type pollServer struct {
	srv    *Server
	ctx    context.Context // the requests'
	rd, wr *netpoll.Poller // readability, writability
	bufs   protocol.BufferPool
	tick   time.Duration // of the sweep
	stop   chan struct{} // ends the writer and the sweep

	mu    sync.Mutex
	conns map[int]*pconn // by descriptor number

	wmu   sync.Mutex
	dirty []*pconn      // the sessions to write, each once
	wake  chan struct{} // capacity 1: dirty is not empty

	done sync.WaitGroup // the pollers, the writer and the sweep
}

// pconn is one connection served by a pollServer. It is the session's
// hub.ScheduledConn.
type pconn struct {
	p      *pollServer
	fd     *netpoll.FD
	s      *session
	lr     protocol.LineReader // used by the goroutine serving the input
	opened time.Time

	lastRead atomic.Int64 // unix nanoseconds of the last line read
	authed   atomic.Bool  // CONNECT succeeded: the idle timeout applies
	blocked  atomic.Bool  // the socket was full at the last write
	inWr     bool         // registered with p.wr; the writer's alone

	mu    sync.Mutex
	busy  bool // a goroutine serves the input, or the input has ended
	ended bool // the input has ended
}

// newPollServer starts the pollers, the writer and the sweep, serving the
// requests with ctx; nil when epoll is not available.
func newPollServer(ctx context.Context, srv *Server) *pollServer {
	if !netpoll.Supported {
		return nil
	}
	rd, err := netpoll.New()
	if err != nil {
		srv.log.Warn("epoll unavailable: a goroutine per connection", "err", err)
		return nil
	}
	wr, err := netpoll.New()
	if err != nil {
		rd.Close()
		srv.log.Warn("epoll unavailable: a goroutine per connection", "err", err)
		return nil
	}
	o := srv.opts
	p := &pollServer{
		srv: srv, ctx: ctx, rd: rd, wr: wr,
		tick:  min(max(min(o.AuthTimeout, o.IdleTimeout, o.WriteTimeout)/4, 10*time.Millisecond), time.Second),
		stop:  make(chan struct{}),
		conns: make(map[int]*pconn),
		wake:  make(chan struct{}, 1),
	}
	p.done.Go(func() { p.wait(p.rd, p.readable) })
	p.done.Go(func() { p.wait(p.wr, p.writable) })
	p.done.Go(p.write)
	p.done.Go(p.sweep)
	return p
}

func (p *pollServer) wait(pl *netpoll.Poller, ready func(int)) {
	if err := pl.Wait(func(fd int, _ uint32) { ready(fd) }); err != nil {
		p.srv.log.Error("epoll wait failed", "err", err)
	}
}

// adopt takes conn, admitted from ip, over; false leaves conn to the
// caller (not a TCP connection, or epoll refused it).
func (p *pollServer) adopt(conn net.Conn, ip netip.Addr) bool {
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return false
	}
	remote := tcp.RemoteAddr()
	fd, err := netpoll.Adopt(tcp)
	if err != nil {
		p.srv.log.Warn("connection not adopted by epoll", "remote", remote.String(), "err", err)
		return false // Adopt leaves conn open when it fails
	}
	c := &pconn{p: p, fd: fd, opened: time.Now()}
	c.lr.Init(fd, min(p.srv.opts.MaxFrameBytes, MaxConnectFrameBytes), &p.bufs)
	c.lastRead.Store(c.opened.UnixNano())
	c.s = p.srv.makeSession(c, remote, ip)
	// Counted before anyone can close it: its input's end is counted out.
	p.srv.wg.Add(1)
	p.mu.Lock()
	p.conns[fd.Number()] = c
	p.mu.Unlock()
	if !p.srv.addSession(c.s.sess) { // stopping
		c.s.sess.Close()
		return true
	}
	if err := p.rd.Add(fd, netpoll.Readable); err != nil {
		p.srv.log.Warn("epoll refused a connection", "session", c.s.sess.ID(), "err", err)
		c.s.sess.Close()
	}
	return true
}

// conn returns the connection of descriptor fd, nil when it is gone.
func (p *pollServer) conn(fd int) *pconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[fd]
}

// readable starts serving the input of fd's connection, unless a
// goroutine does already (a report that came late).
func (p *pollServer) readable(fd int) {
	if c := p.conn(fd); c != nil && c.claim() {
		go c.serveInput()
	}
}

// writable hands fd's session, whose socket was full, back to the writer.
func (p *pollServer) writable(fd int) {
	if c := p.conn(fd); c != nil {
		p.schedule(c)
	}
}

// claim marks the input as served by the caller; false when it is
// already, or has ended.
func (c *pconn) claim() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy {
		return false
	}
	c.busy = true
	return true
}

// serveInput serves the requests the socket holds, then gives the buffer
// back and re-arms the socket; it ends the input at the end of the
// stream, an error, or a request that ends the session.
func (c *pconn) serveInput() {
	for {
		c.s.sess.AwaitRoom()
		line, err := c.lr.ReadLine()
		switch {
		case err == nil:
			c.lastRead.Store(time.Now().UnixNano())
			if !c.s.handle(c.p.ctx, line) {
				c.endInput(nil)
				return
			}
			if !c.authed.Load() && c.s.userID != 0 {
				c.authed.Store(true)
				c.lr.SetMax(c.p.srv.opts.MaxFrameBytes)
			}
		case errors.Is(err, protocol.ErrFrameTooLong):
			c.lastRead.Store(time.Now().UnixNano())
			c.s.replyError(protocol.CodeInvalidData, "", "")
		case errors.Is(err, netpoll.ErrWouldBlock):
			c.lr.Release()
			c.mu.Lock()
			c.busy = false
			c.mu.Unlock()
			if err := c.p.rd.Arm(c.fd, netpoll.Readable); err != nil && c.claim() {
				c.endInput(err) // closed meanwhile
			}
			return
		default:
			c.endInput(err)
			return
		}
	}
}

// endInput ends the connection's input, its session with it: what is
// queued is still written (CloseAfterFlush), then the socket closes. The
// caller has claimed the input.
func (c *pconn) endInput(err error) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	if err != nil {
		c.s.logClosed(err)
	}
	c.s.finish()
	c.lr.Release()
	c.p.srv.wg.Done()
}

// ScheduleFlush implements hub.ScheduledConn.
func (c *pconn) ScheduleFlush(*hub.Session) { c.p.schedule(c) }

// Close implements hub.Conn: the socket closes once no operation uses it,
// and the input ends if it has not.
func (c *pconn) Close() error {
	c.fd.Close()
	c.p.mu.Lock()
	if c.p.conns[c.fd.Number()] == c {
		delete(c.p.conns, c.fd.Number())
	}
	c.p.mu.Unlock()
	if c.claim() {
		go c.endInput(nil)
	}
	return nil
}

func (p *pollServer) schedule(c *pconn) {
	p.wmu.Lock()
	p.dirty = append(p.dirty, c)
	p.wmu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Pacing of the writer's rounds: after a round that took d, the next one
// starts no sooner than writePace×d later (at most maxWritePause), so
// that what comes meanwhile joins the sessions' next writev. An idle edge
// writes at once; a busy one makes fewer, larger writes, and the writer
// takes at most about 1/(1+writePace) of a core.
const (
	writePace     = 8
	maxWritePause = 20 * time.Millisecond
)

// write is the writer: it writes the scheduled sessions in rounds.
func (p *pollServer) write() {
	var round []*pconn
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-p.wake:
		case <-p.stop:
			return
		}
		for {
			p.wmu.Lock()
			round, p.dirty = p.dirty, round[:0]
			p.wmu.Unlock()
			if len(round) == 0 {
				break
			}
			start := time.Now()
			for i, c := range round {
				p.flush(c)
				round[i] = nil
			}
			if d := min(writePace*time.Since(start), maxWritePause); d > 50*time.Microsecond {
				pause.Reset(d)
				select {
				case <-pause.C:
				case <-p.stop:
					return
				}
			}
		}
	}
}

// flush writes one session once: again in the next round when more came
// meanwhile, when its socket can take more when it is full.
func (p *pollServer) flush(c *pconn) {
	switch c.s.sess.FlushStep(c.writev) {
	case hub.FlushDone:
		c.blocked.Store(false)
	case hub.FlushMore:
		c.blocked.Store(false)
		p.wmu.Lock()
		p.dirty = append(p.dirty, c)
		p.wmu.Unlock()
	case hub.FlushBlocked:
		c.blocked.Store(true)
		var err error
		if c.inWr {
			err = p.wr.Arm(c.fd, netpoll.Writable)
		} else {
			err, c.inWr = p.wr.Add(c.fd, netpoll.Writable), true
		}
		if err != nil && !errors.Is(err, netpoll.ErrClosed) {
			p.srv.log.Warn("epoll refused a full socket", "session", c.s.sess.ID(), "err", err)
			c.s.sess.Close()
		}
	}
}

func (c *pconn) writev(bufs [][]byte) (int, bool, error) {
	n, err := c.fd.Writev(bufs)
	if errors.Is(err, netpoll.ErrWouldBlock) {
		return n, true, nil
	}
	return n, false, err
}

// timeoutError is the input's end when the sweep finds it past its
// deadline, as a read deadline would.
type timeoutError struct{}

func (timeoutError) Error() string   { return "read timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// sweep ends, every tick, the inputs past their CONNECT or idle deadline
// that no goroutine serves (a request under way is not idle), and closes
// the sessions whose socket has been full longer than the write timeout.
func (p *pollServer) sweep() {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	var late, stuck []*pconn
	for {
		select {
		case <-t.C:
		case <-p.stop:
			return
		}
		now := time.Now()
		authBefore := now.Add(-p.srv.opts.AuthTimeout)
		idleBefore := now.Add(-p.srv.opts.IdleTimeout).UnixNano()
		p.mu.Lock()
		for _, c := range p.conns {
			if c.blocked.Load() {
				stuck = append(stuck, c)
			}
			if c.authed.Load() {
				if c.lastRead.Load() < idleBefore {
					late = append(late, c)
				}
			} else if c.opened.Before(authBefore) {
				late = append(late, c)
			}
		}
		p.mu.Unlock()
		// Ended here, one after the other: ten thousand connections timing
		// out together do not make ten thousand goroutines.
		for i, c := range late {
			if c.claim() {
				c.endInput(timeoutError{})
			}
			late[i] = nil
		}
		for i, c := range stuck {
			if since := c.s.sess.BlockedSince(); !since.IsZero() && now.Sub(since) > p.srv.opts.WriteTimeout {
				p.srv.log.Info("session write failed: closing", "session", c.s.sess.ID(),
					"timeout", true, "err", "socket full longer than the write timeout", "write_timeout", p.srv.opts.WriteTimeout)
				c.s.sess.Close()
			}
			stuck[i] = nil
		}
		late, stuck = late[:0], stuck[:0]
	}
}

// close waits, up to the write timeout, for the connections' sockets to
// close (their sessions end once flushed), then stops the writer, the
// sweep and the pollers. Call it once every input has ended.
func (p *pollServer) close() {
	deadline := time.Now().Add(p.srv.opts.WriteTimeout + time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		n := len(p.conns)
		p.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(p.stop)
	p.rd.Close()
	p.wr.Close()
	p.done.Wait()
	p.mu.Lock()
	for _, c := range p.conns {
		c.fd.Close()
	}
	p.mu.Unlock()
}
