package cache

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"resind/conf"
)

// deadOrigin returns a reverse proxy to a loopback port nobody listens
// on: it answers 502 the way an unreachable backend does.
func deadOrigin(t *testing.T) http.Handler {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
	p.ErrorLog = nil
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	return p
}

func TestStaleIfErrorServesTheStaleEntryWhenTheOriginFails(t *testing.T) {
	tests := []struct {
		name     string
		cc       string
		failure  string // "502" or "unreachable"
		advance  time.Duration
		status   int
		xcache   string
		wantBody string
	}{
		{"502 within the window", "max-age=60, stale-if-error=300", "502", 2 * time.Minute, 200, "STALE", "good"},
		{"unreachable within the window", "max-age=60, stale-if-error=300", "unreachable", 2 * time.Minute, 200, "STALE", "good"},
		{"502 past the window", "max-age=60, stale-if-error=30", "502", 2 * time.Minute, 502, "MISS", "bad"},
		{"502 without stale-if-error passes through", "max-age=60", "502", 2 * time.Minute, 502, "MISS", "bad"},
		{"unreachable without stale-if-error passes through", "max-age=60", "unreachable", 2 * time.Minute, 502, "MISS", ""},
		{"must-revalidate forbids it", "max-age=60, must-revalidate, stale-if-error=300", "502", 2 * time.Minute, 502, "MISS", "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, conf.ProxyCache{})
			var down atomic.Bool
			dead := deadOrigin(t)
			o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
				switch {
				case !down.Load():
					respond(200, "good", "Cache-Control", tt.cc, "ETag", `"g"`)(w, r)
				case tt.failure == "502":
					respond(502, "bad")(w, r)
				default:
					dead.ServeHTTP(w, r)
				}
			}}
			h := c.Handler(o)
			do(t, c, h, "GET", "http://example.com/")
			down.Store(true)
			clk.Advance(tt.advance)
			expect(t, do(t, c, h, "GET", "http://example.com/"), tt.status, tt.xcache, tt.wantBody)
			// The origin recovers: the entry was kept and is revalidated.
			if tt.status == 200 {
				down.Store(false)
				expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "MISS", "good")
			}
		})
	}
}

func TestStaleWhileRevalidateServesStaleAndRevalidatesOnceInTheBackground(t *testing.T) {
	c, clk := newTestCache(t, conf.ProxyCache{})
	gate := make(chan struct{})
	var version atomic.Int64
	version.Store(1)
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			<-gate
		}
		v := itoa(version.Load())
		respond(200, "v"+v, "Cache-Control", "max-age=60, stale-while-revalidate=60", "ETag", `"`+v+`"`)(w, r)
	}}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	version.Store(2)
	clk.Advance(90 * time.Second)

	// Both are answered at once from the stale entry; one revalidation runs.
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "STALE", "v1")
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "STALE", "v1")
	waitFor(t, "the background revalidation to reach the origin", func() bool { return o.calls.Load() == 2 })
	close(gate)
	waitFor(t, "the new version to be stored", func() bool {
		c.store.Wait()
		e, _ := c.lookup("http://example.com/", nil)
		return e != nil && string(e.body) == "v2"
	})
	waitFor(t, "the revalidation to finish", func() bool { return c.flights.waiting("http://example.com/") < 0 })
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "v2")
	if n := o.calls.Load(); n != 2 {
		t.Errorf("origin called %d times, want 2", n)
	}
	// Past the window the client waits for the origin.
	clk.Advance(3 * time.Minute)
	version.Store(3)
	rec := do(t, c, h, "GET", "http://example.com/", "X-Test", "late")
	if rec.Header().Get("X-Cache") == "STALE" {
		t.Error("served stale past stale-while-revalidate")
	}
}

func TestMaxStaleRequestAcceptsAStaleEntry(t *testing.T) {
	c, clk := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "s", "Cache-Control", "max-age=60")}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	clk.Advance(90 * time.Second)
	expect(t, do(t, c, h, "GET", "http://example.com/", "Cache-Control", "max-stale=60"), 200, "STALE", "s")
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "MISS", "s")
}
