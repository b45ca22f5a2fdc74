package protocol

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ErrFrameTooLong is returned by LineReader.ReadLine for a line longer than
// the maximum frame size. The rest of that line is skipped by the next call;
// the stream stays usable.
var ErrFrameTooLong = errors.New("frame too long")

// InitialReadBuffer is the read buffer a LineReader starts with and shrinks
// back to: an idle connection holds no more than this.
const InitialReadBuffer = 512

// PooledBufferSize is the size of the buffers of a BufferPool.
const PooledBufferSize = 4096

// BufferPool lends read buffers to LineReaders whose connections are idle
// most of the time: a reader takes one when data arrives and gives it back
// with Release, so an idle connection holds none.
type BufferPool struct {
	pool sync.Pool
}

func (p *BufferPool) get() []byte {
	if b, ok := p.pool.Get().(*[PooledBufferSize]byte); ok {
		return b[:]
	}
	return make([]byte, PooledBufferSize)
}

func (p *BufferPool) put(b []byte) {
	if cap(b) == PooledBufferSize {
		p.pool.Put((*[PooledBufferSize]byte)(b[:PooledBufferSize]))
	}
}

// LineReader splits a byte stream into lines ending in "\n" (a "\r" before
// it is dropped), skipping empty lines. Its buffer starts small (or is
// taken from a BufferPool), grows up to the maximum frame size for big
// frames only, and shrinks back afterwards.
type LineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	max        int
	discarding bool
	pool       *BufferPool
}

// NewLineReader reads from r; lines longer than max bytes are refused.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: r, max: max}
}

// Init makes lr read from r, refusing lines longer than max bytes, with
// buffers from pool, which Release gives back.
func (lr *LineReader) Init(r io.Reader, max int, pool *BufferPool) {
	*lr = LineReader{r: r, max: max, pool: pool}
}

// SetMax changes the longest line accepted from the next one on.
func (lr *LineReader) SetMax(max int) { lr.max = max }

// Release gives the buffer back to the pool, keeping only the bytes of an
// incomplete line, if any, in a buffer of their size. A big line's own
// buffer (grown past the pool's size) is kept while its line is
// incomplete, so that a line arriving in many pieces is not copied at
// each. Call it when the underlying reader has nothing more for now.
func (lr *LineReader) Release() {
	if lr.pool == nil || lr.buf == nil {
		return
	}
	pending := lr.end - lr.start
	if len(lr.buf) > PooledBufferSize {
		if pending == 0 {
			lr.buf, lr.start, lr.end = nil, 0, 0
		}
		return
	}
	var rest []byte
	if pending > 0 {
		rest = append([]byte(nil), lr.buf[lr.start:lr.end]...)
	}
	lr.pool.put(lr.buf)
	lr.buf, lr.start, lr.end = rest, 0, pending
}

// ReadLine returns the next non-empty line without its terminator. The line
// is only valid until the next call. A line longer than the maximum yields
// ErrFrameTooLong once; other errors come from the underlying reader (io.EOF
// at the end, an unterminated last line is dropped).
func (lr *LineReader) ReadLine() ([]byte, error) {
	lr.shrink()
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+i]
			lr.start += i + 1
			if lr.discarding {
				lr.discarding = false
				continue
			}
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if len(line) == 0 {
				continue
			}
			if len(line) > lr.max {
				return nil, ErrFrameTooLong
			}
			return line, nil
		}
		pending := lr.end - lr.start
		switch {
		case lr.discarding:
			lr.start, lr.end = 0, 0
		case pending > lr.max+1: // even with a trailing "\r" the line is too long
			lr.discarding = true
			lr.start, lr.end = 0, 0
			lr.shrink()
			return nil, ErrFrameTooLong
		case lr.start > 0 && (lr.end == len(lr.buf) || pending == 0):
			copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start, lr.end = 0, pending
		}
		if lr.end == len(lr.buf) {
			lr.grow()
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

func (lr *LineReader) grow() {
	if lr.pool != nil && lr.end-lr.start < PooledBufferSize/2 && len(lr.buf) < PooledBufferSize {
		buf := lr.pool.get()
		lr.end = copy(buf, lr.buf[lr.start:lr.end])
		lr.buf, lr.start = buf, 0
		return
	}
	size := 2 * len(lr.buf)
	if size < InitialReadBuffer {
		size = InitialReadBuffer
	}
	if limit := lr.max + 2; size > limit && limit > len(lr.buf) {
		size = limit
	}
	if size <= len(lr.buf) {
		size = len(lr.buf) + InitialReadBuffer // discarding, or a max below the initial size
	}
	buf := make([]byte, size)
	copy(buf, lr.buf[lr.start:lr.end])
	if lr.pool != nil {
		lr.pool.put(lr.buf)
	}
	lr.buf, lr.end, lr.start = buf, lr.end-lr.start, 0
}

// shrink returns to a small buffer once a big frame has been consumed (to
// a pooled one with a pool).
func (lr *LineReader) shrink() {
	if lr.pool != nil {
		if len(lr.buf) > PooledBufferSize && lr.end-lr.start <= PooledBufferSize/2 {
			buf := lr.pool.get()
			lr.end = copy(buf, lr.buf[lr.start:lr.end])
			lr.buf, lr.start = buf, 0
		}
		return
	}
	if len(lr.buf) <= InitialReadBuffer || lr.end-lr.start > InitialReadBuffer/2 {
		return
	}
	buf := make([]byte, InitialReadBuffer)
	lr.end = copy(buf, lr.buf[lr.start:lr.end])
	lr.buf, lr.start = buf, 0
}
