package cache

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// Purge removes the stored responses of one URL, all its variants
// included, and reports whether there were any. url is
// "http(s)://host/path?query", "host/path?query" (both schemes) or
// "/path?query" (every host; this one walks the whole cache).
func (c *Cache) Purge(rawURL string) bool {
	t, ok := parseTarget(rawURL)
	if !ok {
		return false
	}
	if t.keys == nil {
		return c.PurgeMatch(func(key string) bool { return keyPathQuery(key) == t.pathQuery }) > 0
	}
	found := false
	for _, k := range t.keys {
		if c.del(k) {
			found = true
		}
	}
	if found {
		c.log.Info("proxy cache: purged", zap.String("url", rawURL))
	}
	return found
}

// PurgePrefix removes every stored response whose URL starts with prefix
// and returns how many. A prefix with a scheme ("https://host/img/")
// matches whole URLs, one starting with "/" matches paths on every host,
// anything else ("host/img/") matches host and path on both schemes.
func (c *Cache) PurgePrefix(prefix string) int {
	switch {
	case strings.Contains(prefix, "://"):
		prefix = normalPrefix(prefix)
		return c.PurgeMatch(func(key string) bool { return strings.HasPrefix(key, prefix) })
	case strings.HasPrefix(prefix, "/"):
		return c.PurgeMatch(func(key string) bool { return strings.HasPrefix(keyPathQuery(key), prefix) })
	}
	return c.PurgeMatch(func(key string) bool { return strings.HasPrefix(keyWithoutScheme(key), prefix) })
}

// PurgeMatch removes every stored response whose URL (in the cache's key
// form, "scheme://host/path?query") match accepts, and returns how many.
// It walks the whole cache; use it for globs and regular expressions.
func (c *Cache) PurgeMatch(match func(url string) bool) int {
	var keys []string
	n := 0
	c.store.IterValues(func(e *entry) bool {
		if match(e.base) {
			keys = append(keys, e.key)
			if e.marker == nil {
				n++
			}
		}
		return false
	})
	// Deleting inside IterValues would deadlock on ristretto's shard lock.
	for _, k := range keys {
		c.del(k)
	}
	if n > 0 {
		c.log.Info("proxy cache: purged", zap.Int("entries", n))
	}
	return n
}

// passUnsafe forwards a request with an unsafe method and, once the origin
// answers 2xx or 3xx, invalidates what it touched (RFC 9111 §4.4). The
// invalidation happens before the status reaches the client, so a client
// that reads its POST's response and then GETs the URL sees the new state.
func (c *Cache) passUnsafe(next http.Handler, w http.ResponseWriter, r *http.Request) {
	iw := &invalidator{ResponseWriter: w, c: c, r: r}
	next.ServeHTTP(iw, r)
	if !iw.done {
		iw.WriteHeader(http.StatusOK)
	}
}

// invalidate removes r's URL and the same-host URLs h points to.
func (c *Cache) invalidate(r *http.Request, h http.Header) {
	base := baseKey(r)
	c.del(base)
	self, err := url.Parse(base)
	if err != nil {
		return
	}
	for _, f := range []string{"Location", "Content-Location"} {
		v := h.Get(f)
		if v == "" {
			continue
		}
		u, err := self.Parse(v)
		if err != nil || normalHost(u.Scheme, u.Host) != normalHost(self.Scheme, self.Host) {
			continue
		}
		c.del(makeKey(u.Scheme, u.Host, u.EscapedPath(), u.RawQuery))
	}
}

// invalidator watches the status of an unsafe request's response.
type invalidator struct {
	http.ResponseWriter
	c    *Cache
	r    *http.Request
	done bool
}

func (iw *invalidator) WriteHeader(code int) {
	if !iw.done && code >= 200 {
		iw.done = true
		if code < 400 {
			iw.c.invalidate(iw.r, iw.ResponseWriter.Header())
		}
	}
	iw.ResponseWriter.WriteHeader(code)
}

func (iw *invalidator) Write(p []byte) (int, error) {
	if !iw.done {
		iw.WriteHeader(http.StatusOK)
	}
	return iw.ResponseWriter.Write(p)
}

func (iw *invalidator) Flush() {
	if f, ok := iw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (iw *invalidator) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

// normalPrefix lower-cases the host of a "scheme://host..." prefix the way
// keys are, so "http://Example.COM/img" finds "http://example.com/img/a".
func normalPrefix(p string) string {
	i := strings.Index(p, "://")
	scheme, rest := p[:i], p[i+3:]
	host, path := rest, ""
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		host, path = rest[:j], rest[j:]
	}
	if path == "" {
		return scheme + "://" + strings.ToLower(host)
	}
	return scheme + "://" + normalHost(scheme, host) + path
}
