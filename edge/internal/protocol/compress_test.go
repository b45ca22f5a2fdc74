package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// gzipB64 is what a client sends as compressed data: the standard base64
// of the gzip of b.
func gzipB64(tb testing.TB, b []byte) string {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// jsonQuote makes a JSON string value of s.
func jsonQuote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// serverLines returns envelopes of every shape the edge sends.
func serverLines() [][]byte {
	h := Header{Time: time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), SeqID: `tricky,"timestamp":"x"`}
	m := testMessage()
	m.Content = `a "data": {"x"},"timestamp": ` + strings.Repeat("가나다 ", 2000)
	return [][]byte{
		AppendNewMessage(nil, h, m),
		AppendMessages(nil, h, 5, []*chatv1.Message{m, testMessage()}, true),
		AppendPong(nil, Header{Time: h.Time, SeqPrefix: "s-e-", SeqNum: 9}),
		AppendError(nil, h, CodeInvalidData, h.SeqID, "SEND_MESSAGE"),
		AppendCoalesced(nil, h, [][]byte{Data(AppendNewMessage(nil, h, m))}),
	}
}

func TestDataBounds(t *testing.T) {
	for _, line := range serverLines() {
		data := Data(line)
		var whole struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(line, &whole); err != nil {
			t.Fatalf("envelope %.80s: %v", line, err)
		}
		if !bytes.Equal(data, whole.Data) {
			t.Errorf("Data(%.80s) = %.80s, want %.80s", line, data, whole.Data)
		}
	}
	for _, bad := range []string{"", "{}", `{"action":"X"}`, `{"action":"X","data":{}}`, `{"data":{},"timestamp":"t"}`} {
		if _, _, ok := DataBounds([]byte(bad)); ok {
			t.Errorf("DataBounds(%q) ok, want not an envelope", bad)
		}
	}
}

// TestCompressRoundTrip compresses every kind of envelope and checks that
// the result is the same envelope with its data as base64 gzip.
func TestCompressRoundTrip(t *testing.T) {
	var c Compressor
	for _, line := range serverLines() {
		for range 3 { // pooled writers are reused
			out, ok := c.Compress(line)
			if !ok {
				t.Fatalf("Compress(%.80s) not ok", line)
			}
			var got, want map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("Compress(%.80s) = %.120s: invalid JSON: %v", line, out, err)
			}
			json.Unmarshal(line, &want)
			if got["compressed"] != true || got["action"] != want["action"] || got["timestamp"] != want["timestamp"] || got["seq_id"] != want["seq_id"] {
				t.Errorf("Compress(%.80s) = %.200s: header differs or compressed not true", line, out)
			}
			plain, err := c.Inflate([]byte(got["data"].(string)), 1<<20)
			if err != nil || !bytes.Equal(plain, Data(line)) {
				t.Errorf("Compress(%.80s) data inflates to %.80s, %v; want the original data", line, plain, err)
			}
			if !bytes.HasSuffix(out, []byte("\n")) || bytes.Count(out, []byte("\n")) != 1 {
				t.Errorf("Compress(%.80s) is not one line", line)
			}
		}
	}
	if _, ok := c.Compress([]byte("not an envelope\n")); ok {
		t.Errorf("Compress of a non-envelope is ok")
	}
}

func TestInflateData(t *testing.T) {
	const limit = 1000
	obj := []byte(`{"chatroom_id":1,"content":"hi"}`)
	exact := []byte(`{"pad":"` + strings.Repeat("a", limit-10) + `"}`)
	valid := gzipB64(t, obj)
	z, _ := base64.StdEncoding.DecodeString(valid)
	deep := strings.Repeat(`{"a":`, 5) + "1" + strings.Repeat("}", 5)
	for _, tc := range []struct {
		name    string
		raw     string // the JSON data value
		want    string
		wantErr error
	}{
		{"valid", `"` + valid + `"`, string(obj), nil},
		{"escaped slash", string(jsonQuote(valid)), string(obj), nil},
		{"surrounding whitespace", `"` + gzipB64(t, []byte(" \n"+string(obj)+"\t ")) + `"`, string(obj), nil},
		// Found by FuzzInflateData: pretty-printed data kept its newlines,
		// and an SDP offer relayed from it was dropped at delivery.
		{"pretty-printed", `"` + gzipB64(t, []byte("{\n  \"sdp\": {\"type\": \"offer\",\r\n\"sdp\": \"v=0\\r\\n\"}\n}\n")) + `"`, `{"sdp":{"type":"offer","sdp":"v=0\r\n"}}`, nil},
		{"whitespace in strings kept", `"` + gzipB64(t, []byte(`{ "a" : " b\tc " }`)) + `"`, `{"a":" b\tc "}`, nil},
		{"exactly the limit", `"` + gzipB64(t, exact) + `"`, string(exact), nil},
		{"one byte over the limit", `"` + gzipB64(t, append([]byte(" "), exact...)) + `"`, "", ErrInflatedTooLarge},
		{"bomb", `"` + gzipB64(t, make([]byte, 10<<20)) + `"`, "", ErrInflatedTooLarge},
		{"not base64", `"not base64!"`, "", ErrBase64},
		{"base64 without padding", `"` + strings.TrimRight(valid, "=") + `"`, "", ErrBase64},
		{"not gzip", `"` + base64.StdEncoding.EncodeToString([]byte("plain text, no gzip")) + `"`, "", ErrGzip},
		{"empty", `""`, "", ErrGzip},
		{"truncated gzip", `"` + base64.StdEncoding.EncodeToString(z[:len(z)-6]) + `"`, "", ErrGzip},
		{"corrupt checksum", `"` + base64.StdEncoding.EncodeToString(append(z[:len(z)-8:len(z)-8], 0, 0, 0, 0, 34, 0, 0, 0)) + `"`, "", ErrGzip},
		{"trailing garbage", `"` + base64.StdEncoding.EncodeToString(append(z[:len(z):len(z)], "junk"...)) + `"`, "", ErrGzip},
		{"not a string", `{}`, "", ErrCompressed},
		{"an array", `"` + gzipB64(t, []byte(`[1,2]`)) + `"`, "", ErrDataNotObj},
		{"two objects", `"` + gzipB64(t, []byte(`{}{}`)) + `"`, "", ErrDataNotObj},
		{"invalid JSON", `"` + gzipB64(t, []byte(`{"a":`)) + `"`, "", ErrDataNotObj},
		{"invalid UTF-8", `"` + gzipB64(t, []byte("{\"a\":\"\xff\"}")) + `"`, "", ErrInvalidUTF8},
		{"lone surrogate", `"` + gzipB64(t, []byte(`{"a":"\ud800"}`)) + `"`, "", ErrSurrogate},
		{"too deep", `"` + gzipB64(t, []byte(deep)) + `"`, "", ErrTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Compressor
			got, err := c.InflateData(json.RawMessage(tc.raw), limit, 4)
			if !errors.Is(err, tc.wantErr) || err == nil && string(got) != tc.want {
				t.Errorf("InflateData(%.60s) = %.60s, %v; want %.60s, %v", tc.raw, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestInflateBombBounded inflates a gzip bomb, 1 GiB of zeros in 1024
// gzip members of about 1 KiB each, with a 1 MiB limit: the work and the
// memory are those of the limit, not of the bomb.
func TestInflateBombBounded(t *testing.T) {
	const limit = 1 << 20
	var member bytes.Buffer
	w, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	w.Write(make([]byte, 1<<20))
	w.Close()
	bomb := base64.StdEncoding.EncodeToString(bytes.Repeat(member.Bytes(), 1024))
	var c Compressor
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	out, err := c.Inflate([]byte(bomb), limit)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if out != nil || err != ErrInflatedTooLarge {
		t.Fatalf("Inflate(1 GiB bomb, %d) = %d bytes, %v; want ErrInflatedTooLarge", limit, len(out), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(bomb)+8*limit) {
		t.Errorf("Inflate(1 GiB bomb, %d) allocated %d bytes, want at most %d", limit, alloc, len(bomb)+8*limit)
	}
	t.Logf("bomb of %d base64 bytes refused in %v, %d bytes allocated", len(bomb), elapsed, after.TotalAlloc-before.TotalAlloc)
}

func BenchmarkCompress(b *testing.B) {
	var c Compressor
	m := testMessage()
	m.Content = strings.Repeat("hello, how are you doing today? ", 200)
	line := AppendNewMessage(nil, Header{Time: time.Now(), SeqPrefix: "s-e-", SeqNum: 1}, m)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		c.Compress(line)
	}
}
