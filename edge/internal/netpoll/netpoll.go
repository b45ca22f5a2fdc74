// Package netpoll waits for the readiness of many non-blocking sockets with
// one epoll instance, so that a connection waiting for its client holds no
// goroutine and no buffer: the edge starts a goroutine only when a socket
// has something to read, and writes with non-blocking writev. It is for
// Linux; elsewhere Supported is false and the edge keeps a goroutine per
// connection.
package netpoll

import "errors"

// Errors of the package.
var (
	// ErrWouldBlock is returned by FD.Read and FD.Writev when the socket
	// has nothing to read or no room to write: wait for its readiness.
	ErrWouldBlock = errors.New("netpoll: operation would block")
	// ErrClosed is returned by the operations of a closed FD or Poller.
	ErrClosed = errors.New("netpoll: closed")
	// errUnsupported is returned by New where epoll is missing.
	errUnsupported = errors.New("netpoll: not supported on this system")
)
