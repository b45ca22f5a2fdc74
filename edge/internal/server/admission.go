package server

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"switchboard.dev/edge/internal/protocol"
)

// MaxConnectFrameBytes bounds a line read before CONNECT succeeds (or
// Options.MaxFrameBytes if smaller): a CONNECT with its token is a few
// kilobytes, and an unauthenticated connection then holds at most this
// much of a line it trickles in.
const MaxConnectFrameBytes = 16 << 10

// refusalWriteTimeout bounds the write of a refused connection's ERROR:
// a few hundred bytes into a new socket's empty send buffer.
const refusalWriteTimeout = 100 * time.Millisecond

// admission bounds the connections a server holds: those from one source
// address (Options.MaxConnsPerIP), and those that have not yet sent a
// successful CONNECT (Options.MaxUnauthenticated). A connection past
// either bound is answered ERROR TOO_MANY_CONNECTIONS and closed at
// accept, before it holds a session.
type admission struct {
	perIP     int // 0: no bound
	maxUnauth int // 0: no bound

	mu     sync.Mutex
	byIP   map[netip.Addr]int // with perIP only
	unauth int

	refused atomic.Uint64
	lastLog atomic.Int64 // unix nanoseconds of the last record of refusals
}

func newAdmission(perIP, maxUnauth int) *admission {
	a := &admission{perIP: perIP, maxUnauth: maxUnauth}
	if perIP > 0 {
		a.byIP = make(map[netip.Addr]int)
	}
	return a
}

// admit counts a new unauthenticated connection from ip; false when a
// bound refuses it (and nothing is counted).
func (a *admission) admit(ip netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.maxUnauth > 0 && a.unauth >= a.maxUnauth {
		return false
	}
	if a.perIP > 0 {
		if a.byIP[ip] >= a.perIP {
			return false
		}
		a.byIP[ip]++
	}
	a.unauth++
	return true
}

// authenticated moves an admitted connection out of the unauthenticated
// count.
func (a *admission) authenticated() {
	a.mu.Lock()
	a.unauth--
	a.mu.Unlock()
}

// release forgets an admitted connection from ip when it ends; authed
// tells whether authenticated was called for it.
func (a *admission) release(ip netip.Addr, authed bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !authed {
		a.unauth--
	}
	if a.perIP > 0 {
		if n := a.byIP[ip] - 1; n > 0 {
			a.byIP[ip] = n
		} else {
			delete(a.byIP, ip)
		}
	}
}

// remoteIP is the source address of conn's peer (a TCP connection, TLS
// or not), IPv4-mapped IPv6 addresses unmapped, so that one host counts
// once.
func remoteIP(conn net.Conn) netip.Addr {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit admits conn, or answers it ERROR TOO_MANY_CONNECTIONS, closes it
// and returns false. The refusals are logged at most once a second, with
// their total so far.
func (srv *Server) admit(conn net.Conn, ip netip.Addr) bool {
	if srv.admission.admit(ip) {
		return true
	}
	b := protocol.AppendError(make([]byte, 0, 192), srv.serverHeader(), protocol.CodeTooManyConnections, "", "")
	conn.SetWriteDeadline(time.Now().Add(refusalWriteTimeout))
	conn.Write(b)
	conn.Close()
	n := srv.admission.refused.Add(1)
	now := time.Now().UnixNano()
	if last := srv.admission.lastLog.Load(); now-last >= int64(time.Second) && srv.admission.lastLog.CompareAndSwap(last, now) {
		srv.log.Warn("connections refused: too many", "remote", ip.String(), "refused_total", n,
			"max_conns_per_ip", srv.opts.MaxConnsPerIP, "max_unauthenticated", srv.opts.MaxUnauthenticated)
	}
	return false
}
