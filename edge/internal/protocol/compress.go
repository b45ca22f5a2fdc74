package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"unicode/utf8"
)

// Compression errors (edge-protocol.md §7). Each is answered with ERROR
// INVALID_DATA.
var (
	ErrBase64           = errors.New("compressed data is not standard base64")
	ErrGzip             = errors.New("compressed data is not a valid gzip stream")
	ErrInflatedTooLarge = errors.New("inflated data exceeds the limit")
)

// maxPooledBuffer bounds the compression buffer a pooled writer keeps, so
// that one big envelope does not pin its memory.
const maxPooledBuffer = 64 << 10

// Compressor compresses server envelopes and inflates compressed client
// data: data travels as the standard base64 (with padding) of the gzip of
// the data JSON. It reuses its gzip writers and readers (a gzip writer is
// hundreds of KiB to set up). The zero value is ready to use; it is safe for
// concurrent use.
type Compressor struct {
	writers sync.Pool // *gzipWriter
	readers sync.Pool // *gzip.Reader
}

type gzipWriter struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

// Compress returns line, a server envelope made by this package, as a new
// envelope whose data is the base64 of the gzip of line's data, followed by
// "compressed":true; the action, timestamp and seq_id are unchanged. ok is
// false when line is not such an envelope.
func (c *Compressor) Compress(line []byte) (out []byte, ok bool) {
	start, stop, ok := DataBounds(line)
	if !ok {
		return nil, false
	}
	w, _ := c.writers.Get().(*gzipWriter)
	if w == nil {
		w = &gzipWriter{}
		w.zw, _ = gzip.NewWriterLevel(&w.buf, gzip.BestSpeed) // a valid level: no error
	}
	w.buf.Reset()
	w.zw.Reset(&w.buf)
	w.zw.Write(line[start:stop]) // a bytes.Buffer does not fail
	w.zw.Close()
	z := w.buf.Bytes()
	const flag = `","compressed":true`
	out = make([]byte, 0, start+1+base64.StdEncoding.EncodedLen(len(z))+len(flag)+len(line)-stop)
	out = append(out, line[:start]...)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, z)
	out = append(out, flag...)
	out = append(out, line[stop:]...)
	if w.buf.Cap() > maxPooledBuffer {
		w.buf = bytes.Buffer{}
	}
	c.writers.Put(w)
	return out, true
}

// Inflate decodes encoded, the base64 text of a gzip stream, and returns
// the inflated bytes. It reads at most limit+1 inflated bytes, whatever the
// stream claims: a stream inflating to more than limit bytes (a gzip bomb)
// is ErrInflatedTooLarge after at most that much work and memory.
func (c *Compressor) Inflate(encoded []byte, limit int) ([]byte, error) {
	z := make([]byte, base64.StdEncoding.DecodedLen(len(encoded)))
	n, err := base64.StdEncoding.Decode(z, encoded)
	if err != nil {
		return nil, ErrBase64
	}
	br := bytes.NewReader(z[:n])
	zr, _ := c.readers.Get().(*gzip.Reader)
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if zr != nil {
		defer c.readers.Put(zr)
	}
	if err != nil {
		return nil, ErrGzip
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if len(out) > limit {
		return nil, ErrInflatedTooLarge
	}
	if err != nil {
		// Reading up to the end verified the stream's checksum and size.
		return nil, ErrGzip
	}
	return out, nil
}

// InflateData turns raw, the data of an envelope with "compressed":true (a
// JSON string), into the JSON object it carries, compacted onto one line
// as plain data always is: parts of it are relayed as they are (an SDP
// offer), and a newline in them would split the envelope they are written
// into. It refuses what Decode refuses in plain data: invalid UTF-8, lone
// surrogate escapes, nesting deeper than maxDepth (counted from the data
// object), anything but one JSON object; and more than limit inflated bytes.
func (c *Compressor) InflateData(raw json.RawMessage, limit, maxDepth int) (json.RawMessage, error) {
	encoded, ok := stringBytes(raw)
	if !ok {
		return nil, ErrCompressed
	}
	data, err := c.Inflate(encoded, limit)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(data) {
		return nil, ErrInvalidUTF8
	}
	if err := Scan(data, maxDepth); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	compact.Grow(len(data))
	if err := json.Compact(&compact, data); err != nil || compact.Bytes()[0] != '{' {
		return nil, ErrDataNotObj
	}
	return compact.Bytes(), nil
}

// stringBytes returns the bytes of a JSON string value; without escapes
// (base64 has none) they are a sub-slice of raw.
func stringBytes(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}
