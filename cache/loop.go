package cache

import (
	"net/http"
	"strconv"
	"time"

	"resind/core/h1"
)

// What the event loop (core/loop) asks of the cache: the plain fresh hit,
// which it sends itself; everything else goes through Handler.

// Hit returns what serveHTTP answers r with when that is a plain fresh
// hit: a GET or HEAD without Upgrade, Range or a condition
// (If-None-Match, If-Modified-Since), whose entry is fresh for r's
// Cache-Control, has prepared fields and a Content-Length that is its
// body's. It puts the hit's own fields (Age, X-Cache) in h and returns the
// stored status, fields and body; the caller writes the answer as the
// server would with h1.UseFields, and counts it with CountHit once sent.
// ok is false for anything else, and then h is untouched.
func (c *Cache) Hit(r *http.Request, h http.Header) (status int, f *h1.Fields, body []byte, ok bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return 0, nil, nil, false
	}
	for _, k := range [...]string{"Upgrade", "Range", "If-None-Match", "If-Modified-Since"} {
		if _, set := r.Header[k]; set {
			return 0, nil, nil, false
		}
	}
	req := requestControl(r.Header)
	now := c.now()
	e, _ := c.lookup(baseKey(r), r.Header)
	if e == nil || !e.sized || e.verdict(&req, now) != useFresh {
		return 0, nil, nil, false
	}
	h["Age"] = ageValue(int64(e.age(now) / time.Second))
	h["X-Cache"] = xHit
	return e.status, e.fields, e.body, true
}

// CountHit counts a hit the caller of Hit answered.
func (c *Cache) CountHit() { c.hits.Add(1) }

// lengthIsBody reports whether e's Content-Length, if any, is its body's
// length: an answer framed by it can be sent without a look at the body.
func lengthIsBody(e *entry) bool {
	cl := e.header["Content-Length"]
	if len(cl) == 0 {
		return true // the writer decides (the loop declines such an answer)
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	return err == nil && len(cl) == 1 && n == int64(len(e.body))
}
