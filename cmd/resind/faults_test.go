package main

// Faults under load: a load generator keeps GETs flowing through a web
// tier to two app servers while the configuration is edited (broken edits
// included), an app server is stopped and restarted, and the web tier is
// restarted. Every GET must succeed in the first two; the third reports
// how many were refused. With SOAK set (make soak) each runs for 60 s and
// a soak test checks that goroutines and memory stay flat.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const faultConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <!-- edit {{.Edit}} -->
  <cluster id="app">
    <server-default>
      <load-balance-connect-timeout>1s</load-balance-connect-timeout>
      <load-balance-recover-time>1s</load-balance-recover-time>
    </server-default>
    <server id="app-a" address="127.0.0.1" port="{{.AppA}}"/>
    <server id="app-b" address="127.0.0.1" port="{{.AppB}}"/>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/app"/>
    </host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.WebCluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        {{.Rule}}
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

type faultData struct {
	AppA, AppB, WebCluster, HTTP int
	Edit                         int
	Rule                         string
}

// soak is set by make soak: the fault tests run for a minute each.
var soak = os.Getenv("SOAK") != ""

// loadFor is how long the load runs around a fault.
func loadFor(short time.Duration) time.Duration {
	if soak {
		return 60 * time.Second
	}
	return short
}

// newFaultSite starts app-a, app-b and then web-a; beforeWeb, when not
// nil, runs just before web-a starts.
func newFaultSite(t *testing.T, beforeWeb func()) (*site, *faultData) {
	s := newSite(t)
	d := &faultData{AppA: freePort(t), AppB: freePort(t), WebCluster: freePort(t), HTTP: freePort(t)}
	s.write("resin.xml", faultConf, d)
	s.writeRaw("app/app/page.html", "app page")
	s.writeRaw("web/index.html", "web page")
	s.start("app-a")
	s.start("app-b")
	if beforeWeb != nil {
		beforeWeb()
	}
	s.start("web-a")
	return s, d
}

// loadGen sends GETs from workers over keep-alive connections until
// stopped, counting what failed and why.
type loadGen struct {
	url     string
	ok      atomic.Int64
	refused atomic.Int64 // connection refused: nothing listened
	mu      sync.Mutex
	fails   map[string]int // other failures by reason
	stop    context.CancelFunc
	done    sync.WaitGroup
}

func startLoad(t *testing.T, url string, workers int) *loadGen {
	ctx, cancel := context.WithCancel(context.Background())
	g := &loadGen{url: url, fails: map[string]int{}, stop: cancel}
	tr := &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for range workers {
		g.done.Add(1)
		go func() {
			defer g.done.Done()
			for ctx.Err() == nil {
				g.one(ctx, client)
			}
		}()
	}
	t.Cleanup(func() { g.finish(); tr.CloseIdleConnections() })
	return g
}

func (g *loadGen) one(ctx context.Context, client *http.Client) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-request: not the server's doing
	}
	reason := ""
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		g.refused.Add(1)
		// A client backs off before trying again; without it the count
		// would measure how fast a refusal comes back.
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
		return
	case err != nil:
		reason = err.Error()
		if i := strings.LastIndex(reason, ": "); i >= 0 {
			reason = reason[i+2:] // without the URL and ports, so reasons group
		}
	default:
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case rerr != nil:
			reason = "reading the body: " + rerr.Error()
		case resp.StatusCode != 200:
			reason = resp.Status
		case string(body) != "app page":
			reason = fmt.Sprintf("body %.40q", body)
		}
	}
	if reason == "" {
		g.ok.Add(1)
		return
	}
	g.mu.Lock()
	g.fails[reason]++
	g.mu.Unlock()
}

func (g *loadGen) finish() {
	g.stop()
	g.done.Wait()
}

// failed is the number of GETs that failed other than by being refused,
// and their reasons.
func (g *loadGen) failed() (int, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	var why []string
	for r, c := range g.fails {
		n += c
		why = append(why, fmt.Sprintf("%d× %s", c, r))
	}
	return n, strings.Join(why, "; ")
}

// waitOK waits until the load has had n more successes, so that a fault
// happens while requests flow.
// expectNoLoss stops the load, logs what it did during what, and fails the
// test if any GET failed or was refused.
func (g *loadGen) expectNoLoss(t *testing.T, what string) {
	t.Helper()
	g.finish()
	failed, why := g.failed()
	t.Logf("%s: %d GETs succeeded, %d failed, %d refused", what, g.ok.Load(), failed, g.refused.Load())
	if failed+int(g.refused.Load()) != 0 {
		t.Errorf("%d GETs failed and %d were refused during %s: %s", failed, g.refused.Load(), what, why)
	}
}

func (g *loadGen) waitOK(t *testing.T, n int64) {
	t.Helper()
	target := g.ok.Load() + n
	eventually(t, 30*time.Second, fmt.Sprintf("%d more successful GETs", n), func() bool { return g.ok.Load() >= target })
}

// outcomes counts the configuration edits web-a applied or refused.
func (s *site) outcomes(id string) int {
	log := s.log(id)
	return strings.Count(log, `"configuration reloaded"`) + strings.Count(log, `"configuration refused; the running configuration stays"`)
}

func TestEditsUnderLoadLoseNoRequest(t *testing.T) {
	t.Parallel()
	s, d := newFaultSite(t, nil)
	g := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", d.HTTP), 8)
	g.waitOK(t, 200)

	edits := []string{
		`<resin:Redirect regexp="^/moved-1" target="/index.html"/>`,
		`<resin:Redirect regexp="^/moved-2(" target="/index.html"/>`, // bad regexp
		`<resin:Forbidden regexp="^/secret"/>`,
		`<resin:Redirect regexp="^/moved-4" target="/index.html"`,  // XML syntax error
		`<resin:LoadBalance regexp="^/other/" cluster="nowhere"/>`, // unknown cluster
		`<resin:SetHeader regexp="^/" name="X-Edit" value="6"/>`,
		`<resin:Unheard-of regexp="^/"/>`, // unknown element: a warning
		`<resin:Redirect regexp="^/moved-8" target="/index.html"/><!-- unclosed`,
		`<resin:Forbidden regexp="^/secret-9"/>`,
		``,
	}
	deadline := time.Now().Add(loadFor(6 * time.Second))
	for i := 0; i < len(edits) || time.Now().Before(deadline); i++ {
		before := s.outcomes("web-a")
		d.Edit, d.Rule = i+1, edits[i%len(edits)]
		s.replace("resin.xml", render(t, faultConf, d))
		eventually(t, 15*time.Second, fmt.Sprintf("edit %d to be applied or refused", i+1), func() bool { return s.outcomes("web-a") > before })
		g.waitOK(t, 50)
	}
	// A last good edit is in force, the load still running.
	d.Edit, d.Rule = d.Edit+1, `<resin:Forbidden regexp="^/final"/>`
	s.replace("resin.xml", render(t, faultConf, d))
	final := fmt.Sprintf("http://127.0.0.1:%d/final", d.HTTP)
	eventually(t, 15*time.Second, "the last edit to be in force", func() bool { resp, _ := get(t, final); return resp.StatusCode == 403 })
	g.waitOK(t, 50)
	g.expectNoLoss(t, "edits under load")
}

func TestAppServerRestartUnderLoadLosesNoRequest(t *testing.T) {
	t.Parallel()
	s, d := newFaultSite(t, nil)
	g := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", d.HTTP), 8)
	deadline := time.Now().Add(loadFor(8 * time.Second))
	for round := 0; round == 0 || time.Now().Before(deadline); round++ {
		g.waitOK(t, 200)
		id := []string{"app-a", "app-b"}[round%2]
		s.stop(id)
		g.waitOK(t, 200) // served by the other one alone
		s.start(id)
		servedBefore := s.served(id, "/app/page.html")
		eventually(t, 20*time.Second, id+" to take requests again", func() bool { return s.served(id, "/app/page.html") > servedBefore })
	}
	g.expectNoLoss(t, "app server restarts under load")
}

func TestWebTierRestartUnderLoadRefusesNothing(t *testing.T) {
	t.Parallel()
	s, d := newFaultSite(t, nil)
	g := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", d.HTTP), 8)
	deadline := time.Now().Add(loadFor(4 * time.Second))
	restarts := 0
	for restarts == 0 || time.Now().Before(deadline) {
		g.waitOK(t, 200)
		r := s.resind("-server", "web-a", "restart")
		if r.code != 0 {
			t.Fatalf("restart: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		restarts++
	}
	g.waitOK(t, 200)
	// A restart in place keeps the listening sockets open: connections
	// made while neither process accepts wait in the kernel's queue.
	g.expectNoLoss(t, fmt.Sprintf("%d web-tier restarts under load", restarts))
}

// TestSoakKeepsGoroutinesAndMemoryFlat runs 60 s of load (make soak) and
// checks that web-a's goroutines and resident memory do not grow after
// 100k requests.
func TestSoakKeepsGoroutinesAndMemoryFlat(t *testing.T) {
	if !soak {
		t.Skip("set SOAK=1 (make soak) for the 60 s soak")
	}
	// The race detector's own memory grows with every goroutine ever
	// run: the soak measures a plain build.
	bin := filepath.Join(t.TempDir(), "resind")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	defer func(old string) { resindBin = old }(resindBin)
	resindBin = bin
	pprof := freePort(t)
	s, d := newFaultSite(t, func() { t.Setenv(envPprof, fmt.Sprintf("127.0.0.1:%d", pprof)) })

	pid, err := readPid(filepath.Join(s.dir, "data", "web-a"))
	if err != nil {
		t.Fatal(err)
	}
	goroutines := func() int {
		resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", pprof))
		var n int
		if _, err := fmt.Sscanf(body, "goroutine profile: total %d", &n); resp.StatusCode != 200 || err != nil {
			t.Fatalf("goroutine profile: %d %q", resp.StatusCode, body[:min(len(body), 80)])
		}
		return n
	}
	rss := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmRSS")
		return 0
	}

	g := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", d.HTTP), 16)
	g.waitOK(t, 20000) // warm: pools, caches, buffers
	g0, m0, n0 := goroutines(), rss(), g.ok.Load()
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) || g.ok.Load()-n0 < 100000 {
		g.waitOK(t, 10000)
	}
	g1, m1, n1 := goroutines(), rss(), g.ok.Load()
	g.finish()
	failed, why := g.failed()
	t.Logf("soak: %d GETs after warm-up, %d failed; goroutines %d → %d; RSS %d MiB → %d MiB", n1-n0, failed, g0, g1, m0>>20, m1>>20)
	if failed != 0 {
		t.Errorf("%d GETs failed during the soak: %s", failed, why)
	}
	if g1 > g0+32 {
		t.Errorf("goroutines grew from %d to %d over %d requests", g0, g1, n1-n0)
	}
	if m1 > m0+m0/4+16<<20 {
		t.Errorf("RSS grew from %d MiB to %d MiB over %d requests", m0>>20, m1>>20, n1-n0)
	}
}

func TestAppServerCrashUnderLoadLosesNoGET(t *testing.T) {
	t.Parallel()
	s, d := newFaultSite(t, nil)
	g := startLoad(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", d.HTTP), 8)
	deadline := time.Now().Add(loadFor(6 * time.Second))
	for round := 0; round == 0 || time.Now().Before(deadline); round++ {
		g.waitOK(t, 200)
		id := []string{"app-a", "app-b"}[round%2]
		dir := filepath.Join(s.dir, "data", id)
		pid, err := readPid(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, id+" to be gone", func() bool { p, _ := running(dir); return p == 0 })
		g.waitOK(t, 200) // served by the other one alone
		s.start(id)
		servedBefore := s.served(id, "/app/page.html")
		eventually(t, 20*time.Second, id+" to take requests again", func() bool { return s.served(id, "/app/page.html") > servedBefore })
	}
	g.expectNoLoss(t, "app server crashes (SIGKILL) under load")
}
