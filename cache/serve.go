package cache

import (
	"net/http"
	"resind/core/h1"
	"strconv"
	"strings"
	"time"
)

// serveEntry answers r from e: a 304 when the client's condition holds,
// a 206 or 416 for a single byte range of a stored 200, the headers alone
// for HEAD, the stored response otherwise. Age is computed at now.
//
// It is the hit path: header values are the entry's own slices (clipped,
// never written to), so serving copies map slots, not strings.
func serveEntry(w http.ResponseWriter, r *http.Request, e *entry, now time.Time, xcache []string) {
	h := w.Header()
	age := ageValue(int64(e.age(now) / time.Second))
	if e.status == http.StatusOK && notModified(r.Header, e) {
		for _, k := range notModifiedFields {
			if v, ok := e.header[k]; ok {
				h[k] = v
			}
		}
		h["Age"] = age
		h["X-Cache"] = xcache
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, ranged := r.Header["Range"]
	// A whole answer on resind's HTTP/1.1 loop sends the stored fields as
	// they were serialized when stored; any other copies them.
	if ranged || e.fields == nil || !h1.UseFields(w, e.fields) {
		for k, v := range e.header {
			h[k] = v
		}
	}
	h["Age"] = age
	h["X-Cache"] = xcache
	body := e.body
	status := e.status
	if ranged && e.status == http.StatusOK && r.Method == http.MethodGet && ifRangeHolds(r.Header, e) {
		size := int64(len(body))
		switch start, end, kind := parseRange(r.Header.Get("Range"), size); kind {
		case rangeSatisfiable:
			status = http.StatusPartialContent
			h["Content-Range"] = []string{"bytes " + itoa(start) + "-" + itoa(end-1) + "/" + itoa(size)}
			h["Content-Length"] = []string{itoa(end - start)}
			body = body[start:end]
		case rangeUnsatisfiable:
			status = http.StatusRequestedRangeNotSatisfiable
			h["Content-Range"] = []string{"bytes */" + itoa(size)}
			h["Content-Length"] = []string{"0"}
			body = nil
		}
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead && len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// notModifiedFields are the stored fields a 304 repeats (RFC 9110 §15.4.5).
var notModifiedFields = []string{"Cache-Control", "Content-Location", "Date", "Etag", "Expires", "Last-Modified", "Vary"}

// notModified evaluates If-None-Match (weak comparison), or, without it,
// If-Modified-Since, against e (RFC 9110 §13.2.2).
func notModified(h http.Header, e *entry) bool {
	if inm, ok := h["If-None-Match"]; ok {
		if e.etag == "" {
			return false
		}
		for _, line := range inm {
			for tag := range strings.SplitSeq(line, ",") {
				tag = strings.TrimSpace(tag)
				if tag == "*" || weakEqual(tag, e.etag) {
					return true
				}
			}
		}
		return false
	}
	ims, ok := h["If-Modified-Since"]
	if !ok || len(ims) == 0 || e.lastModTime.IsZero() {
		return false
	}
	t, err := http.ParseTime(ims[0])
	return err == nil && !e.lastModTime.After(t)
}

// weakEqual compares entity tags ignoring the weak flag (RFC 9110 §8.8.3.2).
func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// ifRangeHolds evaluates If-Range: a strong entity tag match or the exact
// Last-Modified date (RFC 9110 §13.1.5). Without If-Range it holds.
func ifRangeHolds(h http.Header, e *entry) bool {
	v, ok := h["If-Range"]
	if !ok || len(v) == 0 {
		return true
	}
	cond := strings.TrimSpace(v[0])
	if strings.HasPrefix(cond, `"`) || strings.HasPrefix(cond, "W/") {
		return !strings.HasPrefix(cond, "W/") && !strings.HasPrefix(e.etag, "W/") && cond == e.etag
	}
	t, err := http.ParseTime(cond)
	return err == nil && !e.lastModTime.IsZero() && t.Equal(e.lastModTime)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// ageValues are the Age fields of the first seconds of an entry's life,
// shared read-only (cap == len) so that a hit allocates none.
var ageValues = func() [][]string {
	v := make([][]string, 1024)
	for i := range v {
		v[i] = []string{itoa(int64(i))}
	}
	return v
}()

func ageValue(secs int64) []string {
	if secs >= 0 && secs < int64(len(ageValues)) {
		return ageValues[secs]
	}
	return []string{itoa(secs)}
}
