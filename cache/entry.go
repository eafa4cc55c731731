package cache

import (
	"net/http"
	"resind/core/h1"
	"slices"
	"strings"
	"sync"
	"time"
)

// entry is one stored response, or the Vary marker of a URL.
type entry struct {
	key  string // the ristretto key: base, or a variant key
	base string // scheme://host/path?query

	status       int
	header       http.Header // cleaned; each value slice is clipped (cap == len)
	body         []byte
	etag         string
	lastModified string
	lastModTime  time.Time

	stored     time.Time     // when the response (or its last 304) arrived
	initialAge time.Duration // the origin's Age plus the transfer time
	lifetime   time.Duration // 0: revalidate on every use
	swr, sie   time.Duration // stale-while-revalidate, stale-if-error; <0 when absent
	noCache    bool          // response no-cache: always revalidate
	noStale    bool          // must-revalidate, proxy-revalidate, no-cache: never serve stale
	sMaxAge    bool          // s-maxage: the client's max-stale does not apply

	vary     []string // the canonical names of Vary, nil without Vary
	markerID uint64   // the marker the variant key was made with

	cost int64

	// fields is header serialized for answers on resind's HTTP/1.1 loop
	// (h1.UseFields), Age and X-Cache left out: those are the hit's own.
	// sized says fields are set and any Content-Length is the body's
	// length: the event loop may send the answer itself (Hit).
	fields *h1.Fields
	sized  bool

	// marker is set on the entry stored under the base key of a URL whose
	// responses vary; such an entry holds no response.
	marker *marker
}

// marker records, under a URL's base key, which request fields select its
// variants. Variant keys embed the marker's id, so replacing or purging
// the marker makes every variant made with it unreachable at once; the
// keys it remembers are deleted eagerly to give their memory back.
type marker struct {
	id    uint64
	names []string

	mu       sync.Mutex
	variants []string
}

// maxTrackedVariants bounds the variant keys a marker remembers; variants
// past it are still unreachable after a purge, they just wait for eviction.
const maxTrackedVariants = 64

func (m *marker) add(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.variants) < maxTrackedVariants && !slices.Contains(m.variants, key) {
		m.variants = append(m.variants, key)
	}
}

func (m *marker) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.variants)
}

// hopByHop are the fields that describe one connection, never stored
// (RFC 9110 §7.6.1), with the ones the cache computes itself.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Age", "X-Cache",
}

// cleanHeader copies the storable fields of h, each value slice clipped.
func cleanHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		out[k] = slices.Clip(slices.Clone(v))
	}
	for _, k := range hopByHop {
		delete(out, k)
	}
	for _, line := range h["Connection"] {
		for f := range strings.SplitSeq(line, ",") {
			delete(out, http.CanonicalHeaderKey(strings.TrimSpace(f)))
		}
	}
	return out
}

// newEntry builds the entry for a response stored under base.
func newEntry(base string, status int, h http.Header, body []byte, reqTime, respTime time.Time, cc *cacheControl, life time.Duration, vary []string) *entry {
	e := &entry{base: base, status: status, body: slices.Clip(body), vary: vary}
	e.header = cleanHeader(h)
	if status != http.StatusNoContent && status != http.StatusNotModified {
		e.header["Content-Length"] = []string{itoa(int64(len(body)))}
	}
	if status == http.StatusOK {
		if _, ok := e.header["Accept-Ranges"]; !ok {
			e.header["Accept-Ranges"] = []string{"bytes"}
		}
	}
	e.setFreshness(cc, life, headerAge(h), reqTime, respTime)
	e.prepare()
	e.cost = entryOverhead + 2*int64(len(e.base)) + int64(len(body)) + 2*headerSize(e.header)
	return e
}

// setFreshness fills the freshness fields of e from its header.
// originAge is the Age the origin (or a cache before it) sent.
func (e *entry) setFreshness(cc *cacheControl, life, originAge time.Duration, reqTime, respTime time.Time) {
	e.etag = e.header.Get("Etag")
	e.lastModified = e.header.Get("Last-Modified")
	e.lastModTime, _ = http.ParseTime(e.lastModified)
	e.stored = respTime
	e.initialAge = max(respTime.Sub(reqTime), 0) + originAge
	e.lifetime = life
	e.swr, e.sie = -1, -1
	if cc.swr >= 0 {
		e.swr = seconds(cc.swr)
	}
	if cc.sie >= 0 {
		e.sie = seconds(cc.sie)
	}
	e.noCache = cc.has(ccNoCache)
	e.noStale = cc.has(ccMustRevalidate | ccProxyRevalidate | ccNoCache)
	e.sMaxAge = cc.sMaxAge >= 0
}

// prepare serializes the header of a 200 for hits answered on the loop.
func (e *entry) prepare() {
	e.fields = nil
	if e.status == http.StatusOK {
		e.fields = h1.PrepareFields(e.header, "Age", "X-Cache")
	}
	e.sized = e.fields != nil && lengthIsBody(e)
}

// refreshed returns a copy of e updated with the header of a 304 received
// at respTime (RFC 9111 §4.3.4): its fields replace the stored ones,
// except those that describe the stored body.
func (e *entry) refreshed(h http.Header, reqTime, respTime time.Time) *entry {
	n := *e
	n.header = make(http.Header, len(e.header))
	for k, v := range e.header {
		n.header[k] = v
	}
	for k, v := range cleanHeader(h) {
		switch k {
		case "Content-Length", "Content-Range", "Content-Encoding", "Accept-Ranges":
			continue
		}
		n.header[k] = v
	}
	cc := parseCacheControl(n.header["Cache-Control"])
	n.setFreshness(&cc, lifetime(n.header, &cc, respTime), headerAge(h), reqTime, respTime)
	n.marker = nil
	n.prepare()
	n.cost = entryOverhead + 2*int64(len(n.base)) + int64(len(n.body)) + 2*headerSize(n.header)
	return &n
}

// storableAfterRefresh reports whether a refreshed entry may stay.
func (e *entry) storableAfterRefresh(r *http.Request, req *cacheControl) bool {
	cc := parseCacheControl(e.header["Cache-Control"])
	return storable(r, req, e.status, e.header, &cc, e.lifetime)
}

func headerSize(h http.Header) int64 {
	var n int64
	for k, v := range h {
		for _, s := range v {
			n += int64(len(k)+len(s)) + 32
		}
	}
	return n
}

// headerAge reads the Age field, 0 when absent or invalid.
func headerAge(h http.Header) time.Duration {
	if a := h["Age"]; len(a) > 0 {
		return seconds(parseDelta(a[0]))
	}
	return 0
}

// matches reports whether e is the variant a request with header h selects.
func (e *entry) matches(h http.Header) bool {
	return e.vary == nil || variantKey(e.base, e.markerID, e.vary, h) == e.key
}
