package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestStorable(t *testing.T) {
	const date = "Mon, 02 Jan 2006 15:04:05 GMT"
	tests := []struct {
		name    string
		method  string
		reqHdr  http.Header
		status  int
		resHdr  http.Header
		storeIt bool
	}{
		{"200 with max-age", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}}, true},
		{"200 with s-maxage", "GET", nil, 200, http.Header{"Cache-Control": {"s-maxage=60"}}, true},
		{"200 with Expires after Date", "GET", nil, 200, http.Header{"Date": {date}, "Expires": {"Mon, 02 Jan 2006 16:04:05 GMT"}}, true},
		{"200 with Expires equal to Date and no validator", "GET", nil, 200, http.Header{"Date": {date}, "Expires": {date}}, false},
		{"200 with invalid Expires", "GET", nil, 200, http.Header{"Expires": {"0"}}, false},
		{"200 with only ETag is validatable", "GET", nil, 200, http.Header{"Etag": {`"v1"`}}, true},
		{"200 with only Last-Modified is validatable", "GET", nil, 200, http.Header{"Last-Modified": {date}}, true},
		{"200 without freshness or validator", "GET", nil, 200, http.Header{}, false},
		{"200 max-age=0 without validator", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=0"}}, false},
		{"no-cache with validator is stored", "GET", nil, 200, http.Header{"Cache-Control": {"no-cache"}, "Etag": {`"a"`}}, true},
		{"no-cache without validator", "GET", nil, 200, http.Header{"Cache-Control": {"no-cache, max-age=60"}}, false},
		{"no-store", "GET", nil, 200, http.Header{"Cache-Control": {"no-store, max-age=60"}}, false},
		{"private", "GET", nil, 200, http.Header{"Cache-Control": {"private, max-age=60"}}, false},
		{"Set-Cookie", "GET", nil, 200, http.Header{"Cache-Control": {"public, max-age=60"}, "Set-Cookie": {"a=b"}}, false},
		{"Vary star", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept, *"}}, false},
		{"Vary on a field", "GET", nil, 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept-Encoding"}}, true},
		{"request no-store", "GET", http.Header{"Cache-Control": {"no-store"}}, 200, http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"HEAD response", "HEAD", nil, 200, http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"POST response", "POST", nil, 200, http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"Authorization without permission", "GET", http.Header{"Authorization": {"Basic x"}}, 200, http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"Authorization with public", "GET", http.Header{"Authorization": {"Basic x"}}, 200, http.Header{"Cache-Control": {"public, max-age=60"}}, true},
		{"Authorization with s-maxage", "GET", http.Header{"Authorization": {"Basic x"}}, 200, http.Header{"Cache-Control": {"s-maxage=60"}}, true},
		{"Authorization with must-revalidate", "GET", http.Header{"Authorization": {"Basic x"}}, 200, http.Header{"Cache-Control": {"must-revalidate, max-age=60"}}, true},
		{"206 never", "GET", nil, 206, http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"404 explicitly fresh", "GET", nil, 404, http.Header{"Cache-Control": {"max-age=60"}}, true},
		{"404 only validatable", "GET", nil, 404, http.Header{"Etag": {`"x"`}}, false},
		{"301 explicitly fresh", "GET", nil, 301, http.Header{"Cache-Control": {"max-age=60"}}, true},
		{"308 explicitly fresh", "GET", nil, 308, http.Header{"Cache-Control": {"max-age=60"}}, true},
		{"410 explicitly fresh", "GET", nil, 410, http.Header{"Cache-Control": {"max-age=60"}}, true},
		{"501 explicitly fresh", "GET", nil, 501, http.Header{"Cache-Control": {"max-age=60"}}, true},
		{"302 not in Resin's list", "GET", nil, 302, http.Header{"Cache-Control": {"max-age=60"}}, false},
		{"500 never", "GET", nil, 500, http.Header{"Cache-Control": {"max-age=60"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(tt.method, "http://example.com/x", nil)
			if tt.reqHdr != nil {
				r.Header = tt.reqHdr
			}
			req := requestControl(r.Header)
			cc := parseCacheControl(tt.resHdr["Cache-Control"])
			now, _ := http.ParseTime(date)
			life := lifetime(tt.resHdr, &cc, now)
			if got := storable(r, &req, tt.status, tt.resHdr, &cc, life); got != tt.storeIt {
				t.Errorf("storable = %v, want %v", got, tt.storeIt)
			}
		})
	}
}

func TestLifetime(t *testing.T) {
	respTime := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"s-maxage beats max-age", http.Header{"Cache-Control": {"max-age=10, s-maxage=20"}}, 20 * time.Second},
		{"max-age beats Expires", http.Header{"Cache-Control": {"max-age=10"}, "Expires": {"Mon, 02 Jan 2006 16:04:05 GMT"}}, 10 * time.Second},
		{"Expires relative to Date", http.Header{"Date": {"Mon, 02 Jan 2006 14:00:00 GMT"}, "Expires": {"Mon, 02 Jan 2006 14:01:00 GMT"}}, time.Minute},
		{"Expires without Date uses response time", http.Header{"Expires": {"Mon, 02 Jan 2006 15:05:05 GMT"}}, time.Minute},
		{"Expires in the past", http.Header{"Date": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "Expires": {"Mon, 02 Jan 2006 15:00:00 GMT"}}, 0},
		{"invalid Expires", http.Header{"Expires": {"-1"}}, 0},
		{"no heuristic freshness", http.Header{"Last-Modified": {"Mon, 02 Jan 2000 15:04:05 GMT"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := parseCacheControl(tt.h["Cache-Control"])
			if got := lifetime(tt.h, &cc, respTime); got != tt.want {
				t.Errorf("lifetime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	stored := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(resCC string) *entry {
		e := &entry{header: http.Header{}}
		cc := parseCacheControl([]string{resCC})
		e.setFreshness(&cc, lifetime(http.Header{}, &cc, stored), 0, stored, stored)
		return e
	}
	tests := []struct {
		name  string
		resCC string
		reqCC string
		age   time.Duration
		want  verdict
	}{
		{"fresh", "max-age=60", "", 30 * time.Second, useFresh},
		{"expired", "max-age=60", "", 61 * time.Second, mustValidate},
		{"exactly at lifetime is stale", "max-age=60", "", 60 * time.Second, mustValidate},
		{"response no-cache", "no-cache, max-age=60", "", 0, mustValidate},
		{"request no-cache", "max-age=60", "no-cache", 0, mustValidate},
		{"request max-age=0", "max-age=60", "max-age=0", 0, mustValidate},
		{"request max-age older", "max-age=60", "max-age=10", 20 * time.Second, mustValidate},
		{"request max-age younger", "max-age=60", "max-age=30", 20 * time.Second, useFresh},
		{"request min-fresh", "max-age=60", "min-fresh=50", 20 * time.Second, mustValidate},
		{"request max-stale any", "max-age=60", "max-stale", time.Hour, useStale},
		{"request max-stale within", "max-age=60", "max-stale=30", 80 * time.Second, useStale},
		{"request max-stale beyond", "max-age=60", "max-stale=30", 100 * time.Second, mustValidate},
		{"must-revalidate refuses max-stale", "max-age=60, must-revalidate", "max-stale", 80 * time.Second, mustValidate},
		{"s-maxage refuses max-stale", "s-maxage=60", "max-stale", 80 * time.Second, mustValidate},
		{"stale-while-revalidate within", "max-age=60, stale-while-revalidate=30", "", 80 * time.Second, useStaleRevalidate},
		{"stale-while-revalidate with s-maxage", "s-maxage=60, stale-while-revalidate=30", "", 80 * time.Second, useStaleRevalidate},
		{"stale-while-revalidate beyond", "max-age=60, stale-while-revalidate=30", "", 100 * time.Second, mustValidate},
		{"stale-while-revalidate but request no-cache", "max-age=60, stale-while-revalidate=30", "no-cache", 80 * time.Second, mustValidate},
		{"stale-while-revalidate but must-revalidate", "max-age=60, must-revalidate, stale-while-revalidate=30", "", 80 * time.Second, mustValidate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mk(tt.resCC)
			req := parseCacheControl([]string{tt.reqCC})
			if got := e.verdict(&req, stored.Add(tt.age)); got != tt.want {
				t.Errorf("verdict = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestStaleIfErrorWindow(t *testing.T) {
	stored := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		resCC string
		age   time.Duration
		want  bool
	}{
		{"max-age=60, stale-if-error=60", 100 * time.Second, true},
		{"max-age=60, stale-if-error=60", 121 * time.Second, false},
		{"max-age=60", 61 * time.Second, false},
		{"max-age=60, stale-if-error=60, must-revalidate", 61 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.resCC, func(t *testing.T) {
			e := &entry{header: http.Header{}}
			cc := parseCacheControl([]string{tt.resCC})
			e.setFreshness(&cc, lifetime(e.header, &cc, stored), 0, stored, stored)
			if got := e.staleIfError(stored.Add(tt.age)); got != tt.want {
				t.Errorf("staleIfError at %v = %v, want %v", tt.age, got, tt.want)
			}
		})
	}
}
