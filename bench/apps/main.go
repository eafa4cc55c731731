// Command apps measures the three ways resind runs an application, in one
// run and under the same load: a process per request (CGI), a pool of
// FastCGI processes (mod_fcgid style) and an HTTP application server
// behind the proxy. The application is the same Go program each time
// (app/testdata/hello answering "hello"); a shell CGI script is measured
// beside it, as the classic CGI.
//
// It starts one resind (console) with a resin.xml serving all of them,
// runs wrk against each target in interleaved rounds, and samples, while
// wrk runs, the resident memory of resind and every process below it
// (the application processes, CGI scripts included) and their CPU time.
// It prints a Markdown table of medians over rounds. bench/apps.sh builds
// the binaries and runs it.
//
// Loopback only; everything it starts is stopped when it ends.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type target struct {
	name, path, how string
	// mine tells the target's processes among resind's descendants by
	// their command line (argv joined with spaces): the others (the idle
	// processes of the other ways) are not counted.
	mine func(cmdline string) bool
}

var targets = []target{
	{"cgi-sh", "/hello-sh.cgi", "CGI: /bin/sh script, one process per request",
		func(c string) bool { return strings.Contains(c, "hello-sh.cgi") }},
	{"cgi-go", "/hello.cgi", "CGI: the Go hello binary, one process per request",
		func(c string) bool { return strings.HasSuffix(strings.Fields(c)[0], "/hello.cgi") }},
	{"fastcgi", "/fcgi/", "FastCGI: supervised pool of the Go hello (min 2, max 4 processes)",
		func(c string) bool { return strings.HasSuffix(c, " -fcgi") }},
	{"http", "/http/", "HTTP: the Go hello as an app server behind HttpProxy",
		func(c string) bool { f := strings.Fields(c); return len(f) == 1 && strings.HasSuffix(f[0], "/hello") }},
}

func main() {
	resind := flag.String("resind", "bin/resind", "the resind binary")
	hello := flag.String("hello", "", "the hello application binary")
	duration := flag.Duration("duration", 5*time.Second, "one wrk run")
	conns := flag.Int("connections", 16, "wrk connections")
	threads := flag.Int("threads", 1, "wrk threads")
	rounds := flag.Int("rounds", 3, "rounds (targets interleaved)")
	only := flag.String("targets", "", "a subset of cgi-sh,cgi-go,fastcgi,http")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()
	if *hello == "" {
		fail("-hello is required")
	}
	if *only != "" {
		targets = slices.DeleteFunc(targets, func(t target) bool { return !slices.Contains(strings.Split(*only, ","), t.name) })
	}

	dir, err := os.MkdirTemp("", "resind-bench-apps-")
	check(err)
	if !*keep {
		defer os.RemoveAll(dir)
	} else {
		defer fmt.Fprintln(os.Stderr, "bench/apps: kept", dir)
	}
	port := freePort()
	setup(dir, *hello, port)

	cmd := exec.Command(*resind, "-conf", filepath.Join(dir, "resin.xml"), "-data-directory", filepath.Join(dir, "data"),
		"-log-directory", filepath.Join(dir, "log"), "-server", "app-a", "console")
	logf, err := os.Create(filepath.Join(dir, "console.out"))
	check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	check(cmd.Start())
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	defer stop()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; stop(); os.Exit(130) }()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, t := range targets {
		waitFor(base + t.path)
	}
	fmt.Fprintf(os.Stderr, "bench/apps: resind pid %d on %s; %d rounds of %v, wrk -t%d -c%d\n",
		cmd.Process.Pid, base, *rounds, *duration, *threads, *conns)

	results := map[string][]result{}
	for round := 1; round <= *rounds; round++ {
		for _, t := range targets {
			r := measure(cmd.Process.Pid, t.mine, base+t.path, *duration, *threads, *conns)
			fmt.Fprintf(os.Stderr, "bench/apps: round %d %-8s %8.0f req/s  p50 %-8v p99 %-8v RSS peak %5.1f MB  procs %d  CPU %.2f cores  errors %d\n",
				round, t.name, r.rps, r.p50, r.p99, r.rssPeak/1e6, r.procsPeak, r.cpu, r.errors)
			results[t.name] = append(results[t.name], r)
		}
	}
	idleRSS, idleProcs, _ := treeRSS(cmd.Process.Pid, nil)
	pids := descendants(cmd.Process.Pid)
	stop()
	var left []int
	for _, p := range pids {
		if syscall.Kill(p, 0) == nil {
			left = append(left, p)
		}
	}

	fmt.Printf("\n%d rounds of %v each, wrk -t%d -c%d (HTTP/1.1 keep-alive) on loopback, %d cores; medians over rounds.\n",
		*rounds, *duration, *threads, *conns, runtime.NumCPU())
	fmt.Printf("RSS and CPU are of resind plus the processes of the way measured (its FastCGI pool, its app server, its CGI scripts), sampled every 100 ms while wrk ran.\n\n")
	fmt.Println("| way | req/s | latency avg | p50 | p99 | RSS mean | RSS peak | of which resind | processes (peak) | CPU (cores) | non-2xx |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, t := range targets {
		rs := results[t.name]
		m := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		d := func(f func(result) time.Duration) time.Duration {
			return time.Duration(m(func(r result) float64 { return float64(f(r)) }))
		}
		fmt.Printf("| %s | %.0f | %v | %v | %v | %.1f MB | %.1f MB | %.1f MB | %.0f | %.2f | %.0f |\n", t.name,
			m(func(r result) float64 { return r.rps }),
			d(func(r result) time.Duration { return r.avg }).Round(time.Microsecond),
			d(func(r result) time.Duration { return r.p50 }).Round(time.Microsecond),
			d(func(r result) time.Duration { return r.p99 }).Round(time.Microsecond),
			m(func(r result) float64 { return r.rssMean })/1e6,
			m(func(r result) float64 { return r.rssPeak })/1e6,
			m(func(r result) float64 { return r.resindRSS })/1e6,
			m(func(r result) float64 { return float64(r.procsPeak) }),
			m(func(r result) float64 { return r.cpu }),
			m(func(r result) float64 { return float64(r.errors) }))
	}
	fmt.Println()
	for _, t := range targets {
		fmt.Printf("- %s: %s\n", t.name, t.how)
	}
	fmt.Printf("- idle after the runs: %.1f MB in %d processes (resind and its applications)\n", idleRSS/1e6, idleProcs)
	if len(left) > 0 {
		fmt.Printf("- LEFT RUNNING after resind stopped: %v\n", left)
		os.Exit(1)
	}
	fmt.Printf("- after resind stopped: none of its %d processes left\n", len(pids))
}

const resinXML = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="app-a" address="127.0.0.1" port="%d">
      <http address="127.0.0.1" port="%d"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="%s">
        <resin:FastCgiProxy regexp="^/fcgi/" command="%s -fcgi" min-processes="2" max-processes="4" timeout="30s"/>
        <resin:HttpProxy regexp="^/http/" command="%s" health-path="/" timeout="30s"/>
        <servlet-mapping url-pattern="*.cgi" servlet-class="com.caucho.servlets.CGIServlet"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

func setup(dir, hello string, port int) {
	root := filepath.Join(dir, "root")
	check(os.MkdirAll(root, 0o755))
	hello, err := filepath.Abs(hello)
	check(err)
	b, err := os.ReadFile(hello)
	check(err)
	check(os.WriteFile(filepath.Join(root, "hello.cgi"), b, 0o755))
	check(os.WriteFile(filepath.Join(root, "hello-sh.cgi"),
		[]byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello\\n'\n"), 0o755))
	check(os.WriteFile(filepath.Join(dir, "resin.xml"),
		[]byte(fmt.Sprintf(resinXML, freePort(), port, root, hello, hello)), 0o644))
}

type result struct {
	rps              float64
	avg, p50, p99    time.Duration
	errors           int
	rssMean, rssPeak float64
	resindRSS        float64 // resind's own, peak
	procsPeak        int
	cpu              float64 // cores busy: CPU seconds per second
}

// measure runs wrk against url while sampling the process tree of pid.
func measure(pid int, mine func(string) bool, url string, d time.Duration, threads, conns int) result {
	ctx, cancel := context.WithCancel(context.Background())
	samples := make(chan []float64, 1)
	go func() {
		var rss []float64
		peakProcs, resindRSS := 0.0, 0.0
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				samples <- append(rss, resindRSS, peakProcs)
				return
			case <-t.C:
				r, n, own := treeRSS(pid, mine)
				rss = append(rss, r)
				resindRSS = max(resindRSS, own)
				peakProcs = max(peakProcs, float64(n))
			}
		}
	}()
	cpu0, t0 := treeCPU(pid, mine), time.Now()
	out, err := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", url).CombinedOutput()
	cpu1, t1 := treeCPU(pid, mine), time.Now()
	cancel()
	s := <-samples
	if err != nil {
		fail(fmt.Sprintf("wrk %s: %v\n%s", url, err, out))
	}
	r := parseWrk(string(out))
	r.procsPeak = int(s[len(s)-1])
	r.resindRSS = s[len(s)-2]
	s = s[:len(s)-2]
	for _, v := range s {
		r.rssMean += v
		r.rssPeak = max(r.rssPeak, v)
	}
	if len(s) > 0 {
		r.rssMean /= float64(len(s))
	}
	r.cpu = (cpu1 - cpu0) / t1.Sub(t0).Seconds()
	return r
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reLatency = regexp.MustCompile(`(?m)^\s+Latency\s+(\S+)`)
	reP50     = regexp.MustCompile(`(?m)^\s+50%\s+(\S+)`)
	reP99     = regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reErrors  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func parseWrk(out string) result {
	var r result
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	dur := func(re *regexp.Regexp) time.Duration {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0
		}
		d, _ := time.ParseDuration(m[1])
		return d
	}
	r.avg, r.p50, r.p99 = dur(reLatency), dur(reP50), dur(reP99)
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.errors, _ = strconv.Atoi(m[1])
	}
	if m := reErrors.FindStringSubmatch(out); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			r.errors += n
		}
	}
	return r
}

// descendants lists pid and every process below it.
func descendants(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := statFields(string(b))
		if len(f) > 2 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields are the fields of /proc/PID/stat after the command name:
// [0] is the state, [1] the parent pid, [11..14] utime, stime, cutime,
// cstime in clock ticks.
func statFields(stat string) []string {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(stat[i+1:])
}

// cmdline is the command line of pid, its arguments joined by spaces.
func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// counted lists pid and those of its descendants mine accepts (all of
// them when mine is nil).
func counted(pid int, mine func(string) bool) []int {
	all := descendants(pid)
	out := all[:1]
	for _, p := range all[1:] {
		if c := cmdline(p); c != "" && (mine == nil || mine(c)) {
			out = append(out, p)
		}
	}
	return out
}

// treeRSS sums the resident memory of pid and its counted descendants,
// and returns pid's own too.
func treeRSS(pid int, mine func(string) bool) (total float64, n int, own float64) {
	for i, p := range counted(pid, mine) {
		f, err := os.Open("/proc/" + strconv.Itoa(p) + "/status")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				total += kb * 1024
				if i == 0 {
					own = kb * 1024
				}
				n++
			}
		}
		f.Close()
	}
	return total, n, own
}

// treeCPU is the CPU seconds of pid (with its reaped children: CGI
// scripts) and of its counted live descendants.
func treeCPU(pid int, mine func(string) bool) float64 {
	const hz = 100 // USER_HZ on Linux
	total := 0.0
	for i, p := range counted(pid, mine) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			continue
		}
		f := statFields(string(b))
		if len(f) < 15 {
			continue
		}
		last := 12
		if i == 0 {
			last = 14 // resind: with cutime and cstime
		}
		for _, v := range f[11 : last+1] {
			n, _ := strconv.ParseFloat(v, 64)
			total += n / hz
		}
	}
	return total
}

func waitFor(url string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("%s does not answer 200: %v", url, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "bench/apps:", msg)
	os.Exit(1)
}
