package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The fuzz targets of the edge's parsers of client input. Each checks what
// its parser promises, against a reference reading where one exists. The
// seeds are the protocol document's examples (testdata/client.jsonl), some
// cut at every byte, and the cases of the table tests; testdata/fuzz holds
// the inputs worth keeping. `make fuzz` runs them; `go test` runs the seeds.

// decodeErrors are Decode's refusals.
var decodeErrors = []error{
	ErrInvalidUTF8, ErrTooDeep, ErrSurrogate, ErrSyntax, ErrNoAction,
	ErrSeqID, ErrUserID, ErrDataNotObj, ErrFieldType, ErrCompressed,
}

// inflateErrors are Inflate's refusals; InflateData adds the refusals of
// Decode that apply to data.
var (
	inflateErrors     = []error{ErrBase64, ErrGzip, ErrInflatedTooLarge}
	inflateDataErrors = append([]error{ErrCompressed, ErrInvalidUTF8, ErrTooDeep, ErrSurrogate, ErrDataNotObj}, inflateErrors...)
)

func oneOf(err error, sentinels []error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// jsonDepth is the nesting depth of valid JSON, read with encoding/json's
// tokenizer.
func jsonDepth(tb testing.TB, b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // 1E700 is valid JSON, but no float64
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return deepest
		}
		if err != nil {
			tb.Fatalf("jsonDepth(%q): %v", b, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// hasLoneSurrogate reports whether a string of b, valid JSON and UTF-8,
// holds a \u escape of a UTF-16 surrogate that is not half of a pair. It
// gathers each string's UTF-16 code units and pairs them with unicode/utf16,
// another route than Scan's.
func hasLoneSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		var units []uint16
		for i++; b[i] != '"'; {
			switch {
			case b[i] == '\\' && b[i+1] == 'u':
				v, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
				units = append(units, uint16(v))
				i += 6
			case b[i] == '\\':
				units = append(units, uint16(b[i+1]))
				i += 2
			default:
				r, n := utf8.DecodeRune(b[i:])
				units = utf16.AppendRune(units, r)
				i += n
			}
		}
		for j := 0; j < len(units); j++ {
			u := rune(units[j])
			if !utf16.IsSurrogate(u) {
				continue
			}
			if j+1 < len(units) && utf16.DecodeRune(u, rune(units[j+1])) != unicode.ReplacementChar {
				j++
				continue
			}
			return true
		}
	}
	return false
}

// splits returns s and every prefix of it: inputs cut at every byte.
func splits(s []byte) [][]byte {
	out := [][]byte{s}
	for i := range len(s) {
		out = append(out, s[:i:i])
	}
	return out
}

// decodeSeeds are envelopes worth starting from besides the golden ones:
// the cases of TestDecode.
var decodeSeeds = []string{
	`{"action":"PING"}`,
	`{"action":"PING","data":{"x":1},"timestamp":"t","seq_id":"s","user_id":7}`,
	`{"action":"PING","user_id":"12"}`,
	`{"action":"PING","data":null,"seq_id":null,"user_id":null}`,
	`{"action":"P\u0049NG"}`,
	`{"action":"PING","seq_id":"\ud83d\ude00"}`,
	`{"action":"PING","seq_id":"[[[[{{{{\"]]"}`,
	`{"action":"PING","seq_id":"\ud800x"}`,
	`{"action":"PING","seq_id":"\udc00"}`,
	`{"action":"PING","seq_id":"\ud800\u0041"}`,
	`{"action":"PING","seq_id":"\\ud800"}`,
	`{"action":"PING","user_id":1.5}`,
	`{"action":"PING","user_id":"+5"}`,
	`{"action":"PING","user_id":9223372036854775808}`,
	`{"action":"PING","data":[]}`,
	`{"action":"PING","timestamp":1}`,
	`{"action":"PING","compressed":true,"data":"H4sI"}`,
	`{"action":"PING","compressed":false,"data":{"x":1}}`,
	`{"action":"PING","compressed":"yes","data":"x"}`,
	`{"action":"PING","ACTION":"JOIN_ROOM","action":"LEAVE_ROOM"}`,
	`{"action":"PING"} x`,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
	`{"action":"PING","data":` + strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat(`}`, 31) + `}`,
	"{\"action\":\"PI\xc3NG\"}",
	` {"action" : "PING" , "data" : { } } `,
	`{"action":"PING","data":{"n":1E700}}`,
	`null`,
}

// FuzzDecode checks Decode: it refuses only with its sentinels and for the
// reason each names; what it accepts is valid UTF-8 and JSON, an object
// within the depth limit, without lone surrogates, with an action, a short
// seq_id, a positive user_id when one was given and object data (a string
// when compressed), each as encoding/json reads it; and the decoded
// envelope, written again, decodes to itself.
func FuzzDecode(f *testing.F) {
	for i, line := range clientEnvelopes(f) {
		f.Add(line, uint8(32))
		f.Add(line, uint8(2))
		if i == 7 || i == 10 { // escapes, and an SDP offer: cut at every byte
			for _, s := range splits(line)[1:] {
				f.Add(s, uint8(32))
			}
		}
	}
	for _, s := range decodeSeeds {
		f.Add([]byte(s), uint8(32))
		f.Add([]byte(s), uint8(1))
	}
	f.Fuzz(func(t *testing.T, line []byte, depth uint8) {
		maxDepth := int(depth % 40)
		env, err := Decode(line, maxDepth)
		if len(env.SeqID) > MaxSeqIDBytes {
			t.Fatalf("Decode(%q) echoes a seq_id of %d bytes", line, len(env.SeqID))
		}
		valid := utf8.Valid(line) && json.Valid(line)
		if err != nil {
			if !oneOf(err, decodeErrors) {
				t.Fatalf("Decode(%q) error = %v, not one of its sentinels", line, err)
			}
			if errors.Is(err, ErrInvalidUTF8) == utf8.Valid(line) {
				t.Fatalf("Decode(%q) error = %v, but utf8.Valid = %v", line, err, utf8.Valid(line))
			}
			if !valid {
				return
			}
			d, lone := jsonDepth(t, line), hasLoneSurrogate(line)
			switch {
			case errors.Is(err, ErrTooDeep) && d <= maxDepth:
				t.Fatalf("Decode(%q, %d) = ErrTooDeep, but the depth is %d", line, maxDepth, d)
			case errors.Is(err, ErrSurrogate) && !lone:
				t.Fatalf("Decode(%q) = ErrSurrogate, but no string has a lone surrogate", line)
			case errors.Is(err, ErrSyntax) && (d <= maxDepth && !lone && bytes.TrimLeft(line, " \t\r\n")[0] == '{'):
				t.Fatalf("Decode(%q) = ErrSyntax, but it is a JSON object", line)
			case (d > maxDepth || lone) && !errors.Is(err, ErrTooDeep) && !errors.Is(err, ErrSurrogate):
				t.Fatalf("Decode(%q, %d) error = %v, want ErrTooDeep or ErrSurrogate (depth %d, lone surrogate %v)", line, maxDepth, err, d, lone)
			}
			return
		}

		// What an accepted envelope is.
		if !valid || bytes.TrimLeft(line, " \t\r\n")[0] != '{' {
			t.Fatalf("Decode(%q) accepted what is not a UTF-8 JSON object", line)
		}
		if d := jsonDepth(t, line); d > maxDepth {
			t.Fatalf("Decode(%q, %d) accepted depth %d", line, maxDepth, d)
		}
		if hasLoneSurrogate(line) {
			t.Fatalf("Decode(%q) accepted a lone surrogate", line)
		}
		if env.Action == "" || env.HasUserID != (env.UserID > 0) || env.UserID < 0 {
			t.Fatalf("Decode(%q) = %+v: want an action, and a positive user id only when it has one", line, env)
		}
		if env.Compressed {
			var s string
			if env.Data[0] != '"' || json.Unmarshal(env.Data, &s) != nil {
				t.Fatalf("Decode(%q) accepted compressed data %s, not a string", line, env.Data)
			}
		} else if env.Data[0] != '{' || !json.Valid(env.Data) {
			t.Fatalf("Decode(%q) accepted data %s, not an object", line, env.Data)
		}
		// Keys are matched exactly, and of a repeated key the last counts:
		// as encoding/json fills a map.
		var fields map[string]json.RawMessage
		var action, seqID string
		err = json.Unmarshal(line, &fields)
		if err == nil {
			err = json.Unmarshal(fields["action"], &action)
		}
		if raw, ok := fields["seq_id"]; err == nil && ok && string(raw) != "null" {
			err = json.Unmarshal(raw, &seqID)
		}
		if err != nil || action != env.Action || seqID != env.SeqID {
			t.Fatalf("Decode(%q) = action %q seq_id %q; encoding/json reads %q %q (%v)", line, env.Action, env.SeqID, action, seqID, err)
		}

		// Written again, the envelope decodes to itself.
		again := []byte(`{"action":`)
		again = AppendString(again, env.Action)
		if env.SeqID != "" {
			again = AppendString(append(again, `,"seq_id":`...), env.SeqID)
		}
		if env.HasUserID {
			again = strconv.AppendInt(append(again, `,"user_id":`...), env.UserID, 10)
		}
		if env.Compressed {
			again = append(again, `,"compressed":true`...)
		}
		if string(env.Data) != "{}" { // the default: absent data may not fit the depth
			again = append(append(again, `,"data":`...), env.Data...)
		}
		again = append(again, '}')
		env2, err := Decode(again, maxDepth)
		if err != nil || !bytes.Equal(env2.Data, env.Data) {
			t.Fatalf("Decode(%q) = %+v, written again %q decodes to %+v, %v", line, env, again, env2, err)
		}
		env.Data, env2.Data = nil, nil
		if !reflect.DeepEqual(env, env2) {
			t.Fatalf("Decode(%q) = %+v, written again %q decodes to %+v", line, env, again, env2)
		}
	})
}

// FuzzScan checks Scan on any bytes: no panic, only its two refusals, a
// limit one deeper never refuses more, and on valid JSON its verdict is
// that of encoding/json's depth and of a UTF-16 pairing of the strings.
func FuzzScan(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s), uint8(32))
		f.Add([]byte(s), uint8(3))
	}
	for _, s := range []string{`"\ud83d\ude00"`, `"\ud83d\ude0`, `"\ud83d\u`, `"\ud83d\`, `"\ud83d`, `"\\\ud800"`, `"\\\\ud800"`, `"\uDBFF\uDFFF"`, `"\udbff\udfff\udc00"`, `[{"\"":[]}]`, `\`} {
		f.Add([]byte(s), uint8(32))
	}
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		maxDepth := int(depth % 40)
		err := Scan(b, maxDepth)
		if err != nil && err != ErrTooDeep && err != ErrSurrogate {
			t.Fatalf("Scan(%q) error = %v, want nil, ErrTooDeep or ErrSurrogate", b, err)
		}
		if err == nil && Scan(b, maxDepth+1) != nil {
			t.Fatalf("Scan(%q, %d) = nil, but with a limit of %d: %v", b, maxDepth, maxDepth+1, Scan(b, maxDepth+1))
		}
		if !utf8.Valid(b) || !json.Valid(b) {
			return
		}
		d, lone := jsonDepth(t, b), hasLoneSurrogate(b)
		switch {
		case err == nil && (d > maxDepth || lone):
			t.Fatalf("Scan(%q, %d) = nil; depth %d, lone surrogate %v", b, maxDepth, d, lone)
		case err == ErrTooDeep && d <= maxDepth:
			t.Fatalf("Scan(%q, %d) = ErrTooDeep; depth %d", b, maxDepth, d)
		case err == ErrSurrogate && !lone:
			t.Fatalf("Scan(%q) = ErrSurrogate without a lone surrogate", b)
		}
	})
}

// numericID matches the text of what ParseID accepts: a decimal integer,
// with the sign and leading zeros strconv.ParseInt allows.
var numericID = regexp.MustCompile(`^\+?[0-9]+$`)

// FuzzParseID checks that ParseID accepts exactly the positive int64
// integers, given as JSON numbers or as JSON strings by their value
// (escapes read), and refuses with ErrUserID; that an accepted id written
// again parses to itself; and that ID and Int agree with it.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{`1`, `"456"`, `9223372036854775807`, `"9223372036854775808"`, `0`, `-1`, `"-1"`, `1.5`, `1e3`, `"+5"`, `"007"`, `""`, `"`, `"1`, `null`, `true`, `"\u0031"`, `"\u0031\"`, ` 1`, `"1" `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := ParseID(raw)
		var viaID ID
		idErr := viaID.UnmarshalJSON(raw)
		if string(raw) == "null" {
			if idErr != nil || viaID != 0 {
				t.Fatalf("ID.UnmarshalJSON(null) = %d, %v; want 0, nil", viaID, idErr)
			}
		} else if (idErr == nil) != (err == nil) || int64(viaID) != id {
			t.Fatalf("ParseID(%q) = %d, %v, but ID.UnmarshalJSON = %d, %v", raw, id, err, viaID, idErr)
		}
		if err != nil && (err != ErrUserID || id != 0) {
			t.Fatalf("ParseID(%q) = %d, %v; want 0, ErrUserID", raw, id, err)
		}
		if json.Valid(raw) && len(bytes.Trim(raw, " \t\r\n")) == len(raw) { // a value as encoding/json hands it over
			text := string(raw)
			if raw[0] == '"' {
				json.Unmarshal(raw, &text)
			}
			want, perr := strconv.ParseInt(text, 10, 64)
			if ok := numericID.MatchString(text) && perr == nil && want > 0; ok != (err == nil) || ok && id != want {
				t.Fatalf("ParseID(%q) = %d, %v; the value %q is %d (%v)", raw, id, err, text, want, perr)
			}
		}
		if err != nil {
			return
		}
		for _, again := range []string{strconv.FormatInt(id, 10), `"` + strconv.FormatInt(id, 10) + `"`} {
			if got, err := ParseID([]byte(again)); got != id || err != nil {
				t.Fatalf("ParseID(%s) = %d, %v; want %d", again, got, err, id)
			}
		}
		var n Int
		if err := n.UnmarshalJSON(raw); err != nil || int64(n) != id {
			t.Fatalf("ParseID(%q) = %d, but Int.UnmarshalJSON = %d, %v", raw, id, n, err)
		}
	})
}

// chunkReader hands out data in reads of the sizes of a script: first
// first bytes, then sizes in turn (0 is all that fits). It never returns
// 0, nil; with eofWithData its last read returns io.EOF with the data.
type chunkReader struct {
	data        []byte
	first       int
	sizes       []byte
	reads       int
	eofWithData bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	switch {
	case r.reads == 0 && r.first > 0:
		n = min(n, r.first)
	case len(r.sizes) > 0 && r.sizes[r.reads%len(r.sizes)] > 0:
		n = min(n, int(r.sizes[r.reads%len(r.sizes)]))
	}
	r.reads++
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.eofWithData {
		return n, io.EOF
	}
	return n, nil
}

// frameEvent is one result of ReadLine: a line, or ErrFrameTooLong.
type frameEvent struct {
	line    string
	tooLong bool
}

// referenceFrames is the framing LineReader promises, from a plain split:
// lines end in \n, a \r before it is dropped, empty lines are skipped, a
// line longer than max is one ErrFrameTooLong, and an unterminated tail is
// dropped, or is ErrFrameTooLong when even with a \r to come it would be
// too long.
func referenceFrames(stream []byte, max int) []frameEvent {
	var out []frameEvent
	parts := bytes.Split(stream, []byte("\n"))
	for _, p := range parts[:len(parts)-1] {
		p = bytes.TrimSuffix(p, []byte("\r"))
		switch {
		case len(p) == 0:
		case len(p) > max:
			out = append(out, frameEvent{tooLong: true})
		default:
			out = append(out, frameEvent{line: string(p)})
		}
	}
	if len(parts[len(parts)-1]) > max+1 {
		out = append(out, frameEvent{tooLong: true})
	}
	return out
}

// FuzzLineReader feeds byte streams to a LineReader in reads of any sizes
// and checks that it yields exactly the lines and ErrFrameTooLong of a plain
// split, in order, none lost or merged; no line over the maximum; and a
// buffer never over the maximum frame (or the initial buffer).
func FuzzLineReader(f *testing.F) {
	golden := bytes.Join(clientEnvelopes(f), []byte("\r\n"))
	golden = append(golden, '\n')
	// Two envelopes, the first read cut at every byte.
	two := slicesConcat(clientEnvelopes(f)[2], []byte("\n"), clientEnvelopes(f)[10], []byte("\r\n"))
	for i := range len(two) + 1 {
		f.Add(two, uint16(256), uint16(i), []byte{0})
	}
	f.Add(golden, uint16(256), uint16(0), []byte{0})
	f.Add(golden, uint16(1), uint16(0), []byte{1})
	f.Add(golden, uint16(0), uint16(0), []byte{0})
	f.Add(golden, uint16(1<<15), uint16(0), []byte{3, 1, 4, 1, 5, 9, 2, 6})
	for _, maxFrame := range []uint16{5, 510, 511, 512, 513, 1024} {
		for _, n := range []int{-2, -1, 0, 1, 2} {
			line := bytes.Repeat([]byte("x"), int(maxFrame)+n)
			f.Add(slicesConcat(line, []byte("\nok\n"), line, []byte("\r\nok\r\n"), line), maxFrame, uint16(0), []byte{0})
			f.Add(slicesConcat(line, []byte("\r\r\n\n\r\n"), line), maxFrame, uint16(3), []byte{1, 255})
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, maxBytes, first uint16, sizes []byte) {
		maxFrame := int(maxBytes % 1100)
		want := referenceFrames(stream, maxFrame)
		eofWithData := len(sizes) > 0 && sizes[0]%2 == 1
		lr := NewLineReader(&chunkReader{data: stream, first: int(first), sizes: sizes, eofWithData: eofWithData}, maxFrame)
		bufLimit := max(InitialReadBuffer, maxFrame+2)
		var got []frameEvent
		for i := 0; ; i++ {
			if i > len(stream)+1 { // every result but io.EOF consumes a byte
				t.Fatalf("LineReader(max %d) gave %d results for %d bytes without io.EOF", maxFrame, i, len(stream))
			}
			line, err := lr.ReadLine()
			if len(lr.buf) > bufLimit {
				t.Fatalf("LineReader(max %d) holds a buffer of %d bytes, over %d", maxFrame, len(lr.buf), bufLimit)
			}
			if err == io.EOF {
				break
			}
			switch {
			case errors.Is(err, ErrFrameTooLong):
				got = append(got, frameEvent{tooLong: true})
				continue
			case err != nil:
				t.Fatalf("ReadLine error = %v", err)
			case len(line) == 0 || len(line) > maxFrame || bytes.IndexByte(line, '\n') >= 0:
				t.Fatalf("ReadLine(max %d) = %q: empty, too long or with a newline", maxFrame, line)
			}
			got = append(got, frameEvent{line: string(line)})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("LineReader(max %d, first read %d, sizes %v) = %+v\nwant %+v", maxFrame, first, sizes, got, want)
		}
	})
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// gzipWriters pools gzip writers by level+2 (HuffmanOnly is -2): a new
// one costs more than compressing a fuzz input.
var gzipWriters [gzip.BestCompression + 3]sync.Pool

// gzipBase64 is compressed data as a client sends it, gzip at level.
func gzipBase64(tb testing.TB, b []byte, level int) []byte {
	var buf bytes.Buffer
	w, _ := gzipWriters[level+2].Get().(*gzip.Writer)
	if w == nil {
		var err error
		if w, err = gzip.NewWriterLevel(&buf, level); err != nil {
			tb.Fatal(err)
		}
	} else {
		w.Reset(&buf)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	gzipWriters[level+2].Put(w)
	return base64.StdEncoding.AppendEncode(nil, buf.Bytes())
}

// FuzzInflate feeds the base64+gzip decoder: it refuses only with its
// sentinels, each for the reason it names, never returns more than the
// limit, and agrees with a fresh gzip.Reader read up to limit+1 bytes (its
// readers are pooled: no state may leak from one input to the next). The
// input is also taken as plain data: compressed, it inflates back to itself
// or, beyond the limit, to ErrInflatedTooLarge.
func FuzzInflate(f *testing.F) {
	const limit = 4096
	var c Compressor
	for _, line := range serverLines() {
		if out, ok := c.Compress(line); ok {
			var env struct{ Data string }
			json.Unmarshal(out, &env)
			f.Add([]byte(env.Data), uint16(limit))
		}
	}
	for _, s := range []string{
		`{"messages":[{"chatroom_id":1,"content":"a"},{"chatroom_id":2,"content":"b","seq_id":"x"}]}`,
		`{"jwt_token":"t","compression":"gzip","batch":true}`,
	} {
		f.Add(gzipBase64(f, []byte(s), gzip.DefaultCompression), uint16(limit))
	}
	// A stream cut at every byte: each prefix must be refused.
	for _, s := range splits(gzipBase64(f, []byte(`{"chatroom_id":1,"content":"hello","message_type":"text"}`), gzip.DefaultCompression)) {
		f.Add(s, uint16(limit))
	}
	f.Add(gzipBase64(f, make([]byte, 1<<20), gzip.BestCompression), uint16(limit)) // a bomb
	f.Add(gzipBase64(f, bytes.Repeat([]byte("{"), limit+1), gzip.BestSpeed), uint16(limit))
	f.Add(gzipBase64(f, bytes.Repeat([]byte("{"), limit), gzip.BestSpeed), uint16(limit))
	two := append(gzipBase64(f, []byte("{}"), 1), gzipBase64(f, []byte(" "), 1)...) // two base64 texts
	f.Add(two, uint16(limit))
	f.Add([]byte("H4sIAAAAAAAA/6quBgQAAP//AwBDv6YCAgAAAA==\n"), uint16(0))
	f.Fuzz(func(t *testing.T, encoded []byte, limitBytes uint16) {
		limit := int(limitBytes % 8192)
		out, err := c.Inflate(encoded, limit)
		if len(out) > limit {
			t.Fatalf("Inflate returned %d bytes, over the limit %d", len(out), limit)
		}
		if err != nil && (out != nil || !oneOf(err, inflateErrors)) {
			t.Fatalf("Inflate(%q) = %d bytes, %v; want nil and one of its sentinels", encoded, len(out), err)
		}

		// The reference: base64, then a fresh gzip.Reader read up to limit+1.
		var want []byte
		var wantErr error
		z, derr := base64.StdEncoding.DecodeString(string(encoded))
		if derr != nil {
			wantErr = ErrBase64
		} else if zr, gerr := gzip.NewReader(bytes.NewReader(z)); gerr != nil {
			wantErr = ErrGzip
		} else {
			b, rerr := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
			switch {
			case len(b) > limit:
				wantErr = ErrInflatedTooLarge
			case rerr != nil:
				wantErr = ErrGzip
			default:
				want = b
			}
		}
		if err != wantErr || !bytes.Equal(out, want) {
			t.Fatalf("Inflate(%q, %d) = %q, %v; the reference reads %q, %v", encoded, limit, out, err, want, wantErr)
		}

		// The input as plain data round-trips.
		for _, level := range []int{gzip.BestSpeed, gzip.BestCompression} {
			back, err := c.Inflate(gzipBase64(t, encoded, level), limit)
			switch {
			case len(encoded) > limit && err != ErrInflatedTooLarge:
				t.Fatalf("Inflate of %d bytes at level %d with limit %d = %d bytes, %v; want ErrInflatedTooLarge", len(encoded), level, limit, len(back), err)
			case len(encoded) <= limit && (err != nil || !bytes.Equal(back, encoded)):
				t.Fatalf("Inflate(Compress(%q)) = %q, %v", encoded, back, err)
			}
		}
	})
}

// FuzzInflateData checks InflateData on data compressed as a client would:
// it refuses only with its sentinels, and refuses and accepts as Decode
// does the same object sent plain, with the same data, on one line; and a
// server envelope carrying the input, compressed by Compress, decodes and
// inflates back to its data.
func FuzzInflateData(f *testing.F) {
	for _, line := range clientEnvelopes(f) {
		env, err := Decode(line, 32)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(env.Data), uint8(31), uint16(1000))
	}
	for _, s := range []string{
		"{\n  \"type\": \"offer\",\n  \"sdp\": \"v=0\\r\\n\"\n}\n",
		"{\"sdp\":{\"type\":\"offer\",\r\n\"sdp\":\"v=0\"},\"video_room_id\":\"vr1\",\"target_user_id\":7}",
		" \t{}\r\n",
		`{"a":"\ud800"}`,
		"{\"a\":\"\xff\"}",
		`[1,2]`, `{}{}`, `{"a":`, `null`, `"x"`, ``,
		strings.Repeat(`{"a":`, 5) + "1" + strings.Repeat("}", 5),
		`{"pad":"` + strings.Repeat("a", 990) + `"}`,
	} {
		f.Add([]byte(s), uint8(4), uint16(1000))
	}
	var c Compressor
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte, depth uint8, limitBytes uint16) {
		maxDepth, limit := int(depth%40), int(limitBytes%2048)
		raw := slicesConcat([]byte(`"`), gzipBase64(t, data, gzip.BestSpeed), []byte(`"`))
		got, err := c.InflateData(raw, limit, maxDepth)
		if err != nil && (got != nil || !oneOf(err, inflateDataErrors)) {
			t.Fatalf("InflateData(%q) = %q, %v; want nil and one of its sentinels", data, got, err)
		}
		if len(data) > limit {
			if err != ErrInflatedTooLarge {
				t.Fatalf("InflateData of %d bytes with limit %d = %v, want ErrInflatedTooLarge", len(data), limit, err)
			}
			return
		}
		if err == nil {
			if len(got) > limit || !utf8.Valid(got) || !json.Valid(got) || got[0] != '{' || bytes.IndexByte(got, '\n') >= 0 || Scan(got, maxDepth) != nil {
				t.Fatalf("InflateData(%q) = %q: not a one-line JSON object within the limits", data, got)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, data); err != nil || !bytes.Equal(got, compact.Bytes()) {
				t.Fatalf("InflateData(%q) = %q, want the object itself %q (%v)", data, got, compact.Bytes(), err)
			}
		}

		// The same data sent plain: same verdict, same data.
		if json.Valid(data) && string(bytes.TrimSpace(data)) != "null" {
			line := slicesConcat([]byte(`{"action":"PING","data":`), data, []byte(`}`))
			env, derr := Decode(line, maxDepth+1)
			if err != derr {
				t.Fatalf("InflateData(%q) error = %v, but Decode of it plain = %v", data, err, derr)
			}
			if err == nil {
				var compact bytes.Buffer
				json.Compact(&compact, env.Data)
				if !bytes.Equal(got, compact.Bytes()) {
					t.Fatalf("InflateData(%q) = %q, but Decode of it plain = %q", data, got, env.Data)
				}
			}
		}

		// A server envelope with the input in it compresses, decodes and
		// inflates back to its data.
		line := AppendServerAnnouncement(nil, Header{Time: at, SeqID: "a"}, Announcement{Title: "t", Message: string(data)})
		out, ok := c.Compress(line)
		if !ok {
			t.Fatalf("Compress(%q) not ok", line)
		}
		env, err := Decode(bytes.TrimSuffix(out, []byte("\n")), 32)
		if err != nil || !env.Compressed {
			t.Fatalf("Decode(Compress(%q)) = %+v, %v; want compressed data", line, env, err)
		}
		back, err := c.InflateData(env.Data, 1<<20, 31)
		if err != nil || !bytes.Equal(back, Data(line)) {
			t.Fatalf("InflateData of Compress(%q) = %q, %v; want %q", line, back, err, Data(line))
		}
	})
}

// FuzzDecodeMessageData checks the reader of SEND_MESSAGE data against
// encoding/json filling a map (exact keys, the last of a repeated one): an
// accepted object has the fields it reports, a refused one names a field
// that is missing or wrong, or is no JSON object.
func FuzzDecodeMessageData(f *testing.F) {
	for _, s := range []string{
		`{"chatroom_id":1,"content":"hi","message_type":"text"}`,
		`{"chatroom_id":"12","content":"\u0068i","seq_id":"m1"}`,
		`{"chatroom_id":1,"content":"","message_type":null}`,
		`{"chatroom_id":1,"content":"x","message_type":"video"}`,
		`{"chatroom_id":0,"content":"x"}`,
		`{"chatroom_id":1}`,
		`{"content":"x","chatroom_id":1,"content":5}`,
		`{"chatroom_id":1,"content":"x","seq_id":5}`,
		`{"chatroom_id":1,"content":"x","client_msg_id":"c-1"}`,
		`{"chatroom_id":1,"content":"x","client_msg_id":7}`,
		`{"chatroom_id":1,"content":"x","client_msg_id":"0123456789012345678901234567890123456789012345678901234567890123456789"}`,
		` {"chatroom_id" : 1 , "content" : "x" } `,
		`[]`, `{`, `{"chatroom_id":1,"content":"x"}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) || Scan(b, 32) != nil {
			return // Decode refuses these before any data is read
		}
		d, err := DecodeMessageData(b)
		var fields map[string]json.RawMessage
		jerr := json.Unmarshal(b, &fields)
		if err == nil && jerr != nil {
			t.Fatalf("DecodeMessageData(%q) accepted what encoding/json refuses: %v", b, jerr)
		}
		if jerr != nil || fields == nil {
			if err == nil {
				t.Fatalf("DecodeMessageData(%q) accepted what is no JSON object", b)
			}
			return
		}
		str := func(k string) (string, bool) {
			var s string
			raw, ok := fields[k]
			if !ok || string(raw) == "null" {
				return "", false
			}
			return s, json.Unmarshal(raw, &s) == nil
		}
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("DecodeMessageData(%q) = %v for a JSON object, want a FieldError", b, err)
		}
		if err != nil {
			return
		}
		content, ok := str("content")
		typ, _ := str("message_type")
		seq, _ := str("seq_id")
		clientID, _ := str("client_msg_id")
		room, rerr := ParseID(fields["chatroom_id"])
		if !ok || rerr != nil || content != d.Content || typ != d.MessageType || seq != d.SeqID || room != d.ChatroomID || clientID != d.ClientMsgID {
			t.Fatalf("DecodeMessageData(%q) = %+v; encoding/json reads room %d (%v), content %q, type %q, seq_id %q, client_msg_id %q", b, d, room, rerr, content, typ, seq, clientID)
		}
		if len(d.ClientMsgID) > MaxClientMsgIDBytes {
			t.Fatalf("DecodeMessageData(%q) accepted a client_msg_id of %d bytes", b, len(d.ClientMsgID))
		}
		if _, ok := ParseMessageType(d.MessageType); !ok {
			t.Fatalf("DecodeMessageData(%q) accepted message_type %q", b, d.MessageType)
		}
	})
}
