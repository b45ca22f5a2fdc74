package netpoll

import "golang.org/x/sys/unix"

func rawRead(fd int, b []byte) (int, error) { return unix.Read(fd, b) }
