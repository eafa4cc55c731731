package cache

import (
	"net/http"
	"time"
)

// storable decides whether a shared cache may keep a response
// (RFC 9111 §3, with Resin's stricter defaults):
//   - only responses to GET (a HEAD is answered from the GET entry);
//   - never with request or response no-store, response private, a
//     Set-Cookie, or Vary: *;
//   - a request with Authorization only when the response says public,
//     s-maxage or must-revalidate (§3.5);
//   - 200 when explicitly fresh or when it can be revalidated (ETag or
//     Last-Modified), then revalidated each time it is used stale;
//   - 203 204 300 301 308 404 405 410 414 501 only when explicitly fresh;
//   - nothing else, notably never 206.
//
// lifetime is the response's freshness lifetime (see lifetime).
func storable(r *http.Request, req *cacheControl, status int, h http.Header, res *cacheControl, life time.Duration) bool {
	if r.Method != http.MethodGet || req.has(ccNoStore) || res.has(ccNoStore|ccPrivate) {
		return false
	}
	if _, ok := h["Set-Cookie"]; ok {
		return false
	}
	if _, star := parseVary(h); star {
		return false
	}
	if _, ok := r.Header["Authorization"]; ok &&
		!res.has(ccPublic|ccMustRevalidate) && res.sMaxAge < 0 {
		return false
	}
	fresh := life > 0 && !res.has(ccNoCache)
	switch status {
	case http.StatusOK:
		_, etag := h["Etag"]
		_, lm := h["Last-Modified"]
		return fresh || etag || lm
	case http.StatusNonAuthoritativeInfo, http.StatusNoContent,
		http.StatusMultipleChoices, http.StatusMovedPermanently,
		http.StatusPermanentRedirect, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusGone,
		http.StatusRequestURITooLong, http.StatusNotImplemented:
		return fresh
	}
	return false
}
