package cache

import (
	"net/http"
	"strings"
)

// ccFlag is one valueless Cache-Control directive.
type ccFlag uint16

const (
	ccNoStore ccFlag = 1 << iota
	ccNoCache
	ccPrivate
	ccPublic
	ccMustRevalidate
	ccProxyRevalidate
	ccOnlyIfCached
	ccImmutable
	ccMaxStaleAny // max-stale without a value: any staleness is acceptable
)

// maxDelta is where delta-seconds saturate (RFC 9111 §1.2.2: 2^31).
const maxDelta = 1 << 31

// cacheControl is a parsed Cache-Control field (RFC 9111 §5.2). Durations
// are in seconds, -1 when the directive is absent.
type cacheControl struct {
	flags    ccFlag
	maxAge   int64
	sMaxAge  int64
	maxStale int64
	minFresh int64
	swr      int64 // stale-while-revalidate (RFC 5861)
	sie      int64 // stale-if-error (RFC 5861)
}

func (c *cacheControl) has(f ccFlag) bool { return c.flags&f != 0 }

var noCacheControl = cacheControl{maxAge: -1, sMaxAge: -1, maxStale: -1, minFresh: -1, swr: -1, sie: -1}

// parseCacheControl parses every Cache-Control field line of a message.
// It is lenient the way caches must be: unknown directives are ignored,
// names are case-insensitive, values may be tokens or quoted strings, the
// first occurrence of a duplicated directive wins. A delta-seconds value
// that is not a number reads as 0 so that a malformed max-age makes the
// response stale rather than fresh forever. Qualified forms
// (no-cache="Set-Cookie", private="X") are read as the unqualified
// directive, which is the stricter reading for a shared cache.
func parseCacheControl(lines []string) cacheControl {
	cc := noCacheControl
	for _, line := range lines {
		for len(line) > 0 {
			var d string
			d, line = nextDirective(line)
			name, value := d, ""
			if i := strings.IndexByte(d, '='); i >= 0 {
				name, value = strings.TrimSpace(d[:i]), strings.TrimSpace(d[i+1:])
			}
			cc.apply(name, value)
		}
	}
	return cc
}

// nextDirective splits off the first comma-separated directive of s,
// keeping commas inside quoted strings, and returns it trimmed.
func nextDirective(s string) (d, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ',':
			if !quoted {
				return strings.TrimSpace(s[:i]), s[i+1:]
			}
		}
	}
	return strings.TrimSpace(s), ""
}

func (cc *cacheControl) apply(name, value string) {
	var f ccFlag
	var dst *int64
	switch {
	case strings.EqualFold(name, "max-age"):
		dst = &cc.maxAge
	case strings.EqualFold(name, "s-maxage"):
		dst = &cc.sMaxAge
	case strings.EqualFold(name, "no-cache"):
		f = ccNoCache
	case strings.EqualFold(name, "no-store"):
		f = ccNoStore
	case strings.EqualFold(name, "private"):
		f = ccPrivate
	case strings.EqualFold(name, "public"):
		f = ccPublic
	case strings.EqualFold(name, "must-revalidate"):
		f = ccMustRevalidate
	case strings.EqualFold(name, "proxy-revalidate"):
		f = ccProxyRevalidate
	case strings.EqualFold(name, "only-if-cached"):
		f = ccOnlyIfCached
	case strings.EqualFold(name, "immutable"):
		f = ccImmutable
	case strings.EqualFold(name, "max-stale"):
		if value == "" {
			f = ccMaxStaleAny
		} else {
			dst = &cc.maxStale
		}
	case strings.EqualFold(name, "min-fresh"):
		dst = &cc.minFresh
	case strings.EqualFold(name, "stale-while-revalidate"):
		dst = &cc.swr
	case strings.EqualFold(name, "stale-if-error"):
		dst = &cc.sie
	default:
		return
	}
	cc.flags |= f
	if dst != nil && *dst < 0 {
		*dst = parseDelta(value)
	}
}

// parseDelta reads delta-seconds, optionally quoted (a common mistake that
// RFC 9111 §5.2 asks caches to accept). Anything else reads as 0.
func parseDelta(s string) int64 {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return 0
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	if n > maxDelta {
		n = maxDelta
	}
	return n
}

// requestControl parses a request's Cache-Control, reading the HTTP/1.0
// "Pragma: no-cache" as no-cache when there is no Cache-Control
// (RFC 9111 §5.4). It does not allocate when neither field is present.
func requestControl(h http.Header) cacheControl {
	if lines := h["Cache-Control"]; len(lines) > 0 {
		return parseCacheControl(lines)
	}
	cc := noCacheControl
	for _, p := range h["Pragma"] {
		if strings.Contains(strings.ToLower(p), "no-cache") {
			cc.flags |= ccNoCache
		}
	}
	return cc
}
