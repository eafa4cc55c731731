package core

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the request latency
// histogram (Prometheus' default buckets, which span a cache hit to a slow
// app-tier page).
var LatencyBuckets = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// latency is a histogram of request durations that requests update with a
// few atomic adds and no lock.
type latency struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64 // the last is the +Inf bucket
	sumNS  atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	sec := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && sec > LatencyBuckets[i] {
		i++
	}
	l.counts[i].Add(1)
	l.sumNS.Add(int64(d))
}

// Histogram is a snapshot of the request latency histogram: Counts[i] are
// the requests that took at most LatencyBuckets[i] seconds and more than
// the bucket before (not cumulative); the last count is above the last
// bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    time.Duration
}

// Count is the number of requests in h.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

func (l *latency) snapshot() Histogram {
	h := Histogram{Bounds: LatencyBuckets[:], Counts: make([]uint64, len(l.counts)), Sum: time.Duration(l.sumNS.Load())}
	for i := range l.counts {
		h.Counts[i] = l.counts[i].Load()
	}
	return h
}
