package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"resind/internal/proctest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"resind/proxy/fastcgi"
)

func fcgiSpec(min, max int, idle time.Duration) Spec {
	return Spec{Command: []string{helloBin, "-fcgi"}, Dir: "/", MinProcesses: min, MaxProcesses: max,
		IdleTimeout: idle, StopTimeout: 2 * time.Second}
}

func fcgiHandler(p *FastCGI, timeout time.Duration) http.Handler {
	return &fastcgi.Handler{Pool: p, Name: p.name, Timeout: timeout}
}

func TestFastCGIPoolStartsTheMinimumAndServes(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	reg := NewRegistry(log)
	defer reg.Close(context.Background())
	p, err := reg.FastCGI(fcgiSpec(2, 4, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.PIDs()); n != 2 {
		t.Fatalf("%d processes at start, want min-processes 2", n)
	}
	h := fcgiHandler(p, 5*time.Second)
	if code, body := get(h, "/"); code != 200 || body != "hello\n" {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if code, _ := get(h, "/stderr"); code != 200 {
		t.Fatal(code)
	}
	eventually(t, 5*time.Second, "stderr in the log", func() bool {
		return logs.FilterField(zapString("line", "hello from stderr")).Len() > 0
	})
}

func TestFastCGIPoolGrowsToMaxUnderLoadAndShrinksWhenIdle(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	p, _ := reg.FastCGI(fcgiSpec(1, 3, 300*time.Millisecond))
	h := fcgiHandler(p, 10*time.Second)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each process serves one request at a time: six requests of
			// 300ms need three processes, and half of them wait.
			if code, _ := get(h, "/slow?ms=300"); code != 200 {
				t.Errorf("slow request %d: %d", i, code)
			}
		}()
	}
	eventually(t, 5*time.Second, "the pool to grow to 3", func() bool { return len(p.PIDs()) == 3 })
	wg.Wait()
	if n := len(p.PIDs()); n > 3 {
		t.Errorf("%d processes, above max-processes 3", n)
	}
	eventually(t, 5*time.Second, "idle processes to stop down to min-processes 1", func() bool { return len(p.PIDs()) == 1 })
}

func TestFastCGIProcessThatDiesIsReplaced(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	p, _ := reg.FastCGI(fcgiSpec(1, 1, time.Minute))
	h := fcgiHandler(p, 5*time.Second)
	first := pidOf(t, h, "/pid")
	// A POST: a GET that failed on the kept connection would be sent once
	// more, to the process started in its place, and crash that one too.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/crash", nil))
	if code, body := w.Code, w.Body.String(); code != 502 || !strings.Contains(body, "hello") {
		t.Errorf("the request that crashed its process: %d %q, want 502 naming the app", code, body)
	}
	eventually(t, 5*time.Second, "a new process", func() bool {
		pids := p.PIDs()
		return len(pids) == 1 && pids[0] != first
	})
	if second := pidOf(t, h, "/pid"); second == first {
		t.Errorf("served by the dead process %d", first)
	}
	if !proctest.Exits(first, 10*time.Second) {
		t.Errorf("crashed process %d still there", first)
	}
}

func TestFastCGIRegistryCloseStopsProcessesAndTheirChildren(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	p, _ := reg.FastCGI(fcgiSpec(2, 2, time.Minute))
	h := fcgiHandler(p, 5*time.Second)
	child := pidOf(t, h, "/spawn")
	pids := p.PIDs()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg.Close(ctx)
	for _, pid := range pids {
		if !proctest.Exits(pid, 10*time.Second) {
			t.Errorf("process %d survived Close", pid)
		}
	}
	// The grandchild was killed with its process group, but Close waits
	// only for its own children: the kill lands asynchronously.
	eventually(t, 5*time.Second, fmt.Sprintf("the spawned child %d to die", child), func() bool { return !proctest.Alive(child) })
	if code, _ := get(h, "/"); code != 502 {
		t.Errorf("after Close: %d, want 502", code)
	}
}

func TestFastCGIRetainStopsWhatIsNoLongerConfigured(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	a, _ := reg.FastCGI(fcgiSpec(1, 2, time.Minute))
	kept := fcgiSpec(1, 2, time.Minute)
	kept.Env = []string{"X=1"}
	b, _ := reg.FastCGI(kept)
	again, _ := reg.FastCGI(fcgiSpec(1, 3, time.Minute))
	if again != a {
		t.Error("the same command with new limits started a new pool")
	}
	pa := a.PIDs()
	reg.Retain(map[string]bool{kept.Key("fastcgi"): true})
	eventually(t, 10*time.Second, "the dropped pool to stop", func() bool { return !slices.ContainsFunc(pa, proctest.Alive) })
	if len(b.PIDs()) != 1 || !proctest.Alive(b.PIDs()[0]) {
		t.Error("the retained pool was stopped")
	}
}

func TestFastCGICommandThatCannotStartAnswers502(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	p, _ := reg.FastCGI(Spec{Command: []string{"/nonexistent/app"}, MaxProcesses: 2})
	start := time.Now()
	code, body := get(fcgiHandler(p, 5*time.Second), "/")
	if code != 502 || !strings.Contains(body, "/nonexistent/app") {
		t.Errorf("%d %q", code, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answered after %v", d)
	}
}

func TestStatusListsPoolsAndApps(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	p, _ := reg.FastCGI(fcgiSpec(2, 3, time.Minute))
	a, _ := reg.HTTP(httpSpec(false))
	pidOf(t, a.Handler(5*time.Second), "/pid")
	st := reg.Status()
	if len(st) != 2 || st[0].Kind != "fastcgi" || len(st[0].PIDs) != 2 || st[0].Min != 2 || st[0].Max != 3 ||
		!slices.Equal(st[0].PIDs, p.PIDs()) {
		t.Errorf("fastcgi status %+v", st)
	}
	if len(st) == 2 && (st[1].Kind != "http" || !st[1].Ready || len(st[1].PIDs) != 1 || st[1].PIDs[0] != a.PID() || !strings.HasPrefix(st[1].Address, "tcp:127.0.0.1:")) {
		t.Errorf("http status %+v", st[1])
	}
}
