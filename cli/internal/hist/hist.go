// Package hist is a log-linear latency histogram in the manner of
// HdrHistogram: constant relative precision (under 0.8 %) from 1 µs to 60 s
// in about 11 KiB, cheap to record into and to merge.
package hist

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"time"
)

const (
	// subBits sets the precision: each power of two is split in 2^(subBits-1)
	// buckets, so a bucket is at most 1/64 of its values wide.
	subBits  = 7
	subCount = 1 << subBits
	subHalf  = subCount / 2
	// maxMicros is the largest value kept apart; longer ones share its bucket.
	maxMicros = uint64(60 * time.Second / time.Microsecond)
)

// bucketCount is index(maxMicros)+1 (checked by a test).
const bucketCount = 1331

// Histogram counts durations. The zero value is ready to use; it allocates its
// buckets on the first Record. A Histogram is not safe for concurrent use:
// give each goroutine its own and Merge them.
type Histogram struct {
	counts []uint64
	n      uint64
	max    time.Duration
}

// index returns the bucket of a value in microseconds.
func index(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return subCount + (shift-1)*subHalf + int(v>>shift) - subHalf
}

// value returns the midpoint of bucket i, in microseconds.
func value(i int) float64 {
	if i < subCount {
		return float64(i)
	}
	k := i - subCount
	shift := k/subHalf + 1
	low := uint64(k%subHalf+subHalf) << shift
	return float64(low) + float64(uint64(1)<<shift-1)/2
}

// Record counts one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]uint64, bucketCount)
	}
	if d < 0 {
		d = 0
	}
	us := uint64(d / time.Microsecond)
	if us > maxMicros {
		us = maxMicros
	}
	h.counts[index(us)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, bucketCount)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded duration, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the duration at quantile q (0..1): the smallest bucket
// value at or below which a fraction q of the recorded durations lie. It
// returns 0 for an empty histogram and never more than Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(value(i) * float64(time.Microsecond))
			return min(d, h.max)
		}
	}
	return h.max
}

// histogramJSON is a Histogram's JSON form: the non-empty buckets as
// [index, count] pairs, and the exact maximum in nanoseconds.
type histogramJSON struct {
	Buckets [][2]uint64 `json:"buckets"`
	MaxNs   int64       `json:"max_ns"`
}

// MarshalJSON encodes the histogram so that another process can Merge it.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	v := histogramJSON{Buckets: [][2]uint64{}, MaxNs: int64(h.max)}
	for i, c := range h.counts {
		if c > 0 {
			v.Buckets = append(v.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes what MarshalJSON encoded.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var v histogramJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.MaxNs < 0 {
		return fmt.Errorf("hist: negative max_ns %d", v.MaxNs)
	}
	*h = Histogram{max: time.Duration(v.MaxNs)}
	for _, p := range v.Buckets {
		if p[0] >= bucketCount {
			return fmt.Errorf("hist: bucket %d out of range", p[0])
		}
		if h.counts == nil {
			h.counts = make([]uint64, bucketCount)
		}
		h.counts[p[0]] += p[1]
		h.n += p[1]
	}
	return nil
}
