package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// pair returns an adopted server side and the client side of a loopback
// TCP connection.
func pair(t *testing.T) (*FD, net.Conn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	client, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Adopt(c.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, client
}

// waitFor runs p.Wait until it reports f ready for want, or fails after 5 s.
func waitFor(t *testing.T, p *Poller, f *FD, want uint32) {
	t.Helper()
	got := make(chan uint32, 16)
	go p.Wait(func(fd int, ev uint32) {
		if fd == f.Number() {
			got <- ev
		}
	})
	select {
	case ev := <-got:
		if ev&want == 0 {
			t.Fatalf("fd %d reported %#x, want %#x", f.Number(), ev, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("fd %d not reported ready (%#x) in 5 s", f.Number(), want)
	}
}

func TestReadReadiness(t *testing.T) {
	f, client := pair(t)
	buf := make([]byte, 64)
	if _, err := f.Read(buf); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Read of an empty socket = %v, want ErrWouldBlock", err)
	}
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add(f, Readable); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("hello\n"))
	waitFor(t, p, f, Readable)
	p.Close()
	n, err := f.Read(buf)
	if err != nil || string(buf[:n]) != "hello\n" {
		t.Fatalf("Read after readiness = %q, %v", buf[:n], err)
	}
	client.Close()
	for range 100 {
		if _, err = f.Read(buf); !errors.Is(err, ErrWouldBlock) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the peer closed = %v, want io.EOF", err)
	}
}

func TestWritevFillsAndDrains(t *testing.T) {
	f, client := pair(t)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	total := 0
	var err error
	for range 1000 {
		var n int
		n, err = f.Writev([][]byte{chunk[:1000], nil, chunk})
		total += n
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("Writev into a socket nobody reads = %v after %d bytes, want ErrWouldBlock", err, total)
	}
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(f, Writable); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		n, _ := io.ReadFull(client, make([]byte, total))
		got <- n
	}()
	waitFor(t, p, f, Writable)
	if n := <-got; n != total {
		t.Errorf("client read %d bytes, want the %d written", n, total)
	}
}

func TestClosedFD(t *testing.T) {
	f, client := pair(t)
	fd := f.Number()
	f.Close()
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	if _, err := f.Writev([][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Writev after Close = %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	// The descriptor is closed: the client sees the end of the stream.
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("client Read after the server's Close = %v, want EOF (fd %d)", err, fd)
	}
}

// TestCloseUnderOperation closes while an operation holds the descriptor:
// it is closed only when the operation ends.
func TestCloseUnderOperation(t *testing.T) {
	f, client := pair(t)
	fd, ok := f.acquire()
	if !ok {
		t.Fatal("acquire of an open FD failed")
	}
	f.Close()
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
	client.Write([]byte("still open"))
	buf := make([]byte, 32)
	time.Sleep(20 * time.Millisecond)
	// The raw descriptor still works for the holder.
	if n, err := rawRead(fd, buf); err != nil || string(buf[:n]) != "still open" {
		t.Errorf("read by the holder after Close = %q, %v; want the data", buf[:n], err)
	}
	f.release()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(buf); !errors.Is(err, io.EOF) {
		t.Errorf("client Read after the last release = %v, want EOF", err)
	}
}
