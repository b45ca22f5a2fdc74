package load

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort has a socket bound to a source address take its port at
// connect, as one of the 4-tuple, not at bind: a port bound without a
// destination is kept from every connect on the machine, and a large run's
// bound ports (or their TIME_WAIT) would leave none for a later one.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
