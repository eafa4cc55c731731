package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestStatusCountsIdlePooledConnections(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", nil)
	reg := newTestRegistry(t)
	fe := front(t, reg.Balancer(target("app", be.addr())))
	get(t, fe.URL)
	eventually(t, "the connection to return to the pool", func() bool {
		s := statusOf(reg, be.addr())
		return s.Idle == 1 && s.Active == 0
	})
	if s := statusOf(reg, be.addr()); s.Requests != 1 || s.Latency <= 0 {
		t.Errorf("after one request: %+v", s)
	}
}

func TestIdleConnectionsReusedMostRecentFirstAndClosedAfterIdleTime(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var remotes []string
	arrived := make(chan struct{}, 2)
	both := make(chan struct{})
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pair" {
			arrived <- struct{}{}
			<-both
		}
		mu.Lock()
		remotes = append(remotes, r.RemoteAddr)
		mu.Unlock()
	})
	reg := newTestRegistry(t)
	tg := target("app", be.addr())
	// Long enough that a loaded machine still sees both connections idle
	// (and the sequential requests find them) before they expire.
	tg.Backends[0].Timeout.LoadBalanceIdleTime = 2 * time.Second
	fe := front(t, reg.Balancer(tg))
	// Two requests at once open two pooled connections.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { get(t, fe.URL+"/pair") })
	}
	<-arrived
	<-arrived
	close(both)
	wg.Wait()
	eventually(t, "two idle connections", func() bool { return statusOf(reg, be.addr()).Idle == 2 })
	mu.Lock()
	remotes = nil
	mu.Unlock()
	for range 6 {
		get(t, fe.URL)
	}
	mu.Lock()
	for _, r := range remotes {
		if r != remotes[0] {
			t.Errorf("sequential requests used %v; want the most recent connection every time", remotes)
			break
		}
	}
	mu.Unlock()
	eventually(t, "idle connections to close after load-balance-idle-time", func() bool {
		return statusOf(reg, be.addr()).Idle == 0
	})
}

func TestPutBodyNotResentWhenPooledConnectionDrops(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			io.Copy(io.Discard, r.Body)
			return // keeps the connection alive in the pool
		}
		resetting(w, r)
	})
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	for i, want := range []int{http.StatusOK, http.StatusBadGateway} {
		req, _ := http.NewRequest(http.MethodPut, fe.URL+"/doc", strings.NewReader("version 2"))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("PUT %d: status %d, want %d", i+1, res.StatusCode, want)
		}
	}
	if got := be.hits.Load(); got != 2 {
		t.Errorf("two PUTs reached the backend %d times: a read body was sent again", got)
	}
}
