package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"resind/conf"
)

// gatedOrigin holds every request at the gate until it is closed.
func gatedOrigin(gate chan struct{}, serve http.HandlerFunc) *origin {
	return &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		<-gate
		serve(w, r)
	}}
}

// concurrent sends n GETs of url through h: the first alone, the others
// once the first reached the origin, and closes the gate when all n-1
// wait for it. It returns the recorders.
func concurrent(t *testing.T, c *Cache, h http.Handler, o *origin, gate chan struct{}, n int, url string) []*httptest.ResponseRecorder {
	t.Helper()
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = httptest.NewRecorder()
			h.ServeHTTP(recs[i], httptest.NewRequest("GET", url, nil))
		}()
	}
	start(0)
	waitFor(t, "the leader to reach the origin", func() bool { return o.calls.Load() == 1 })
	for i := 1; i < n; i++ {
		start(i)
	}
	waitFor(t, "every other request to wait for the leader", func() bool { return c.flights.waiting(url) == n-1 })
	close(gate)
	wg.Wait()
	c.store.Wait()
	return recs
}

func TestConcurrentMissesSendOneRequestToTheOrigin(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	gate := make(chan struct{})
	o := gatedOrigin(gate, respond(200, big, "Cache-Control", "max-age=60"))
	h := c.Handler(o)
	const n = 20
	recs := concurrent(t, c, h, o, gate, n, "http://example.com/")
	if got := o.calls.Load(); got != 1 {
		t.Errorf("origin called %d times, want 1", got)
	}
	expect(t, recs[0], 200, "MISS", big)
	for _, rec := range recs[1:] {
		expect(t, rec, 200, "HIT", big)
	}
	if s := c.Stats(); s.Coalesced != n-1 || s.Misses != 1 || s.Hits != n-1 {
		t.Errorf("stats %+v", s)
	}
}

func TestWaitersGoToTheOriginWhenTheLeadersResponseIsNotStorable(t *testing.T) {
	tests := []struct {
		name  string
		serve http.HandlerFunc
		max   int64
		body  string
	}{
		{"Set-Cookie", respond(200, "personal", "Cache-Control", "max-age=60", "Set-Cookie", "id=1"), 0, "personal"},
		{"larger than max-entry-size", respond(200, big, "Cache-Control", "max-age=60"), 1000, big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, conf.ProxyCache{MaxEntrySize: tt.max})
			gate := make(chan struct{})
			o := gatedOrigin(gate, tt.serve)
			const n = 5
			recs := concurrent(t, c, c.Handler(o), o, gate, n, "http://example.com/")
			if got := o.calls.Load(); got != n {
				t.Errorf("origin called %d times, want %d", got, n)
			}
			for _, rec := range recs {
				expect(t, rec, 200, "MISS", tt.body)
			}
		})
	}
}

func TestAWaiterWhoseClientGaveUpReturnsAndTheLeaderGoesOn(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	gate := make(chan struct{})
	o := gatedOrigin(gate, respond(200, "done", "Cache-Control", "max-age=60"))
	h := c.Handler(o)

	// The leader's client goes away too: the fetch must still complete.
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderDone := make(chan struct{})
	go func() {
		defer close(leaderDone)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/", nil).WithContext(leaderCtx))
	}()
	waitFor(t, "the leader to reach the origin", func() bool { return o.calls.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	waiterDone := make(chan struct{})
	go func() {
		defer close(waiterDone)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/", nil).WithContext(ctx))
	}()
	waitFor(t, "the waiter to join", func() bool { return c.flights.waiting("http://example.com/") == 1 })
	cancel()
	cancelLeader()
	<-waiterDone // returns although the origin has not answered
	close(gate)
	<-leaderDone
	c.store.Wait()
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "done")
	if n := o.calls.Load(); n != 1 {
		t.Errorf("origin called %d times, want 1", n)
	}
}

func TestHeadWaitsForAConcurrentGet(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	gate := make(chan struct{})
	o := gatedOrigin(gate, respond(200, "abc", "Cache-Control", "max-age=60"))
	h := c.Handler(o)
	getDone := make(chan struct{})
	go func() {
		defer close(getDone)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/", nil))
	}()
	waitFor(t, "the GET to reach the origin", func() bool { return o.calls.Load() == 1 })
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("HEAD", "http://example.com/", nil))
		done <- rec
	}()
	waitFor(t, "the HEAD to wait", func() bool { return c.flights.waiting("http://example.com/") == 1 })
	close(gate)
	rec := <-done
	<-getDone
	expect(t, rec, 200, "HIT", "")
	if rec.Header().Get("Content-Length") != "3" || o.calls.Load() != 1 {
		t.Errorf("Content-Length %q, origin calls %d", rec.Header().Get("Content-Length"), o.calls.Load())
	}
}
