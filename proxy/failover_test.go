package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return res.StatusCode, string(body), res.Header
}

// resetting answers nothing: it takes the connection and resets it.
func resetting(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

func TestRoundRobinAlternatesOverTwoBackends(t *testing.T) {
	t.Parallel()
	a, b := newTestBackend(t, "a", nil), newTestBackend(t, "b", nil)
	tg := target("app", a.addr(), b.addr())
	tg.Strategy = RoundRobin
	fe := front(t, newTestRegistry(t).Balancer(tg))
	for range 20 {
		if code, _, _ := get(t, fe.URL); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if a.hits.Load() != 10 || b.hits.Load() != 10 {
		t.Errorf("20 requests spread a:%d b:%d, want 10 each", a.hits.Load(), b.hits.Load())
	}
}

func TestAdaptiveSpreadsConcurrentRequestsOverTwoBackends(t *testing.T) {
	t.Parallel()
	const n = 10
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	hold := func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}
	a, b := newTestBackend(t, "a", hold), newTestBackend(t, "b", hold)
	done := sync.OnceFunc(func() { close(release) })
	t.Cleanup(done) // before the backends' Close, which waits for handlers
	fe := front(t, newTestRegistry(t).Balancer(target("app", a.addr(), b.addr())))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if res, err := client.Get(fe.URL); err == nil {
				res.Body.Close()
			}
		})
	}
	for range n {
		<-arrived
	}
	// All n are in flight at once: adaptive spreads them by active count.
	if a.hits.Load() < 3 || b.hits.Load() < 3 {
		t.Errorf("%d concurrent requests spread a:%d b:%d", n, a.hits.Load(), b.hits.Load())
	}
	done()
	wg.Wait()
}

func TestStickySessionReachesOwnerOverTheNetwork(t *testing.T) {
	t.Parallel()
	a, b := newTestBackend(t, "a", nil), newTestBackend(t, "b", nil)
	tg := target("app", a.addr(), b.addr())
	tg.Sticky = true
	fe := front(t, newTestRegistry(t).Balancer(tg))
	id := NewSessionID(1)
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, fe.URL+"/cart", nil)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Backend"); got != "b" {
			t.Fatalf("session of server 1 served by %q", got)
		}
	}
}

func TestConnectRefusedMovesToNextBackendAndMarksItDown(t *testing.T) {
	t.Parallel()
	dead := closedAddr(t)
	good := newTestBackend(t, "good", nil)
	reg := newTestRegistry(t)
	tg := target("app", dead, good.addr())
	tg.Strategy = RoundRobin // the dead one is tried first
	fe := front(t, reg.Balancer(tg))
	for range 6 {
		if code, body, _ := get(t, fe.URL); code != http.StatusOK || body != "hello from good" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	s := statusOf(reg, dead)
	if s.State != "down" || s.Failures == 0 || s.LastFailure.IsZero() {
		t.Errorf("refusing backend: %+v", s)
	}
}

func TestAllBackendsDownAnswersPrompt503Page(t *testing.T) {
	t.Parallel()
	fe := front(t, newTestRegistry(t).Balancer(target("app-tier", closedAddr(t), closedAddr(t))))
	for range 3 {
		start := time.Now()
		code, body, h := get(t, fe.URL+"/x")
		if code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", code)
		}
		if !strings.Contains(body, "503 Service Unavailable") || !strings.Contains(body, "app-tier") {
			t.Errorf("503 page does not say what failed: %q", body)
		}
		if h.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("503 page Content-Type %q", h.Get("Content-Type"))
		}
		if d := time.Since(start); d > testTimeouts().LoadBalanceConnectTimeout {
			t.Errorf("503 took %v, longer than the connect timeout", d)
		}
	}
}

func TestPostIsNeverSentTwiceWhenBackendDropsConnection(t *testing.T) {
	t.Parallel()
	a, b := newTestBackend(t, "a", resetting), newTestBackend(t, "b", resetting)
	fe := front(t, newTestRegistry(t).Balancer(target("app", a.addr(), b.addr())))
	res, err := http.Post(fe.URL+"/order", "text/plain", strings.NewReader("buy one"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
	if n := a.hits.Load() + b.hits.Load(); n != 1 {
		t.Errorf("the POST reached the backends %d times, want 1", n)
	}
}

func TestGetIsRetriedOnceOnReset(t *testing.T) {
	t.Parallel()
	bs := []*testBackend{newTestBackend(t, "a", resetting), newTestBackend(t, "b", resetting), newTestBackend(t, "c", resetting)}
	fe := front(t, newTestRegistry(t).Balancer(target("app", bs[0].addr(), bs[1].addr(), bs[2].addr())))
	if code, _, _ := get(t, fe.URL); code != http.StatusBadGateway {
		t.Errorf("status %d, want 502", code)
	}
	if n := bs[0].hits.Load() + bs[1].hits.Load() + bs[2].hits.Load(); n != 2 {
		t.Errorf("the GET was sent %d times, want 2 (once, then one retry)", n)
	}
}

func TestGetAfterResetIsServedByAnotherBackend(t *testing.T) {
	t.Parallel()
	bad, good := newTestBackend(t, "bad", resetting), newTestBackend(t, "good", nil)
	tg := target("app", bad.addr(), good.addr())
	tg.Strategy = RoundRobin
	fe := front(t, newTestRegistry(t).Balancer(tg))
	for range 4 {
		if code, body, _ := get(t, fe.URL); code != http.StatusOK || body != "hello from good" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	if bad.hits.Load() == 0 {
		t.Error("the resetting backend was never tried")
	}
}

func TestBackend503MarksItBusyAndRetriesIdempotentRequests(t *testing.T) {
	t.Parallel()
	busy := newTestBackend(t, "busy", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	good := newTestBackend(t, "good", nil)
	reg := newTestRegistry(t)
	tg := target("app", busy.addr(), good.addr())
	tg.Strategy = RoundRobin
	for i := range tg.Backends {
		tg.Backends[i].Timeout.LoadBalanceBusyRecoverTime = time.Hour
	}
	fe := front(t, reg.Balancer(tg))
	for range 4 {
		if code, body, _ := get(t, fe.URL); code != http.StatusOK || body != "hello from good" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	if s := statusOf(reg, busy.addr()); s.State != "busy" {
		t.Errorf("backend answering 503 is %q, want busy", s.State)
	}
	if n := busy.hits.Load(); n != 1 {
		t.Errorf("busy backend got %d requests during busy-recover-time, want 1", n)
	}
}

func TestBackend503PassesThroughWhenNotRetryable(t *testing.T) {
	t.Parallel()
	busy := newTestBackend(t, "busy", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	other := newTestBackend(t, "other", nil)
	tg := target("app", busy.addr(), other.addr())
	tg.Strategy = RoundRobin
	fe := front(t, newTestRegistry(t).Balancer(tg))
	res, err := http.Post(fe.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "overloaded") {
		t.Errorf("POST answered 503 got %d %q, want the backend's own 503", res.StatusCode, body)
	}
	if other.hits.Load() != 0 {
		t.Error("a POST answered 503 was sent again")
	}
}

func TestDownBackendRecoversAfterBackoff(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	reg := newTestRegistry(t)
	fe := front(t, reg.Balancer(target("app", addr)))
	if code, _, _ := get(t, fe.URL); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d with the only backend down", code)
	}
	if s := statusOf(reg, addr); s.State != "down" {
		t.Fatalf("state %q, want down", s.State)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	var hits atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "back")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	eventually(t, "the backend to recover", func() bool {
		code, body, _ := get(t, fe.URL)
		return code == http.StatusOK && body == "back"
	})
	if s := statusOf(reg, addr); s.State != "up" {
		t.Errorf("state %q after a served request, want up", s.State)
	}
}

func TestStateAndPoolSurviveASecondBalancerCall(t *testing.T) {
	t.Parallel()
	var newConns atomic.Int64
	good := newTestBackendWith(t, "good", nil, &newConns)
	dead := closedAddr(t)
	reg := newTestRegistry(t)
	tg := target("app", dead, good.addr())
	tg.Strategy = RoundRobin
	fe1 := front(t, reg.Balancer(tg))
	get(t, fe1.URL)
	get(t, fe1.URL)
	tg.Backends[1].Weight = 300
	fe2 := front(t, reg.Balancer(tg)) // the reload
	for range 5 {
		if code, _, _ := get(t, fe2.URL); code != http.StatusOK {
			t.Fatalf("status %d after reload", code)
		}
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1 kept alive across the reload", n)
	}
	if s := statusOf(reg, dead); s.State != "down" {
		t.Errorf("down backend is %q after the reload", s.State)
	}
	if s := statusOf(reg, good.addr()); s.Requests != 7 || s.Weight != 300 {
		t.Errorf("good backend after reload: %d requests, weight %d; want 7 and 300", s.Requests, s.Weight)
	}
}

func TestConnectTimeoutMovesToNextBackend(t *testing.T) {
	t.Parallel()
	slow, good := newTestBackend(t, "slow", nil), newTestBackend(t, "good", nil)
	reg := newTestRegistry(t)
	tg := target("app", slow.addr(), good.addr())
	tg.Strategy = RoundRobin
	// A connect timeout too short for any connect stands in for a backend
	// that does not answer SYNs.
	tg.Backends[0].Timeout.LoadBalanceConnectTimeout = time.Nanosecond
	fe := front(t, reg.Balancer(tg))
	for range 3 {
		if code, body, _ := get(t, fe.URL); code != http.StatusOK || body != "hello from good" {
			t.Fatalf("got %d %q", code, body)
		}
	}
	if s := statusOf(reg, slow.addr()); s.State != "down" || slow.hits.Load() != 0 {
		t.Errorf("backend timing out on connect: state %q, %d requests", s.State, slow.hits.Load())
	}
}

func TestPostBodyMovesPastRefusedBackendIntact(t *testing.T) {
	t.Parallel()
	good := newTestBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	tg := target("app", closedAddr(t), good.addr())
	tg.Strategy = RoundRobin
	fe := front(t, newTestRegistry(t).Balancer(tg))
	res, err := http.Post(fe.URL, "text/plain", strings.NewReader("the whole order"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != "the whole order" {
		t.Errorf("got %d %q, want the body delivered to the next backend", res.StatusCode, body)
	}
}
