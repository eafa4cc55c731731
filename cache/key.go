package cache

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// A cache key is "scheme://host/path?query": the request method is not
// part of it, so a HEAD is answered from the entry a GET stored. The host is
// lower-cased and loses a default port; path and query are kept as sent
// (escaped form), so "/a%2Fb" and "/a/b" are different resources.
//
// A response with Vary is stored under a variant key, the base key followed
// by the id of the Vary marker stored under the base key and the normalised
// values of the request headers it names (see marker in cache.go).

// baseKey returns the cache key of r.
func baseKey(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return makeKey(scheme, host, r.URL.EscapedPath(), r.URL.RawQuery)
}

func makeKey(scheme, host, path, query string) string {
	host = normalHost(scheme, host)
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(host) + len(path) + 1 + len(query))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(path)
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}

// normalHost lower-cases host and drops the port the scheme implies.
func normalHost(scheme, host string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = host[:len(host)-3]
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = host[:len(host)-4]
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// target is what a purge names: one URL with its scheme and host, one URL
// on every scheme and host ("/path?query"), or "host/path" on both schemes.
type target struct {
	keys      []string // exact keys, when the host is known
	pathQuery string   // when any host matches
}

// parseTarget reads a purge or invalidation URL. It accepts
// "http://host/p?q", "https://host/p?q", "//host/p", "host/p?q" and "/p?q".
func parseTarget(s string) (target, bool) {
	if s == "" {
		return target{}, false
	}
	if !strings.Contains(s, "://") && !strings.HasPrefix(s, "/") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return target{}, false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.Host == "" {
		if u.Scheme != "" {
			return target{}, false
		}
		pq := path
		if u.RawQuery != "" {
			pq += "?" + u.RawQuery
		}
		return target{pathQuery: pq}, true
	}
	switch u.Scheme {
	case "http", "https":
		return target{keys: []string{makeKey(u.Scheme, u.Host, path, u.RawQuery)}}, true
	case "":
		return target{keys: []string{
			makeKey("http", u.Host, path, u.RawQuery),
			makeKey("https", u.Host, path, u.RawQuery),
		}}, true
	}
	return target{}, false
}

// keyPathQuery returns the "/path?query" part of a key.
func keyPathQuery(key string) string {
	i := strings.Index(key, "://")
	if i < 0 {
		return key
	}
	rest := key[i+3:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		return rest[j:]
	}
	return "/"
}

// keyWithoutScheme returns the "host/path?query" part of a key.
func keyWithoutScheme(key string) string {
	if i := strings.Index(key, "://"); i >= 0 {
		return key[i+3:]
	}
	return key
}

// parseVary returns the canonical, sorted, de-duplicated field names of a
// response's Vary, and whether it holds "*" (which varies on everything and
// so cannot be stored).
func parseVary(h http.Header) (names []string, star bool) {
	for _, line := range h["Vary"] {
		for f := range strings.SplitSeq(line, ",") {
			f = strings.TrimSpace(f)
			switch f {
			case "":
				continue
			case "*":
				return nil, true
			}
			names = append(names, http.CanonicalHeaderKey(f))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), false
}

// caseless are request fields whose values compare case-insensitively, so
// their variants may be lower-cased. Others (Cookie, Authorization...) are
// kept as sent: folding them could hand one user's variant to another.
var caseless = map[string]bool{
	"Accept":          true,
	"Accept-Charset":  true,
	"Accept-Encoding": true,
	"Accept-Language": true,
}

// variantKey returns the key of the variant of base that req selects, for
// a marker with the given id and names (RFC 9111 §4.1). The values of each
// named field are combined into one line, with the whitespace around list
// commas removed; an absent field differs from an empty one.
func variantKey(base string, id uint64, names []string, req http.Header) string {
	var b strings.Builder
	b.Grow(len(base) + 24 + 16*len(names))
	b.WriteString(base)
	b.WriteByte(0)
	b.WriteString(strconv.FormatUint(id, 36))
	for _, name := range names {
		b.WriteByte(0)
		values, ok := req[name]
		if !ok {
			b.WriteByte(1) // absent
			continue
		}
		fold := caseless[name]
		first := true
		for _, v := range values {
			for part := range strings.SplitSeq(v, ",") {
				if !first {
					b.WriteByte(',')
				}
				first = false
				part = strings.TrimSpace(part)
				if fold {
					part = strings.ToLower(part)
				}
				b.WriteString(part)
			}
		}
	}
	return b.String()
}
