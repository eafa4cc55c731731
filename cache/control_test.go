package cache

import (
	"net/http"
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	cc := func(mod func(*cacheControl)) cacheControl {
		c := noCacheControl
		mod(&c)
		return c
	}
	tests := []struct {
		name  string
		lines []string
		want  cacheControl
	}{
		{"empty", nil, noCacheControl},
		{"max-age", []string{"max-age=60"}, cc(func(c *cacheControl) { c.maxAge = 60 })},
		{"names are case-insensitive", []string{"Max-Age=60, PUBLIC"}, cc(func(c *cacheControl) { c.maxAge = 60; c.flags = ccPublic })},
		{"s-maxage and max-age", []string{"public, max-age=10, s-maxage=20"}, cc(func(c *cacheControl) { c.maxAge, c.sMaxAge, c.flags = 10, 20, ccPublic })},
		{"several lines", []string{"no-cache", "no-store"}, cc(func(c *cacheControl) { c.flags = ccNoCache | ccNoStore })},
		{"quoted value accepted", []string{`max-age="30"`}, cc(func(c *cacheControl) { c.maxAge = 30 })},
		{"invalid number is stale", []string{"max-age=abc"}, cc(func(c *cacheControl) { c.maxAge = 0 })},
		{"negative is stale", []string{"max-age=-5"}, cc(func(c *cacheControl) { c.maxAge = 0 })},
		{"first duplicate wins", []string{"max-age=5, max-age=500"}, cc(func(c *cacheControl) { c.maxAge = 5 })},
		{"huge saturates", []string{"max-age=99999999999999999999999"}, cc(func(c *cacheControl) { c.maxAge = maxDelta })},
		{"qualified private is private", []string{`private="Set-Cookie, X-Foo", max-age=3`}, cc(func(c *cacheControl) { c.flags, c.maxAge = ccPrivate, 3 })},
		{"qualified no-cache keeps later directives", []string{`no-cache="a,b", s-maxage=7`}, cc(func(c *cacheControl) { c.flags, c.sMaxAge = ccNoCache, 7 })},
		{"unknown directives ignored", []string{"foo, bar=baz, must-revalidate"}, cc(func(c *cacheControl) { c.flags = ccMustRevalidate })},
		{"spaces around =", []string{"max-age = 12"}, cc(func(c *cacheControl) { c.maxAge = 12 })},
		{"stale extensions", []string{"max-age=1, stale-while-revalidate=30, stale-if-error=600"}, cc(func(c *cacheControl) { c.maxAge, c.swr, c.sie = 1, 30, 600 })},
		{"max-stale without value", []string{"max-stale"}, cc(func(c *cacheControl) { c.flags = ccMaxStaleAny })},
		{"max-stale with value", []string{"max-stale=9, min-fresh=4"}, cc(func(c *cacheControl) { c.maxStale, c.minFresh = 9, 4 })},
		{"empty elements", []string{" , ,max-age=1,,"}, cc(func(c *cacheControl) { c.maxAge = 1 })},
		{"request directives", []string{"only-if-cached, proxy-revalidate, immutable"}, cc(func(c *cacheControl) { c.flags = ccOnlyIfCached | ccProxyRevalidate | ccImmutable })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCacheControl(tt.lines); got != tt.want {
				t.Errorf("parseCacheControl(%q) = %+v, want %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestRequestPragmaNoCacheOnlyWithoutCacheControl(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		noCache bool
	}{
		{"pragma alone", http.Header{"Pragma": {"no-cache"}}, true},
		{"pragma overridden by cache-control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=5"}}, false},
		{"nothing", http.Header{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := requestControl(tt.h)
			if got := cc.has(ccNoCache); got != tt.noCache {
				t.Errorf("no-cache = %v, want %v", got, tt.noCache)
			}
		})
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", `private="a,b", s-maxage=1`, `no-cache="\"x"`, "max-stale", "=,=,", "stale-if-error=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl([]string{s})
		for _, v := range []int64{cc.maxAge, cc.sMaxAge, cc.maxStale, cc.minFresh, cc.swr, cc.sie} {
			if v < -1 || v > maxDelta {
				t.Fatalf("parseCacheControl(%q): out of range value %d in %+v", s, v, cc)
			}
		}
		// Directives are independent of how many lines they came in.
		if again := parseCacheControl([]string{s, ""}); again != cc {
			t.Fatalf("an empty extra line changed the result for %q", s)
		}
	})
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		v          string
		size       int64
		start, end int64
		kind       rangeKind
	}{
		{"bytes=0-4", 10, 0, 5, rangeSatisfiable},
		{"bytes=5-", 10, 5, 10, rangeSatisfiable},
		{"bytes=-3", 10, 7, 10, rangeSatisfiable},
		{"bytes=-30", 10, 0, 10, rangeSatisfiable},
		{"bytes=8-100", 10, 8, 10, rangeSatisfiable},
		{"Bytes = 1-1", 10, 1, 2, rangeSatisfiable},
		{"bytes=10-", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=-0", 10, 0, 0, rangeUnsatisfiable},
		{"bytes=0-", 0, 0, 0, rangeUnsatisfiable},
		{"bytes=0-1,3-4", 10, 0, 0, rangeIgnored},
		{"bytes=4-2", 10, 0, 0, rangeIgnored},
		{"items=0-1", 10, 0, 0, rangeIgnored},
		{"bytes=a-b", 10, 0, 0, rangeIgnored},
		{"bytes=", 10, 0, 0, rangeIgnored},
		{"bytes=-", 10, 0, 0, rangeIgnored},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			start, end, kind := parseRange(tt.v, tt.size)
			if kind != tt.kind || start != tt.start || end != tt.end {
				t.Errorf("parseRange(%q, %d) = %d, %d, %d; want %d, %d, %d", tt.v, tt.size, start, end, kind, tt.start, tt.end, tt.kind)
			}
		})
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-3", "bytes=5-", "bytes=1-2,4-5", "bytes=999999999999999999999-"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		start, end, kind := parseRange(v, size)
		if kind == rangeSatisfiable && (start < 0 || end > size || start >= end) {
			t.Fatalf("parseRange(%q, %d) = [%d, %d): outside the representation", v, size, start, end)
		}
	})
}
