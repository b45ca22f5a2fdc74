package scan

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	newMessage = `{"action":"NEW_MESSAGE","data":{"message_id":9,"chatroom_id":1000000,"user_id":5,"nickname":"u5","content":"1767225600123456789 xxxxxxxx","message_type":"text","created_at":"2026-01-01T00:00:00.000Z"},"timestamp":"2026-01-01T00:00:00.000Z","seq_id":"s1"}`
	batch      = `{"action":"BATCH_MESSAGES","data":{"chatroom_id":7,"messages":[{"message_id":1,"content":"11 xx"},{"message_id":2,"content": "22 x"},{"message_id":3,"content":"33 xxx"}]},"timestamp":"t","seq_id":"b"}`
)

func gzipBase64(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestParse(t *testing.T) {
	compressed := `{"action":"BATCH_MESSAGES","compressed":true,"data":"` +
		gzipBase64(t, `{"messages":[{"content":"44 x"},{"content":"55 x"}]}`) + `","seq_id":"z"}`
	tests := []struct {
		name  string
		line  string
		kind  Kind
		times []int64
	}{
		{"new message", newMessage, Message, []int64{1767225600123456789}},
		{"batch", batch, Batch, []int64{11, 22, 33}},
		{"compressed batch", compressed, Batch, []int64{44, 55}},
		{"spaces after colons", `{"action": "NEW_MESSAGE", "data": {"content": "77 x"}}`, Message, []int64{77}},
		{"content not ours", `{"action":"NEW_MESSAGE","data":{"content":"hello world"}}`, Message, nil},
		{"other key ending in content", `{"action":"NEW_MESSAGE","data":{"xcontent":"66 x","content":"67 x"}}`, Message, []int64{67}},
		{"compressed flag after data", `{"action":"NEW_MESSAGE","data":"` + gzipBase64(t, `{"content":"88 x"}`) + `","compressed":true}`, Message, []int64{88}},
		{"digits without space", `{"action":"NEW_MESSAGE","data":{"content":"12345"}}`, Message, nil},
		{"error", `{"action":"ERROR","data":{"error_code":"RATE_LIMITED","content":"1 x"}}`, Error, nil},
		{"connect error", `{"action":"CONNECT_ERROR","data":{"error_code":"INVALID_TOKEN"}}`, Error, nil},
		{"user joined", `{"action":"USER_JOINED","data":{"chatroom_id":1}}`, Other, nil},
		{"no action", `{"data":{"content":"1 x"}}`, Other, nil},
		{"garbage", `not json at all`, Other, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, times, err := Parse([]byte(tt.line), nil)
			if err != nil {
				t.Fatalf("Parse(%s) error: %v", tt.line, err)
			}
			if kind != tt.kind || !slices.Equal(times, tt.times) {
				t.Errorf("Parse(%s) = %v, %v; want %v, %v", tt.line, kind, times, tt.kind, tt.times)
			}
		})
	}
}

func TestParseBadCompressedData(t *testing.T) {
	for _, line := range []string{
		`{"action":"NEW_MESSAGE","compressed":true,"data":"!!!"}`,
		`{"action":"NEW_MESSAGE","compressed":true,"data":"aGVsbG8="}`,
		`{"action":"NEW_MESSAGE","compressed":true,"data":{}}`,
	} {
		if _, _, err := Parse([]byte(line), nil); err == nil {
			t.Errorf("Parse(%s) error = nil, want one", line)
		}
	}
}

func TestReaderSplitsLinesAcrossReads(t *testing.T) {
	long := `{"action":"BATCH_MESSAGES","data":{"messages":[` + strings.Repeat(`{"content":"9 x"},`, 400) + `{"content":"8 x"}]}}`
	stream := newMessage + "\n" + batch + "\r\n\n" + long + "\n" + `{"action":"NEW_MESSAGE","data":{"content":"5 x"}}`
	want := []string{newMessage, batch, "", long, `{"action":"NEW_MESSAGE","data":{"content":"5 x"}}`}
	readers := map[string]func() io.Reader{
		"one byte at a time": func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) },
		"half reads":         func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) },
		"whole":              func() io.Reader { return strings.NewReader(stream) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := NewReader(mk(), 64, 0) // smaller than the long line: it must be gathered
			var got []string
			for range len(want) + 2 {
				line, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next() error after %d lines: %v", len(got), err)
				}
				got = append(got, string(line))
			}
			if !slices.Equal(got, want) {
				t.Errorf("lines = %q\nwant %q", got, want)
			}
			var total int
			for _, l := range got {
				_, times, _ := Parse([]byte(l), nil)
				total += len(times)
			}
			if total != 1+3+401+1 {
				t.Errorf("timestamps found in all lines = %d, want %d", total, 1+3+401+1)
			}
		})
	}
}

func TestReaderMaxLine(t *testing.T) {
	stream := strings.Repeat("x", 300) + "\nok\n"
	for _, size := range []int{64, 1024} {
		r := NewReader(strings.NewReader(stream), size, 100)
		if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
			t.Errorf("buffer %d: Next() on a 300-byte line with limit 100: error = %v, want ErrLineTooLong", size, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(newMessage))
	f.Add([]byte(batch))
	f.Add([]byte(`{"action":"NEW_MESSAGE","compressed":true,"data":"H4sIAAAAAAAA/w=="}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		_, _, _ = Parse(line, nil)
	})
}

func BenchmarkParseNewMessage(b *testing.B) {
	line := []byte(newMessage)
	times := make([]int64, 0, 8)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, times, _ = Parse(line, times[:0])
	}
}

func BenchmarkReaderAndParse(b *testing.B) {
	var stream bytes.Buffer
	for range 1000 {
		stream.WriteString(newMessage)
		stream.WriteByte('\n')
	}
	data := stream.Bytes()
	times := make([]int64, 0, 8)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 64<<10, 0)
		for {
			line, err := r.Next()
			if err != nil {
				break
			}
			_, times, _ = Parse(line, times[:0])
		}
	}
}

// TestParserReuse parses compressed lines of both kinds with one Parser:
// a long NEW_MESSAGE is inflated only as far as its timestamp, a batch in
// full.
func TestParserReuse(t *testing.T) {
	var p Parser
	long := `{"message_id":1,"content":"123 ` + strings.Repeat("lorem ipsum ", 2000) + `"}`
	var batch strings.Builder
	batch.WriteString(`{"messages":[`)
	for i := range 200 {
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"content":"%d %s"}`, 1000+i, strings.Repeat("x", 100))
	}
	batch.WriteString(`]}`)
	for round := range 3 {
		kind, times, err := p.Parse([]byte(`{"action":"NEW_MESSAGE","data":"`+gzipBase64(t, long)+`","compressed":true}`), nil)
		if err != nil || kind != Message || len(times) != 1 || times[0] != 123 {
			t.Fatalf("round %d: long NEW_MESSAGE = %v, %v, %v; want Message [123]", round, kind, times, err)
		}
		if len(p.out) > messagePrefix {
			t.Errorf("round %d: inflated %d bytes of a NEW_MESSAGE, want at most %d", round, len(p.out), messagePrefix)
		}
		kind, times, err = p.Parse([]byte(`{"action":"BATCH_MESSAGES","data":"`+gzipBase64(t, batch.String())+`","compressed":true}`), nil)
		if err != nil || kind != Batch || len(times) != 200 || times[0] != 1000 || times[199] != 1199 {
			t.Fatalf("round %d: batch = %v, %d times, %v; want Batch with 200", round, kind, len(times), err)
		}
	}
}
