package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// The lines of RESULTS.tsv written by run.sh, tab-separated:
//
//	MODE  mode  description
//	RUN   mode round target class requests duration_us p50_us p99_us errors non2xx cpu_ticks clk_tck origin_requests
//	SKIP  mode  target reason
//
// class is "proxy" or "cache"; a proxy row is compared with the nginx and
// haproxy rows of the same round, a cache row with nginx-cache and
// haproxy-cache.

type run struct {
	round, target, class string
	requests             int64
	seconds              float64
	p50, p99             float64 // microseconds
	errors, non2xx       int64
	cpuSeconds           float64
	origin               int64
}

func (r run) rps() float64 { return float64(r.requests) / r.seconds }

// cores is how many CPUs the proxy kept busy on average during the run.
func (r run) cores() float64 { return r.cpuSeconds / r.seconds }

type mode struct {
	name, desc string
	targets    []string // in order of first appearance
	runs       map[string][]run
	skips      map[string]string
}

// refs names the targets each class is compared with.
var refs = map[string][2]string{
	"proxy": {"nginx", "haproxy"},
	"cache": {"nginx-cache", "haproxy-cache"},
}

// order is how rows are listed; other targets follow in order of appearance.
var order = []string{"nginx", "nginx-fwd", "haproxy", "go-reverseproxy", "resind-httpproxy", "resind-httpproxy-epoll", "resind-lb", "resind-lb-epoll", "nginx-cache", "haproxy-cache", "resind-cache"}

func rank(t string) int {
	for i, x := range order {
		if x == t {
			return i
		}
	}
	return len(order)
}

func table(path string, w io.Writer) error {
	rows, err := scanTSV(path)
	if err != nil {
		return err
	}
	var modes []*mode
	byName := map[string]*mode{}
	get := func(name string) *mode {
		m := byName[name]
		if m == nil {
			m = &mode{name: name, runs: map[string][]run{}, skips: map[string]string{}}
			byName[name] = m
			modes = append(modes, m)
		}
		return m
	}
	addTarget := func(m *mode, t string) {
		for _, x := range m.targets {
			if x == t {
				return
			}
		}
		m.targets = append(m.targets, t)
	}
	for i, f := range rows {
		switch {
		case f[0] == "MODE" && len(f) >= 3:
			get(f[1]).desc = f[2]
		case f[0] == "SKIP" && len(f) >= 4:
			m := get(f[1])
			addTarget(m, f[2])
			m.skips[f[2]] = f[3]
		case f[0] == "RUN" && len(f) >= 14:
			m := get(f[1])
			n := func(j int) int64 { v, _ := strconv.ParseInt(f[j], 10, 64); return v }
			r := run{round: f[2], target: f[3], class: f[4], requests: n(5),
				seconds: float64(n(6)) / 1e6, p50: float64(n(7)), p99: float64(n(8)),
				errors: n(9), non2xx: n(10), origin: n(13)}
			if clk := n(12); clk > 0 {
				r.cpuSeconds = float64(n(11)) / float64(clk)
			}
			if r.seconds <= 0 {
				return fmt.Errorf("%s: line %d: run without duration", path, i+1)
			}
			addTarget(m, r.target)
			m.runs[r.target] = append(m.runs[r.target], r)
		default:
			return fmt.Errorf("%s: line %d: cannot read %q", path, i+1, strings.Join(f, "\t"))
		}
	}
	for _, m := range modes {
		sort.SliceStable(m.targets, func(i, j int) bool { return rank(m.targets[i]) < rank(m.targets[j]) })
		printMode(w, m)
	}
	return nil
}

func printMode(w io.Writer, m *mode) {
	fmt.Fprintf(w, "\n== %s: %s\n", m.name, m.desc)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	width := len("target")
	for _, t := range m.targets {
		width = max(width, len(t))
	}
	left := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	fmt.Fprintln(tw, left("target")+"\treq/s\tp50\tp99\tproxy CPU\treq/s/core\t×nginx\t×haproxy\t×nginx/core\torigin\terrors\t")
	var misses []string
	for _, t := range m.targets {
		if why, ok := m.skips[t]; ok && len(m.runs[t]) == 0 {
			_ = why
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\tnot run\t\n", left(t))
			continue
		}
		rs := m.runs[t]
		var rps, p50, p99, cores, perCore []float64
		var reqs, origin, errs, non2xx int64
		for _, r := range rs {
			rps = append(rps, r.rps())
			p50 = append(p50, r.p50)
			p99 = append(p99, r.p99)
			cores = append(cores, r.cores())
			if r.cores() > 0 {
				perCore = append(perCore, r.rps()/r.cores())
			}
			reqs += r.requests
			origin += r.origin
			errs += r.errors
			non2xx += r.non2xx
		}
		ref := refs[rs[0].class]
		ratio := func(refTarget string, perCore bool) string {
			var xs []float64
			for _, r := range rs {
				for _, q := range m.runs[refTarget] {
					if q.round != r.round {
						continue
					}
					a, b := r.rps(), q.rps()
					if perCore {
						if r.cores() == 0 || q.cores() == 0 {
							continue
						}
						a, b = a/r.cores(), b/q.cores()
					}
					if b > 0 {
						xs = append(xs, a/b)
					}
				}
			}
			if len(xs) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", median(xs))
		}
		errCol := "0"
		if errs > 0 {
			errCol = fmt.Sprintf("%d (%d non-2xx) !", errs, non2xx)
		}
		originCol := "-"
		if reqs > 0 && origin >= 0 {
			share := float64(origin) / float64(reqs)
			originCol = fmt.Sprintf("%.0f%%", 100*share)
			if rs[0].class == "cache" && share > 0.05 {
				originCol += " !"
				misses = append(misses, fmt.Sprintf("  %s: %.0f%% of its requests reached the backends: it measured misses, not cache hits", t, 100*share))
			}
		}
		pc := "-"
		if len(perCore) > 0 {
			pc = fmt.Sprintf("%.0f", median(perCore))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", left(t),
			median(rps), ms(median(p50)), ms(median(p99)), median(cores), pc,
			ratio(ref[0], false), ratio(ref[1], false), ratio(ref[0], true), originCol, errCol)
	}
	tw.Flush()
	for _, n := range misses {
		fmt.Fprintln(w, n)
	}
	// Targets skipped for the same reason share one note.
	var reasons []string
	who := map[string][]string{}
	for _, t := range m.targets {
		if why, ok := m.skips[t]; ok {
			if who[why] == nil {
				reasons = append(reasons, why)
			}
			who[why] = append(who[why], t)
		}
	}
	for _, why := range reasons {
		fmt.Fprintf(w, "  %s not run: %s\n", strings.Join(who[why], ", "), why)
	}
}

func ms(us float64) string { return fmt.Sprintf("%.2fms", us/1000) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
