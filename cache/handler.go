package cache

import (
	"context"
	"net/http"
	"time"
)

// X-Cache values, shared read-only slices (cap == len, so an Add by a
// later handler copies instead of writing into them).
var (
	xHit         = []string{"HIT"}
	xMiss        = []string{"MISS"}
	xStale       = []string{"STALE"}
	xRevalidated = []string{"REVALIDATED"}
)

// Handler returns next behind the cache. next talks to the origin (a
// LoadBalance or HttpProxy handler); it is called for misses, for
// revalidations (with If-None-Match / If-Modified-Since added to a copy of
// the request), and for everything the cache does not keep, which passes
// through untouched. Responses carry X-Cache: HIT, MISS, STALE or
// REVALIDATED when the cache took part.
//
// GET and HEAD are looked up; other safe methods pass through; unsafe ones
// (POST, PUT, DELETE, PATCH...) pass through and, when they succeed,
// invalidate the URL they touched and the Location and Content-Location
// URLs on the same host (RFC 9111 §4.4). Requests asking for a protocol
// upgrade pass through.
func (c *Cache) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serveHTTP(next, w, r)
	})
}

func (c *Cache) serveHTTP(next http.Handler, w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace, http.MethodConnect:
		next.ServeHTTP(w, r)
		return
	default:
		c.passUnsafe(next, w, r)
		return
	}
	if _, up := r.Header["Upgrade"]; up {
		next.ServeHTTP(w, r)
		return
	}
	req := requestControl(r.Header)
	base := baseKey(r)
	now := c.now()
	e, key := c.lookup(base, r.Header)
	if e != nil {
		switch e.verdict(&req, now) {
		case useFresh:
			c.hits.Add(1)
			serveEntry(w, r, e, now, xHit)
			return
		case useStale:
			c.hits.Add(1)
			c.stale.Add(1)
			serveEntry(w, r, e, now, xStale)
			return
		case useStaleRevalidate:
			c.hits.Add(1)
			c.stale.Add(1)
			serveEntry(w, r, e, now, xStale)
			c.revalidateInBackground(next, r, base, key, e)
			return
		}
	}
	if req.has(ccOnlyIfCached) {
		http.Error(w, "not in the cache", http.StatusGatewayTimeout)
		return
	}

	// HEAD and Range requests never start a fetch (their response could
	// not be stored as the full GET response) but may wait for one.
	_, ranged := r.Header["Range"]
	lead := r.Method == http.MethodGet && !ranged
	fl, leader := c.flights.join(key, lead)
	switch {
	case fl == nil:
		c.misses.Add(1)
		next.ServeHTTP(w, r)
	case leader:
		c.misses.Add(1)
		defer c.flights.finish(key, fl)
		fl.res, fl.stale = c.fetch(next, w, r, req, base, e)
	default:
		select {
		case <-fl.done:
		case <-r.Context().Done():
			return
		}
		if res := fl.res; res != nil && res.matches(r.Header) {
			c.hits.Add(1)
			c.coalesced.Add(1)
			x := xHit
			if fl.stale {
				c.stale.Add(1)
				x = xStale
			}
			serveEntry(w, r, res, c.now(), x)
			return
		}
		c.misses.Add(1)
		if lead {
			c.fetch(next, w, r, req, base, e)
		} else {
			next.ServeHTTP(w, r)
		}
	}
}

// revalidateInBackground refreshes e for later requests, once: nothing
// happens when a fetch of key is already under way.
func (c *Cache) revalidateInBackground(next http.Handler, r *http.Request, base, key string, e *entry) {
	fl, leader := c.flights.join(key, true)
	if !leader {
		return
	}
	out := r.Clone(c.bgCtx)
	out.Method = http.MethodGet
	out.Body = http.NoBody
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer c.flights.finish(key, fl)
		fl.res, fl.stale = c.fetch(next, nil, out, noCacheControl, base, e)
	}()
}

// fetch sends r to the origin on behalf of w (nil in the background),
// revalidating prev when it is set, stores what may be stored and returns
// the entry that answered, nil when none may be shared with waiters, and
// whether it is prev standing in for an origin error.
func (c *Cache) fetch(next http.Handler, w http.ResponseWriter, r *http.Request, req cacheControl, base string, prev *entry) (*entry, bool) {
	f := &fetch{c: c, r: r, base: base, req: req, prev: prev}
	out := r.WithContext(context.WithoutCancel(r.Context()))
	out.Header = r.Header.Clone()
	// The client's own conditions are answered from the stored entry, so
	// the origin is asked for the full response.
	for _, k := range []string{"If-None-Match", "If-Modified-Since"} {
		if _, ok := out.Header[k]; ok {
			delete(out.Header, k)
			f.hold = true
		}
	}
	delete(out.Header, "Range")
	delete(out.Header, "If-Range")
	if prev != nil {
		if prev.etag != "" {
			out.Header["If-None-Match"] = []string{prev.etag}
			f.conditional = true
		}
		if prev.lastModified != "" {
			out.Header["If-Modified-Since"] = []string{prev.lastModified}
			f.conditional = true
		}
	}
	f.reqTime = c.now()
	cw := newCapture(w, c.maxEntry, xMiss, f.decide)
	next.ServeHTTP(cw, out)
	cw.finish()
	return f.complete(w, cw)
}

// fetch is the state of one origin request.
type fetch struct {
	c           *Cache
	r           *http.Request
	base        string
	req         cacheControl
	prev        *entry
	hold        bool // the client sent conditions: answer it from the entry
	conditional bool // prev's validators were sent

	reqTime, respTime time.Time
	cc                cacheControl
	lifetime          time.Duration
	vary              []string
	storable          bool
}

// decide picks what the capture does with the origin's response.
func (f *fetch) decide(status int, h http.Header) captureMode {
	f.respTime = f.c.now()
	if f.prev != nil {
		if status == http.StatusNotModified && f.conditional {
			return modeSwallow
		}
		if serverError(status) && f.prev.staleIfError(f.respTime) {
			return modeSwallow
		}
	}
	f.cc = parseCacheControl(h["Cache-Control"])
	f.lifetime = lifetime(h, &f.cc, f.respTime)
	f.storable = storable(f.r, &f.req, status, h, &f.cc, f.lifetime)
	if n := contentLength(h); n > f.c.maxEntry {
		f.storable = false
	}
	if !f.storable {
		return modeForward
	}
	f.vary, _ = parseVary(h)
	if f.hold {
		return modeHold
	}
	return modeTee
}

// complete acts on a finished origin response.
func (f *fetch) complete(w http.ResponseWriter, cw *capture) (*entry, bool) {
	c := f.c
	now := c.now()
	switch {
	case cw.mode == modeSwallow && cw.status == http.StatusNotModified:
		e := f.prev.refreshed(cw.h, f.reqTime, f.respTime)
		c.revalidations.Add(1)
		if e.storableAfterRefresh(f.r, &f.req) {
			c.put(e, f.r.Header)
		} else {
			c.del(f.prev.key)
		}
		if w != nil {
			serveEntry(w, f.r, e, now, xRevalidated)
		}
		return e, false
	case cw.mode == modeSwallow:
		c.stale.Add(1)
		if w != nil {
			serveEntry(w, f.r, f.prev, now, xStale)
		}
		return f.prev, true
	case f.storable && cw.keep:
		e := newEntry(f.base, cw.status, cw.h, cw.buf, f.reqTime, f.respTime, &f.cc, f.lifetime, f.vary)
		c.put(e, f.r.Header)
		if cw.mode == modeHold && w != nil {
			serveEntry(w, f.r, e, now, xMiss)
		}
		return e, false
	}
	if f.prev != nil && cw.status < 500 {
		// The origin answered with something we do not keep: the old
		// entry no longer describes the resource.
		c.del(f.prev.key)
	}
	return nil, false
}
