package netpoll

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported reports whether the system has epoll.
const Supported = true

// Readiness events a Poller waits for.
const (
	// Readable is input to read, the peer's end of the stream, or an error.
	Readable = unix.EPOLLIN | unix.EPOLLRDHUP
	// Writable is room to write, or an error.
	Writable = unix.EPOLLOUT
)

// maxEvents is the most events one epoll_wait returns.
const maxEvents = 256

// Poller is one epoll instance whose registrations are one-shot: after it
// reports an fd, the fd is disarmed until Arm, so that one goroutine at a
// time acts on it.
type Poller struct {
	epfd   int
	wakefd int // an eventfd that ends Wait

	mu      sync.Mutex
	closed  bool
	waiting bool // Wait runs: it closes the descriptors when it ends
}

// New returns a Poller.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, &net.OpError{Op: "epoll_create", Err: err}
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, &net.OpError{Op: "eventfd", Err: err}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, &net.OpError{Op: "epoll_ctl", Err: err}
	}
	return &Poller{epfd: epfd, wakefd: wakefd}, nil
}

// Add registers f armed for events (Readable or Writable).
func (p *Poller) Add(f *FD, events uint32) error {
	return p.ctl(unix.EPOLL_CTL_ADD, f, events)
}

// Arm re-arms f, registered with Add, for events.
func (p *Poller) Arm(f *FD, events uint32) error {
	return p.ctl(unix.EPOLL_CTL_MOD, f, events)
}

func (p *Poller) ctl(op int, f *FD, events uint32) error {
	fd, ok := f.acquire()
	if !ok {
		return ErrClosed
	}
	defer f.release()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	ev := unix.EpollEvent{Events: events | unix.EPOLLONESHOT, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		return &net.OpError{Op: "epoll_ctl", Err: err}
	}
	return nil
}

// Wait reports readiness until Close: ready gets each fd that became
// ready and what it is ready for. ready runs on Wait's goroutine and must
// not block. Closing a descriptor removes it; an event already fetched
// for a descriptor closed since may still be reported, under the number a
// new descriptor may have taken: ready must look the number up and
// tolerate a spurious report.
func (p *Poller) Wait(ready func(fd int, events uint32)) error {
	p.mu.Lock()
	if p.closed || p.waiting {
		p.mu.Unlock()
		return ErrClosed
	}
	p.waiting = true
	p.mu.Unlock()
	// The descriptors are closed here, once epoll_wait no longer uses
	// them: closed by Close, their numbers could be taken by new
	// descriptors under a waiting epoll_wait.
	defer p.closeFDs()
	var events [maxEvents]unix.EpollEvent
	for {
		n, err := unix.EpollWait(p.epfd, events[:], -1)
		if p.isClosed() {
			return nil
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return &net.OpError{Op: "epoll_wait", Err: err}
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == p.wakefd {
				continue
			}
			ready(int(ev.Fd), ev.Events)
		}
	}
}

func (p *Poller) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close ends Wait and releases the epoll instance (when Wait has ended);
// the descriptors registered stay open.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if !p.waiting {
		return p.closeFDsLocked()
	}
	one := uint64(1)
	_, err := unix.Write(p.wakefd, (*[8]byte)(unsafe.Pointer(&one))[:])
	return err
}

func (p *Poller) closeFDs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeFDsLocked()
}

func (p *Poller) closeFDsLocked() error {
	if p.epfd < 0 {
		return nil
	}
	err := errors.Join(unix.Close(p.epfd), unix.Close(p.wakefd))
	p.epfd, p.wakefd = -1, -1
	return err
}

// FD is a non-blocking socket shared by the goroutines that read and
// write it. Close does not wait for them: the last one out closes the
// descriptor, so that its number is never reused under an operation.
type FD struct {
	fd int
	// state counts the operations under way, with closedBit set once
	// Close was called.
	state atomic.Int64
	once  sync.Once
}

const closedBit = 1 << 62

// Adopt takes a dup of the descriptor of conn, a TCP connection, in
// non-blocking mode, and closes conn: the FD alone owns the socket.
func Adopt(conn *net.TCPConn) (*FD, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, &net.OpError{Op: "dup", Err: dupErr}
	}
	conn.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "set nonblock", Err: err}
	}
	return &FD{fd: fd}, nil
}

func (f *FD) acquire() (int, bool) {
	if f.state.Add(1)&closedBit != 0 {
		f.release()
		return -1, false
	}
	return f.fd, true
}

func (f *FD) release() {
	if f.state.Add(-1) == closedBit {
		f.once.Do(func() { unix.Close(f.fd) })
	}
}

// Read reads what the socket holds into b: ErrWouldBlock when it holds
// nothing, io.EOF when the peer closed its end.
func (f *FD) Read(b []byte) (int, error) {
	fd, ok := f.acquire()
	if !ok {
		return 0, ErrClosed
	}
	defer f.release()
	for {
		n, err := unix.Read(fd, b)
		switch {
		case err == nil && n == 0 && len(b) > 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, ErrWouldBlock
		}
		return 0, &net.OpError{Op: "read", Err: err}
	}
}

// Writev writes bufs in order, in one writev for at most 1024 of them,
// and returns the bytes written: ErrWouldBlock when the socket had no
// room for all of them.
func (f *FD) Writev(bufs [][]byte) (int, error) {
	fd, ok := f.acquire()
	if !ok {
		return 0, ErrClosed
	}
	defer f.release()
	var iovs [maxIovecs]unix.Iovec
	written := 0
	for len(bufs) > 0 {
		n := 0
		for _, b := range bufs {
			if n == len(iovs) {
				break
			}
			if len(b) == 0 {
				continue
			}
			iovs[n].Base = &b[0]
			iovs[n].SetLen(len(b))
			n++
		}
		if n == 0 {
			return written, nil
		}
		m, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iovs[0])), uintptr(n))
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return written, ErrWouldBlock
		default:
			return written, &net.OpError{Op: "writev", Err: errno}
		}
		written += int(m)
		for len(bufs) > 0 && int(m) >= len(bufs[0]) {
			m -= uintptr(len(bufs[0]))
			bufs = bufs[1:]
		}
		if m > 0 { // a partial write: the socket is full
			return written, ErrWouldBlock
		}
	}
	return written, nil
}

// maxIovecs is the most buffers one writev takes (the kernel's IOV_MAX).
const maxIovecs = 1024

// Close closes the socket once no operation is under way; later
// operations fail with ErrClosed. It is safe to call more than once.
func (f *FD) Close() error {
	for {
		s := f.state.Load()
		if s&closedBit != 0 {
			return nil
		}
		if f.state.CompareAndSwap(s, s|closedBit) {
			if s == 0 {
				f.once.Do(func() { unix.Close(f.fd) })
			}
			return nil
		}
	}
}

// Number is the descriptor's number, which Poller.Wait reports.
func (f *FD) Number() int { return f.fd }
