package cache

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"resind/conf"
)

func TestNewRejectsNegativeSizesAndDefaultsZeros(t *testing.T) {
	if _, err := New(conf.ProxyCache{MemorySize: -1}, nil); err == nil {
		t.Error("negative memory-size accepted")
	}
	c, err := New(conf.ProxyCache{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.memory != DefaultMemorySize || c.maxEntry != DefaultMaxEntrySize {
		t.Errorf("defaults: memory %d, max entry %d", c.memory, c.maxEntry)
	}
}

func TestMemorySizeBoundsTheStoredBytes(t *testing.T) {
	const memory = 64 << 10
	c, _ := newTestCache(t, conf.ProxyCache{MemorySize: memory, MaxEntrySize: 8 << 10})
	body := strings.Repeat("m", 4<<10)
	h := c.Handler(&origin{serve: respond(200, body, "Cache-Control", "max-age=600")})
	for i := range 100 {
		do(t, c, h, "GET", "http://example.com/"+itoa(int64(i)))
	}
	s := c.Stats()
	if s.Bytes > memory {
		t.Errorf("Bytes = %d, over memory-size %d", s.Bytes, memory)
	}
	if s.Entries == 0 || s.Entries >= 100 {
		t.Errorf("Entries = %d, want some but not all of 100", s.Entries)
	}
	if s.MemorySize != memory {
		t.Errorf("MemorySize = %d", s.MemorySize)
	}
}

func TestResponsesOverMaxEntrySizeAreDeliveredWholeButNotStored(t *testing.T) {
	chunked := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"big"`)
		for i := 0; i < len(big); i += 1000 {
			_, _ = w.Write([]byte(big[i : i+1000]))
			w.(http.Flusher).Flush()
		}
	}
	tests := []struct {
		name   string
		serve  http.HandlerFunc
		header []string
	}{
		{"declared Content-Length", respond(200, big, "Cache-Control", "max-age=60", "Content-Length", itoa(int64(len(big)))), nil},
		{"streamed without length", chunked, nil},
		{"client sent a condition (held, then streamed)", chunked, []string{"If-None-Match", `"other"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, conf.ProxyCache{MaxEntrySize: 4000})
			o := &origin{serve: tt.serve}
			h := c.Handler(o)
			for range 2 {
				expect(t, do(t, c, h, "GET", "http://example.com/big", tt.header...), 200, "MISS", big)
			}
			if n := o.calls.Load(); n != 2 {
				t.Errorf("origin called %d times, want 2", n)
			}
			if s := c.Stats(); s.Entries != 0 || s.Stores != 0 {
				t.Errorf("stored: %+v", s)
			}
		})
	}
}

// brokenClient is a client connection that has gone away.
type brokenClient struct{ h http.Header }

func (b *brokenClient) Header() http.Header       { return b.h }
func (b *brokenClient) WriteHeader(int)           {}
func (b *brokenClient) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestAnUnstorableResponseStopsWhenItsClientIsGone(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{MaxEntrySize: 4000})
	written := 0
	h := c.Handler(&origin{serve: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		for range 100 {
			if _, err := w.Write(make([]byte, 1000)); err != nil {
				return
			}
			written++
		}
	}})
	h.ServeHTTP(&brokenClient{h: http.Header{}}, httptest.NewRequest("GET", "http://example.com/", nil))
	if written > 5 {
		t.Errorf("origin went on writing %d chunks for nobody", written)
	}
}

func TestAStorableResponseIsStoredAlthoughItsClientIsGone(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	h := c.Handler(&origin{serve: respond(200, "kept", "Cache-Control", "max-age=60")})
	h.ServeHTTP(&brokenClient{h: http.Header{}}, httptest.NewRequest("GET", "http://example.com/", nil))
	c.store.Wait()
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "kept")
}

func TestUpgradeRequestsPassThroughUntouched(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	var sawRecorder bool
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		_, sawRecorder = w.(*httptest.ResponseRecorder)
		respond(200, "x", "Cache-Control", "max-age=60")(w, r)
	}}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/ws", "Upgrade", "websocket", "Connection", "Upgrade")
	if !sawRecorder {
		t.Error("the origin did not get the client's own ResponseWriter (Hijack would fail)")
	}
	expect(t, do(t, c, h, "GET", "http://example.com/ws"), 200, "MISS", "x")
}

func TestStatsCountHitsMissesRevalidationsAndStores(t *testing.T) {
	c, clk := newTestCache(t, conf.ProxyCache{})
	h := c.Handler(&origin{serve: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"s"`)
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(304)
			return
		}
		_, _ = w.Write([]byte("stats"))
	}})
	do(t, c, h, "GET", "http://example.com/") // miss, store
	do(t, c, h, "GET", "http://example.com/") // hit
	do(t, c, h, "GET", "http://example.com/") // hit
	clk.Advance(time.Minute)
	do(t, c, h, "GET", "http://example.com/")  // miss, revalidation, store
	do(t, c, h, "POST", "http://example.com/") // not counted; invalidates the entry
	s := c.Stats()
	want := Stats{Hits: 2, Misses: 2, Revalidations: 1, Stores: 2, Entries: 0, MemorySize: DefaultMemorySize}
	s.Bytes = 0
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if r := s.HitRatio(); r != 0.5 {
		t.Errorf("HitRatio = %v, want 0.5", r)
	}
	if (Stats{}).HitRatio() != 0 {
		t.Error("HitRatio of nothing is not 0")
	}
}

// discard is a reusable ResponseWriter for benchmarks.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkCacheHit(b *testing.B) {
	c, _ := newTestCache(b, conf.ProxyCache{})
	h := c.Handler(&origin{serve: respond(200, big, "Cache-Control", "max-age=600", "Content-Type", "text/plain", "ETag", `"b"`)})
	do(b, c, h, "GET", "http://example.com/bench?q=1")
	r := httptest.NewRequest("GET", "http://example.com/bench?q=1", nil)
	w := &discard{h: make(http.Header)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if w.h.Get("X-Cache") != "HIT" {
		b.Fatal("not a hit")
	}
}
