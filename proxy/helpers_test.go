package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"resind/conf"
)

// testTimeouts are Resin's timeouts shrunk so that back-offs pass within a
// test.
func testTimeouts() conf.Timeouts {
	t := conf.DefaultTimeouts
	t.LoadBalanceConnectTimeout = 2 * time.Second
	t.LoadBalanceRecoverTime = 50 * time.Millisecond
	t.LoadBalanceBusyRecoverTime = 50 * time.Millisecond
	t.LoadBalanceWarmupTime = 0
	t.LoadBalanceSocketTimeout = 10 * time.Second
	return t
}

// spec describes a backend of a selection test by a letter: "a" is
// server id "a" at a fake address, cluster index 0 ("b" 1, "z" 25), so
// session ids "baa…" belong to "b" whatever the order of the list.
type spec struct {
	id      string
	weight  int
	backup  bool
	active  int64
	latency time.Duration
	state   int32 // stateUp, stateDown (for an hour), stateBusy (for an hour)
}

// selectionBalancer builds a balancer over fake addresses (never dialled)
// with the backends' state set as specs say.
func selectionBalancer(t testing.TB, reg *Registry, strategy Strategy, sticky bool, specs ...spec) *Balancer {
	t.Helper()
	target := Target{Name: "app-tier", Strategy: strategy, Sticky: sticky}
	for _, s := range specs {
		target.Backends = append(target.Backends, Backend{
			ID: s.id, Address: fakeAddr(s.id), Index: int(s.id[0] - 'a'), Weight: s.weight, Backup: s.backup, Timeout: testTimeouts(),
		})
	}
	bl := reg.Balancer(target)
	for _, s := range specs {
		b := backendOf(bl, s.id)
		b.active.Store(s.active)
		b.latency.Store(int64(s.latency))
		b.sampled.Store(nanotime())
		if s.state != stateUp {
			b.state.Store(s.state)
			b.until.Store(nanotime() + int64(time.Hour))
		}
	}
	return bl
}

func fakeAddr(id string) string { return "192.0.2.1:" + id }

func backendOf(bl *Balancer, id string) *backend {
	for _, m := range bl.members {
		if m.b.cfg.Load().id == id {
			return m.b
		}
	}
	panic("no backend " + id)
}

// pickID picks for r and immediately finishes, returning the server id or
// "" when none is available.
func pickID(bl *Balancer, r *http.Request) string {
	var tried triedSet
	i, _ := bl.pick(r, &tried)
	if i < 0 {
		return ""
	}
	b := bl.members[i].b
	b.finish()
	return b.cfg.Load().id
}

func newTestRegistry(t testing.TB) *Registry {
	if tt, ok := t.(*testing.T); ok {
		return NewRegistry(zaptest.NewLogger(tt))
	}
	return NewRegistry(nil)
}

// testBackend is a real HTTP server on loopback counting its requests.
type testBackend struct {
	*httptest.Server
	hits atomic.Int64
}

func newTestBackend(t *testing.T, name string, h http.HandlerFunc) *testBackend {
	t.Helper()
	return newTestBackendWith(t, name, h, nil)
}

// newTestBackendWith also counts the backend's new connections in conns.
func newTestBackendWith(t *testing.T, name string, h http.HandlerFunc, conns *atomic.Int64) *testBackend {
	t.Helper()
	tb := &testBackend{}
	tb.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tb.hits.Add(1)
		w.Header().Set("X-Backend", name)
		if h != nil {
			h(w, r)
			return
		}
		w.Write([]byte("hello from " + name))
	}))
	if conns != nil {
		tb.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	}
	tb.Start()
	t.Cleanup(tb.Close)
	return tb
}

func (tb *testBackend) addr() string { return tb.Listener.Addr().String() }

// closedAddr is a loopback address nobody listens on: connecting is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// front serves bl on loopback, like the web tier.
func front(t *testing.T, bl *Balancer) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(bl)
	t.Cleanup(s.Close)
	return s
}

func target(name string, addrs ...string) Target {
	t := Target{Name: name}
	for i, a := range addrs {
		t.Backends = append(t.Backends, Backend{ID: a, Address: a, Index: i, Timeout: testTimeouts()})
	}
	return t
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func statusOf(reg *Registry, addr string) BackendStatus {
	for _, s := range reg.Status() {
		if s.Address == addr {
			return s
		}
	}
	return BackendStatus{}
}
