//go:build !linux

package netpoll

import "net"

// Supported reports whether the system has epoll.
const Supported = false

// Readiness events a Poller waits for.
const (
	Readable = 1
	Writable = 4
)

// Poller is unavailable here: New fails.
type Poller struct{}

// New fails: the system has no epoll.
func New() (*Poller, error) { return nil, errUnsupported }

// Add fails.
func (p *Poller) Add(*FD, uint32) error { return errUnsupported }

// Arm fails.
func (p *Poller) Arm(*FD, uint32) error { return errUnsupported }

// Wait fails.
func (p *Poller) Wait(func(int, uint32)) error { return errUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// FD is unavailable here: Adopt fails.
type FD struct{}

// Adopt fails: the system has no epoll.
func Adopt(*net.TCPConn) (*FD, error) { return nil, errUnsupported }

// Read fails.
func (f *FD) Read([]byte) (int, error) { return 0, errUnsupported }

// Writev fails.
func (f *FD) Writev([][]byte) (int, error) { return 0, errUnsupported }

// Close does nothing.
func (f *FD) Close() error { return nil }

// Number is -1.
func (f *FD) Number() int { return -1 }
