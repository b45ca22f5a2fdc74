// Package scan reads the edge's JSON-lines envelopes cheaply: it splits lines
// and finds chat messages and their send timestamps with byte searches, never
// decoding a whole envelope, so that one core keeps up with hundreds of
// thousands of deliveries a second.
package scan

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
)

// DefaultMaxLine bounds a line (the edge's default frame limit).
const DefaultMaxLine = 1 << 20

// ErrLineTooLong is returned for a line longer than the reader's limit.
var ErrLineTooLong = errors.New("line too long")

// Reader splits a stream into lines.
type Reader struct {
	br      *bufio.Reader
	long    []byte
	maxLine int
	eof     bool
}

// NewReader returns a Reader buffering size bytes that refuses lines longer
// than maxLine (0 means DefaultMaxLine).
func NewReader(r io.Reader, size, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, size), maxLine: maxLine}
}

// Next returns the next line without its "\n" or "\r\n". The line is valid
// until the following call. A final line without a newline is returned before
// io.EOF.
func (r *Reader) Next() ([]byte, error) {
	if r.eof {
		return nil, io.EOF
	}
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather it (rare: big batches).
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(r.long) > r.maxLine {
				return nil, fmt.Errorf("%w: over %d bytes", ErrLineTooLong, r.maxLine)
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			r.eof = true
			return trim(line), nil
		}
		return nil, err
	}
	if len(line) > r.maxLine+1 {
		return nil, fmt.Errorf("%w: %d bytes", ErrLineTooLong, len(line))
	}
	return trim(line), nil
}

func trim(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'})
}

// Kind is what an envelope line carries, as far as a load generator cares.
type Kind int

// The kinds of envelope lines.
const (
	// Other is any envelope that is neither a message nor an error.
	Other Kind = iota
	// Message is NEW_MESSAGE.
	Message
	// Batch is BATCH_MESSAGES.
	Batch
	// Error is ERROR or CONNECT_ERROR.
	Error
)

var (
	keyAction = []byte(`"action":`)
	// keyContent has no leading quote: searches that start on a quote
	// stop at every quote of the line. The quote is checked after a match.
	keyContent    = []byte(`content":`)
	keyData       = []byte(`"data":`)
	keyCompressed = []byte(`"compressed":true`)
)

var dataObject = []byte(`,"data":{`)

// Action returns the envelope's action (the value of its first "action"
// key), nil when there is none.
func Action(line []byte) []byte {
	a, _ := stringAfter(line, keyAction)
	return a
}

// stringAfter returns the JSON string (without escapes, which actions and
// base64 never contain) following key, nil when there is none, and the bytes
// after its closing quote.
func stringAfter(b, key []byte) (str, rest []byte) {
	i := bytes.Index(b, key)
	if i < 0 {
		return nil, nil
	}
	b = skipSpace(b[i+len(key):])
	if len(b) == 0 || b[0] != '"' {
		return nil, nil
	}
	b = b[1:]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil, nil
	}
	return b[:j], b[j+1:]
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// Parse classifies an envelope line and appends to times the send timestamp
// (unix nanoseconds) of every chat message it carries. It is Parser.Parse
// without reuse, for one-off calls.
func Parse(line []byte, times []int64) (Kind, []int64, error) {
	var p Parser
	return p.Parse(line, times)
}

// messagePrefix is how much of a compressed NEW_MESSAGE's data is inflated:
// the content, and its timestamp, come within the first few fields.
const messagePrefix = 1024

// Parser parses envelope lines, reusing its inflate buffers and gzip state
// from line to line. One Parser serves one goroutine.
type Parser struct {
	raw []byte
	out []byte
	src bytes.Reader
	zr  *gzip.Reader
}

// Parse classifies an envelope line and appends to times the send timestamp
// (unix nanoseconds) of every chat message it carries: a content that begins
// with decimal digits and a space. Contents of other shapes are skipped. A
// compressed envelope (base64 of gzip in data) is inflated first, only as far
// as its timestamps need; an error is returned when that fails.
func (p *Parser) Parse(line []byte, times []int64) (Kind, []int64, error) {
	action, rest := stringAfter(line, keyAction)
	var kind Kind
	switch string(action) { // no allocation: the compiler compares in place
	case "NEW_MESSAGE":
		kind = Message
	case "BATCH_MESSAGES":
		kind = Batch
	case "ERROR", "CONNECT_ERROR":
		return Error, times, nil
	default:
		return Other, times, nil
	}
	body := line
	// A compressed envelope's data is a string; the edge writes data right
	// after action, so an object there settles it without a search.
	if !bytes.HasPrefix(rest, dataObject) && bytes.Contains(line, keyCompressed) {
		data, _ := stringAfter(line, keyData)
		limit := DefaultMaxLine * 16
		if kind == Message {
			limit = messagePrefix
		}
		var err error
		if body, err = p.inflate(data, limit); err != nil {
			return kind, times, err
		}
	}
	return kind, Timestamps(body, times), nil
}

// Timestamps appends the send timestamp of every "content" in b to times.
func Timestamps(b []byte, times []int64) []int64 {
	for {
		i := bytes.Index(b, keyContent)
		if i < 0 {
			return times
		}
		quoted := i > 0 && b[i-1] == '"'
		b = skipSpace(b[i+len(keyContent):])
		if !quoted {
			continue
		}
		if len(b) == 0 || b[0] != '"' {
			continue
		}
		b = b[1:]
		var ts int64
		n := 0
		for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
			ts = ts*10 + int64(b[n]-'0')
			n++
		}
		if n > 0 && n < len(b) && b[n] == ' ' {
			times = append(times, ts)
		}
		b = b[n:]
	}
}

// inflate decodes the base64 of a gzip stream into at most limit bytes: a
// prefix when the stream is longer.
func (p *Parser) inflate(data []byte, limit int) ([]byte, error) {
	if data == nil {
		return nil, errors.New("compressed envelope without a data string")
	}
	p.raw = slices.Grow(p.raw[:0], base64.StdEncoding.DecodedLen(len(data)))[:base64.StdEncoding.DecodedLen(len(data))]
	n, err := base64.StdEncoding.Decode(p.raw, data)
	if err != nil {
		return nil, fmt.Errorf("compressed data: %w", err)
	}
	p.src.Reset(p.raw[:n])
	if p.zr == nil {
		p.zr, err = gzip.NewReader(&p.src)
	} else {
		err = p.zr.Reset(&p.src)
	}
	if err != nil {
		return nil, fmt.Errorf("compressed data: %w", err)
	}
	p.out = p.out[:0]
	for len(p.out) < limit {
		p.out = slices.Grow(p.out, min(4096, limit-len(p.out)))
		m, err := p.zr.Read(p.out[len(p.out):min(cap(p.out), limit)])
		p.out = p.out[:len(p.out)+m]
		if err == io.EOF {
			return p.out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("compressed data: %w", err)
		}
	}
	return p.out, nil
}
