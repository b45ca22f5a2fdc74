package hist

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func within(got, want time.Duration, rel float64) bool {
	return math.Abs(float64(got-want)) <= rel*float64(want)+float64(time.Microsecond)
}

func TestQuantilesUniform(t *testing.T) {
	var h Histogram
	// 1 ms .. 100 ms in 1 µs steps, shuffled by a stride to record out of order.
	const n = 99_001
	for i := range n {
		j := (i * 7919) % n
		h.Record(time.Millisecond + time.Duration(j)*time.Microsecond)
	}
	if h.Count() != n {
		t.Fatalf("Count() = %d, want %d", h.Count(), n)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond},
		{0.5, 50500 * time.Microsecond},
		{0.9, 90100 * time.Microsecond},
		{0.99, 99010 * time.Microsecond},
		{1, 100 * time.Millisecond},
	} {
		if got := h.Quantile(tt.q); !within(got, tt.want, 0.01) {
			t.Errorf("Quantile(%v) = %v, want %v ±1%%", tt.q, got, tt.want)
		}
	}
	if h.Max() != 100*time.Millisecond {
		t.Errorf("Max() = %v, want 100ms", h.Max())
	}
}

func TestQuantilesSkewed(t *testing.T) {
	var h Histogram
	// 90 fast (2 ms), 9 slow (200 ms), 1 very slow (5 s).
	for range 90 {
		h.Record(2 * time.Millisecond)
	}
	for range 9 {
		h.Record(200 * time.Millisecond)
	}
	h.Record(5 * time.Second)
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 2 * time.Millisecond},
		{0.9, 2 * time.Millisecond},
		{0.91, 200 * time.Millisecond},
		{0.99, 200 * time.Millisecond},
		{0.999, 5 * time.Second},
	} {
		if got := h.Quantile(tt.q); !within(got, tt.want, 0.008) {
			t.Errorf("Quantile(%v) = %v, want %v ±0.8%%", tt.q, got, tt.want)
		}
	}
}

func TestPrecisionAcrossRange(t *testing.T) {
	for d := time.Microsecond; d <= 60*time.Second; d = d*13/10 + time.Microsecond {
		var h Histogram
		h.Record(d)
		h.Record(d + d/1000) // second value so Max does not clamp the answer
		if got := h.Quantile(0.5); !within(got, d, 0.008) {
			t.Errorf("Record(%v); Quantile(0.5) = %v, want within 0.8%%", d, got)
		}
	}
}

func TestClampsAndEdges(t *testing.T) {
	var empty Histogram
	if got := empty.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile(0.5) = %v, want 0", got)
	}
	var h Histogram
	h.Record(-time.Second)
	h.Record(500 * time.Nanosecond)
	if got := h.Quantile(1); got != 0 || h.Max() != 500*time.Nanosecond {
		t.Errorf("Quantile(1), Max() of {-1s, 500ns} = %v, %v; want 0 (the sub-µs bucket), 500ns", got, h.Max())
	}
	var long Histogram
	long.Record(2 * time.Minute)
	if long.Max() != 2*time.Minute {
		t.Errorf("Max() = %v, want 2m (kept exactly beyond the range)", long.Max())
	}
	if got := long.Quantile(0.5); !within(got, 60*time.Second, 0.008) {
		t.Errorf("Quantile(0.5) of {2m} = %v, want the 60s top bucket", got)
	}
}

func TestIndexIsMonotonicAndContiguous(t *testing.T) {
	prev := 0
	for v := uint64(0); v <= maxMicros; v += 1 + v/512 {
		i := index(v)
		if i < prev || i > prev+1 {
			t.Fatalf("index(%d) = %d after %d: want monotonic and contiguous", v, i, prev)
		}
		prev = i
	}
	if got := index(maxMicros); got != bucketCount-1 || prev != got {
		t.Errorf("index(maxMicros) = %d, last index seen %d; want bucketCount-1 = %d", got, prev, bucketCount-1)
	}
	if prev != bucketCount-1 {
		t.Errorf("last index = %d, want %d", prev, bucketCount-1)
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i+1) * 100 * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{})
	if m.Count() != all.Count() || m.Max() != all.Max() {
		t.Fatalf("merged Count, Max = %d, %v; want %d, %v", m.Count(), m.Max(), all.Count(), all.Max())
	}
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99} {
		if got, want := m.Quantile(q), all.Quantile(q); got != want {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var h Histogram
	for i := range 5000 {
		h.Record(time.Duration(i*i) * time.Microsecond)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var got Histogram
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal(%.80s…): %v", b, err)
	}
	if got.Count() != h.Count() || got.Max() != h.Max() {
		t.Fatalf("decoded Count, Max = %d, %v; want %d, %v", got.Count(), got.Max(), h.Count(), h.Max())
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.999} {
		if got.Quantile(q) != h.Quantile(q) {
			t.Errorf("decoded Quantile(%v) = %v, want %v", q, got.Quantile(q), h.Quantile(q))
		}
	}

	var empty Histogram
	if b, err := json.Marshal(&empty); err != nil || string(b) != `{"buckets":[],"max_ns":0}` {
		t.Errorf("empty histogram = %s, %v", b, err)
	}
	for _, bad := range []string{`{"buckets":[[1331,1]],"max_ns":5}`, `{"buckets":[],"max_ns":-1}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) = nil error, want one", bad)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(time.Duration(i%1_000_000) * time.Microsecond)
	}
}
