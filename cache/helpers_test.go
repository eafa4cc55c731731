package cache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"resind/conf"
)

// clock is an injectable clock for freshness tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// origin is the handler behind the cache: it counts the requests it gets
// and remembers their headers.
type origin struct {
	calls atomic.Int64
	mu    sync.Mutex
	seen  []http.Header
	serve http.HandlerFunc
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	o.mu.Lock()
	o.seen = append(o.seen, r.Header.Clone())
	o.mu.Unlock()
	o.serve(w, r)
}

// last returns the headers of the origin's latest request.
func (o *origin) last() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		return nil
	}
	return o.seen[len(o.seen)-1]
}

// respond returns an origin handler answering status, header and body.
func respond(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Add(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func newTestCache(t testing.TB, cfg conf.ProxyCache) (*Cache, *clock) {
	t.Helper()
	c, err := New(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	c.now = clk.Now
	t.Cleanup(c.Close)
	return c, clk
}

// do sends one request through h and waits until anything it stored is
// visible. header is name, value pairs.
func do(t testing.TB, c *Cache, h http.Handler, method, url string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	c.store.Wait()
	return rec
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func expect(t testing.TB, rec *httptest.ResponseRecorder, status int, xcache, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d", rec.Code, status)
	}
	if got := rec.Header().Get("X-Cache"); got != xcache {
		t.Errorf("X-Cache = %q, want %q", got, xcache)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body = %q, want %q", trim(got), trim(body))
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "...(" + itoa(int64(len(s))) + " bytes)"
	}
	return s
}

var big = strings.Repeat("0123456789", 1000) // 10000 bytes

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
