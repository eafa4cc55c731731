package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// abSummary reads bench/ab.sh's rounds, one a line: old's requests and CPU
// ticks, then new's, measured over the same seconds, and optionally old's
// and new's p99 latency in µs. It prints each build's median CPU time per
// request and the median of the per-round ratios new/old with their
// quartiles: the ratio of one round cancels what the machine did to both in
// that round. The requests each served, and latencies, get the same
// summary.
func abSummary(hz float64, path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var oldUS, newUS, ratios, oldP99, newP99, p99Ratios, served []float64
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 && len(fs) != 6 {
			return fmt.Errorf("%s:%d: want 4 or 6 fields, got %d", path, line, len(fs))
		}
		var v [6]float64
		for i, s := range fs {
			if v[i], err = strconv.ParseFloat(s, 64); err != nil {
				return fmt.Errorf("%s:%d: %v", path, line, err)
			}
		}
		if v[0] <= 0 || v[1] <= 0 || v[2] <= 0 || v[3] <= 0 {
			continue // a round without requests or without a tick says nothing
		}
		o, n := v[1]/hz/v[0]*1e6, v[3]/hz/v[2]*1e6
		oldUS, newUS, ratios = append(oldUS, o), append(newUS, n), append(ratios, n/o)
		served = append(served, v[2]/v[0])
		if len(fs) == 6 && v[4] > 0 && v[5] > 0 {
			oldP99, newP99, p99Ratios = append(oldP99, v[4]), append(newP99, v[5]), append(p99Ratios, v[5]/v[4])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(ratios) == 0 {
		return fmt.Errorf("%s: no round with requests", path)
	}
	q1, q3 := quartiles(ratios)
	fmt.Fprintf(w, "old %.1f µs/req, new %.1f µs/req (medians of %d rounds)\n", median(oldUS), median(newUS), len(ratios))
	fmt.Fprintf(w, "new/old CPU per request: median %.3f, quartiles %.3f–%.3f (below 1: new is cheaper)\n", median(ratios), q1, q3)
	q1, q3 = quartiles(served)
	fmt.Fprintf(w, "new/old requests served: median %.3f, quartiles %.3f–%.3f\n", median(served), q1, q3)
	if len(p99Ratios) > 0 {
		q1, q3 := quartiles(p99Ratios)
		fmt.Fprintf(w, "p99 latency: old %.2f ms, new %.2f ms (medians of %d rounds); new/old median %.3f, quartiles %.3f–%.3f\n",
			median(oldP99)/1e3, median(newP99)/1e3, len(p99Ratios), median(p99Ratios), q1, q3)
	}
	return nil
}

// quartiles are the medians of the lower and the upper half of xs.
func quartiles(xs []float64) (q1, q3 float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	h := len(s) / 2
	if len(s) == 1 {
		return s[0], s[0]
	}
	return median(s[:h]), median(s[len(s)-h:])
}
