package cache

import (
	"net/http"
	"testing"

	"resind/conf"
)

func TestUnsafeMethodsInvalidateWhatTheyTouch(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		status   int
		location string
		gone     []string // URLs that must be fetched again
		kept     []string // URLs still served from the cache
	}{
		{"POST 200 invalidates its URL", "POST", 200, "", []string{"http://example.com/item"}, []string{"http://example.com/other"}},
		{"PUT invalidates its URL", "PUT", 204, "", []string{"http://example.com/item"}, nil},
		{"DELETE invalidates its URL", "DELETE", 200, "", []string{"http://example.com/item"}, nil},
		{"PATCH invalidates its URL", "PATCH", 200, "", []string{"http://example.com/item"}, nil},
		{"Location on the same host", "POST", 303, "/other", []string{"http://example.com/item", "http://example.com/other"}, nil},
		{"absolute Location on the same host", "POST", 201, "http://example.com/other", []string{"http://example.com/other"}, nil},
		{"Location on another host is left alone", "POST", 201, "http://elsewhere.com/other", nil, []string{"http://elsewhere.com/other"}},
		{"an error invalidates nothing", "POST", 500, "", nil, []string{"http://example.com/item"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, conf.ProxyCache{})
			o := &origin{serve: func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "GET" {
					respond(200, "cached", "Cache-Control", "max-age=60")(w, r)
					return
				}
				if tt.location != "" {
					w.Header().Set("Location", tt.location)
				}
				w.WriteHeader(tt.status)
			}}
			h := c.Handler(o)
			for _, u := range []string{"http://example.com/item", "http://example.com/other", "http://elsewhere.com/other"} {
				do(t, c, h, "GET", u)
			}
			rec := do(t, c, h, tt.method, "http://example.com/item")
			if rec.Code != tt.status || rec.Header().Get("X-Cache") != "" {
				t.Fatalf("%s answered %d with X-Cache %q", tt.method, rec.Code, rec.Header().Get("X-Cache"))
			}
			for _, u := range tt.gone {
				expect(t, do(t, c, h, "GET", u), 200, "MISS", "cached")
			}
			for _, u := range tt.kept {
				expect(t, do(t, c, h, "GET", u), 200, "HIT", "cached")
			}
		})
	}
}

func TestPurge(t *testing.T) {
	urls := []string{
		"http://example.com/a",
		"http://example.com/a?x=1",
		"http://example.com/img/1.png",
		"http://example.com/img/2.png",
		"https://example.com/a",
		"http://other.com/a",
	}
	tests := []struct {
		name  string
		purge func(c *Cache) int
		n     int
		gone  []string
	}{
		{"one URL", func(c *Cache) int { return b2i(c.Purge("http://example.com/a")) }, 1, []string{"http://example.com/a"}},
		{"host case and default port", func(c *Cache) int { return b2i(c.Purge("http://EXAMPLE.com:80/a")) }, 1, []string{"http://example.com/a"}},
		{"host/path on both schemes", func(c *Cache) int { return b2i(c.Purge("example.com/a")) }, 1, []string{"http://example.com/a", "https://example.com/a"}},
		{"path on every host", func(c *Cache) int { return b2i(c.Purge("/a")) }, 1, []string{"http://example.com/a", "https://example.com/a", "http://other.com/a"}},
		{"unknown URL", func(c *Cache) int { return b2i(c.Purge("http://example.com/nothing")) }, 0, nil},
		{"prefix with scheme", func(c *Cache) int { return c.PurgePrefix("http://example.com/img/") }, 2, []string{"http://example.com/img/1.png", "http://example.com/img/2.png"}},
		{"path prefix", func(c *Cache) int { return c.PurgePrefix("/a") }, 4, []string{"http://example.com/a", "http://example.com/a?x=1", "https://example.com/a", "http://other.com/a"}},
		{"host prefix", func(c *Cache) int { return c.PurgePrefix("other.com/") }, 1, []string{"http://other.com/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, conf.ProxyCache{})
			h := c.Handler(&origin{serve: respond(200, "x", "Cache-Control", "max-age=60")})
			for _, u := range urls {
				do(t, c, h, "GET", u)
			}
			if got := tt.purge(c); got != tt.n {
				t.Errorf("purged %d, want %d", got, tt.n)
			}
			c.store.Wait()
			gone := map[string]bool{}
			for _, u := range tt.gone {
				gone[u] = true
			}
			for _, u := range urls {
				want := "HIT"
				if gone[u] {
					want = "MISS"
				}
				if got := do(t, c, h, "GET", u).Header().Get("X-Cache"); got != want {
					t.Errorf("%s: X-Cache %s, want %s", u, got, want)
				}
			}
		})
	}
}

func TestPurgeRemovesEveryVariant(t *testing.T) {
	c, _ := newTestCache(t, conf.ProxyCache{})
	h := c.Handler(&origin{serve: func(w http.ResponseWriter, r *http.Request) {
		respond(200, r.Header.Get("Accept-Language"), "Cache-Control", "max-age=60", "Vary", "Accept-Language")(w, r)
	}})
	for _, lang := range []string{"en", "fr", "de"} {
		do(t, c, h, "GET", "http://example.com/", "Accept-Language", lang)
	}
	if !c.Purge("http://example.com/") {
		t.Fatal("Purge found nothing")
	}
	c.store.Wait()
	for _, lang := range []string{"en", "fr", "de"} {
		expect(t, do(t, c, h, "GET", "http://example.com/", "Accept-Language", lang), 200, "MISS", lang)
	}
	if s := c.Stats(); s.Entries != 3 {
		t.Errorf("Entries after refill = %d, want 3 (purged variants released)", s.Entries)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
