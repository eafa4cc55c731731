package cache

import (
	"net/http"
	"testing"
	"time"

	"resind/conf"
)

func TestHitAfterMissCallsOriginOnce(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "hello", "Cache-Control", "max-age=60")}
	h := c.Handler(o)
	expect(t, do(t, c, h, "GET", "http://example.com/a"), 200, "MISS", "hello")
	rec := do(t, c, h, "GET", "http://example.com/a")
	expect(t, rec, 200, "HIT", "hello")
	if n := o.calls.Load(); n != 1 {
		t.Errorf("origin called %d times, want 1", n)
	}
	if cl := rec.Header().Get("Content-Length"); cl != "5" {
		t.Errorf("Content-Length = %q, want 5", cl)
	}
	// Another query string is another resource.
	expect(t, do(t, c, h, "GET", "http://example.com/a?x=1"), 200, "MISS", "hello")
}

func TestAgeGrowsWithTheClock(t *testing.T) {
	c, clk := newTestCache(t, conf.ProxyCache{})
	h := c.Handler(&origin{serve: respond(200, "x", "Cache-Control", "max-age=600", "Age", "5")})
	do(t, c, h, "GET", "http://example.com/")
	clk.Advance(100 * time.Second)
	rec := do(t, c, h, "GET", "http://example.com/")
	if got := rec.Header().Get("Age"); got != "105" {
		t.Errorf("Age = %q, want 105 (5 from the origin + 100 stored)", got)
	}
}

func TestConditionalRequestsGet304FromAFreshEntry(t *testing.T) {
	const lm = "Wed, 01 May 2024 10:00:00 GMT"
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "body", "Cache-Control", "max-age=60", "ETag", `"v1"`, "Last-Modified", lm)}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"matching If-None-Match", []string{"If-None-Match", `"v1"`}, 304},
		{"weak comparison", []string{"If-None-Match", `W/"v1"`}, 304},
		{"one of a list", []string{"If-None-Match", `"v0", "v1"`}, 304},
		{"star", []string{"If-None-Match", `*`}, 304},
		{"other tag", []string{"If-None-Match", `"v2"`}, 200},
		{"If-Modified-Since not older", []string{"If-Modified-Since", lm}, 304},
		{"If-Modified-Since older", []string{"If-Modified-Since", "Wed, 01 May 2024 09:00:00 GMT"}, 200},
		{"If-None-Match wins over If-Modified-Since", []string{"If-None-Match", `"v2"`, "If-Modified-Since", lm}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, c, h, "GET", "http://example.com/", tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if tt.status == 304 && (rec.Body.Len() != 0 || rec.Header().Get("Etag") != `"v1"`) {
				t.Errorf("304 has body %q, ETag %q", rec.Body, rec.Header().Get("Etag"))
			}
		})
	}
	if n := o.calls.Load(); n != 1 {
		t.Errorf("origin called %d times, want 1", n)
	}
}

func TestConditionalMissIsAnsweredFromTheStoredEntry(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			t.Errorf("origin got the client's If-None-Match %q", r.Header.Get("If-None-Match"))
		}
		respond(200, "body", "Cache-Control", "max-age=60", "ETag", `"v1"`)(w, r)
	}}
	h := c.Handler(o)
	rec := do(t, c, h, "GET", "http://example.com/", "If-None-Match", `"v1"`)
	expect(t, rec, 304, "MISS", "")
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "body")
}

func TestRangeIsServedFromAStoredFullResponse(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "0123456789", "Cache-Control", "max-age=60", "ETag", `"r"`)}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/f")
	tests := []struct {
		rng, ifRange string
		status       int
		body, cr     string
	}{
		{"bytes=0-4", "", 206, "01234", "bytes 0-4/10"},
		{"bytes=7-", "", 206, "789", "bytes 7-9/10"},
		{"bytes=-2", "", 206, "89", "bytes 8-9/10"},
		{"bytes=20-", "", 416, "", "bytes */10"},
		{"bytes=0-1,5-6", "", 200, "0123456789", ""},
		{"bytes=0-4", `"r"`, 206, "01234", "bytes 0-4/10"},
		{"bytes=0-4", `"other"`, 200, "0123456789", ""},
	}
	for _, tt := range tests {
		t.Run(tt.rng+" "+tt.ifRange, func(t *testing.T) {
			hdr := []string{"Range", tt.rng}
			if tt.ifRange != "" {
				hdr = append(hdr, "If-Range", tt.ifRange)
			}
			rec := do(t, c, h, "GET", "http://example.com/f", hdr...)
			expect(t, rec, tt.status, "HIT", tt.body)
			if got := rec.Header().Get("Content-Range"); got != tt.cr {
				t.Errorf("Content-Range = %q, want %q", got, tt.cr)
			}
			if tt.status == 206 && rec.Header().Get("Content-Length") != itoa(int64(len(tt.body))) {
				t.Errorf("Content-Length = %q for %q", rec.Header().Get("Content-Length"), tt.body)
			}
		})
	}
	if n := o.calls.Load(); n != 1 {
		t.Errorf("origin called %d times, want 1", n)
	}
}

func TestRangeMissGoesToTheOriginAndIsNotStored(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		http.ServeContent(w, r, "f", time.Time{}, stringsReader("0123456789"))
	}}
	h := c.Handler(o)
	rec := do(t, c, h, "GET", "http://example.com/f", "Range", "bytes=0-1")
	if rec.Code != 206 || rec.Body.String() != "01" {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	expect(t, do(t, c, h, "GET", "http://example.com/f"), 200, "MISS", "0123456789")
}

func TestHeadIsAnsweredFromTheGetEntry(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "hello", "Cache-Control", "max-age=60")}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	rec := do(t, c, h, "HEAD", "http://example.com/")
	expect(t, rec, 200, "HIT", "")
	if rec.Header().Get("Content-Length") != "5" {
		t.Errorf("Content-Length = %q, want 5", rec.Header().Get("Content-Length"))
	}
	if n := o.calls.Load(); n != 1 {
		t.Errorf("origin called %d times, want 1", n)
	}
	// A HEAD miss goes to the origin and stores nothing.
	do(t, c, h, "HEAD", "http://example.com/other")
	expect(t, do(t, c, h, "GET", "http://example.com/other"), 200, "MISS", "hello")
}

func TestVaryKeepsOneEntryPerVariant(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		respond(200, "enc="+r.Header.Get("Accept-Encoding"), "Cache-Control", "max-age=60", "Vary", "Accept-Encoding")(w, r)
	}}
	h := c.Handler(o)
	expect(t, do(t, c, h, "GET", "http://example.com/", "Accept-Encoding", "gzip"), 200, "MISS", "enc=gzip")
	expect(t, do(t, c, h, "GET", "http://example.com/", "Accept-Encoding", "br"), 200, "MISS", "enc=br")
	expect(t, do(t, c, h, "GET", "http://example.com/", "Accept-Encoding", "GZIP"), 200, "HIT", "enc=gzip")
	expect(t, do(t, c, h, "GET", "http://example.com/", "Accept-Encoding", "br"), 200, "HIT", "enc=br")
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "MISS", "enc=")
	if n := o.calls.Load(); n != 3 {
		t.Errorf("origin called %d times, want 3", n)
	}
	if s := c.Stats(); s.Entries != 3 {
		t.Errorf("Entries = %d, want 3", s.Entries)
	}
}

func TestVaryStarIsNotStored(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "x", "Cache-Control", "max-age=60", "Vary", "*")}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "MISS", "x")
}

func TestExpiredEntryIsRevalidatedAnd304Refreshes(t *testing.T) {
	c, clk := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Version", "1")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("X-Version", "1-refreshed")
			w.WriteHeader(304)
			return
		}
		_, _ = w.Write([]byte("body"))
	}}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	clk.Advance(61 * time.Second)

	rec := do(t, c, h, "GET", "http://example.com/")
	expect(t, rec, 200, "REVALIDATED", "body")
	if got := o.last().Get("If-None-Match"); got != `"v1"` {
		t.Errorf("origin saw If-None-Match %q, want \"v1\"", got)
	}
	if rec.Header().Get("X-Version") != "1-refreshed" || rec.Header().Get("Age") != "0" {
		t.Errorf("refreshed headers not served: X-Version %q Age %q", rec.Header().Get("X-Version"), rec.Header().Get("Age"))
	}
	// Fresh again for another minute.
	clk.Advance(30 * time.Second)
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "body")
	// A client's own condition gets its 304 after a revalidation.
	clk.Advance(31 * time.Second)
	expect(t, do(t, c, h, "GET", "http://example.com/", "If-None-Match", `"v1"`), 304, "REVALIDATED", "")
	if s := c.Stats(); s.Revalidations != 2 || o.calls.Load() != 3 {
		t.Errorf("Revalidations = %d, origin calls = %d; want 2 and 3", s.Revalidations, o.calls.Load())
	}
}

func TestExpiredEntryIsReplacedByANew200(t *testing.T) {
	c, clk := newTestCache(t, conf.ProxyCache{})
	version := "v1"
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		respond(200, version, "Cache-Control", "max-age=60", "Last-Modified", "Wed, 01 May 2024 10:00:00 GMT")(w, r)
	}}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	version = "v2"
	clk.Advance(2 * time.Minute)
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "MISS", "v2")
	if o.last().Get("If-Modified-Since") == "" {
		t.Error("revalidation did not send If-Modified-Since")
	}
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "v2")
}

func TestResponseNoCacheIsRevalidatedEveryTime(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", `"n"`)
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(304)
			return
		}
		_, _ = w.Write([]byte("n"))
	}}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/")
	for range 3 {
		expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "REVALIDATED", "n")
	}
	if n := o.calls.Load(); n != 4 {
		t.Errorf("origin called %d times, want 4", n)
	}
}

func TestRequestDirectives(t *testing.T) {
	tests := []struct {
		name       string
		header     []string
		status     int
		xcache     string
		originSeen bool
	}{
		{"no-cache revalidates", []string{"Cache-Control", "no-cache"}, 200, "REVALIDATED", true},
		{"max-age=0 revalidates", []string{"Cache-Control", "max-age=0"}, 200, "REVALIDATED", true},
		{"pragma no-cache revalidates", []string{"Pragma", "no-cache"}, 200, "REVALIDATED", true},
		{"no-store is still served from the cache", []string{"Cache-Control", "no-store"}, 200, "HIT", false},
		{"only-if-cached hit", []string{"Cache-Control", "only-if-cached"}, 200, "HIT", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, conf.ProxyCache{})
			o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("ETag", `"e"`)
				if r.Header.Get("If-None-Match") != "" {
					w.WriteHeader(304)
					return
				}
				_, _ = w.Write([]byte("e"))
			}}
			h := c.Handler(o)
			do(t, c, h, "GET", "http://example.com/")
			rec := do(t, c, h, "GET", "http://example.com/", tt.header...)
			if rec.Code != tt.status || rec.Header().Get("X-Cache") != tt.xcache {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Header().Get("X-Cache"), tt.status, tt.xcache)
			}
			if seen := o.calls.Load() == 2; seen != tt.originSeen {
				t.Errorf("origin contacted = %v, want %v", seen, tt.originSeen)
			}
		})
	}
}

func TestRequestNoStoreIsNotStoredAndOnlyIfCachedMissIs504(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "x", "Cache-Control", "max-age=60")}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/", "Cache-Control", "no-store")
	rec := do(t, c, h, "GET", "http://example.com/", "Cache-Control", "only-if-cached")
	if rec.Code != 504 {
		t.Errorf("only-if-cached miss = %d, want 504", rec.Code)
	}
	if n := o.calls.Load(); n != 1 {
		t.Errorf("origin called %d times, want 1", n)
	}
}

func TestUncacheableResponsesPassThrough(t *testing.T) {
	tests := []struct {
		name   string
		serve  http.HandlerFunc
		header []string
	}{
		{"private", respond(200, "p", "Cache-Control", "private, max-age=60"), nil},
		{"no-store", respond(200, "p", "Cache-Control", "no-store"), nil},
		{"Set-Cookie", respond(200, "p", "Cache-Control", "max-age=60", "Set-Cookie", "s=1"), nil},
		{"Authorization", respond(200, "p", "Cache-Control", "max-age=60"), []string{"Authorization", "Basic eDp5"}},
		{"206", respond(206, "p", "Cache-Control", "max-age=60", "Content-Range", "bytes 0-0/9"), nil},
		{"500", respond(500, "p", "Cache-Control", "max-age=60"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, conf.ProxyCache{})
			o := &origin{serve: tt.serve}
			h := c.Handler(o)
			first := do(t, c, h, "GET", "http://example.com/", tt.header...)
			second := do(t, c, h, "GET", "http://example.com/", tt.header...)
			if first.Body.String() != "p" || second.Body.String() != "p" || second.Header().Get("X-Cache") != "MISS" {
				t.Errorf("got %q then %q (%s)", first.Body, second.Body, second.Header().Get("X-Cache"))
			}
			if n := o.calls.Load(); n != 2 {
				t.Errorf("origin called %d times, want 2", n)
			}
		})
	}
}

func TestAuthorizedRequestStoredWhenResponseIsPublic(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	o := &origin{serve: respond(200, "pub", "Cache-Control", "public, max-age=60")}
	h := c.Handler(o)
	do(t, c, h, "GET", "http://example.com/", "Authorization", "Basic eDp5")
	expect(t, do(t, c, h, "GET", "http://example.com/"), 200, "HIT", "pub")
}
