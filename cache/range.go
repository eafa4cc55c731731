package cache

import "strings"

// rangeKind is how a Range header applies to a stored representation.
type rangeKind uint8

const (
	rangeIgnored       rangeKind = iota // malformed, several ranges, or another unit: send it all
	rangeSatisfiable                    // send [start, end)
	rangeUnsatisfiable                  // 416
)

// parseRange reads a single byte range, "bytes=a-b", "bytes=a-" or
// "bytes=-n", against a representation of size bytes (RFC 9110 §14.1.2).
// A request for several ranges is answered with the whole representation,
// which RFC 9110 §14.2 allows; so is anything malformed.
func parseRange(v string, size int64) (start, end int64, kind rangeKind) {
	unit, spec, ok := strings.Cut(v, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return 0, 0, rangeIgnored
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, rangeIgnored
	}
	if first == "" { // suffix: the last n bytes
		n, ok := digits(last)
		if !ok {
			return 0, 0, rangeIgnored
		}
		if n == 0 || size == 0 {
			return 0, 0, rangeUnsatisfiable
		}
		return max(size-n, 0), size, rangeSatisfiable
	}
	a, ok := digits(first)
	if !ok {
		return 0, 0, rangeIgnored
	}
	b := size - 1
	if last != "" {
		if b, ok = digits(last); !ok || b < a {
			return 0, 0, rangeIgnored
		}
	}
	if a >= size {
		return 0, 0, rangeUnsatisfiable
	}
	return a, min(b, size-1) + 1, rangeSatisfiable
}

// digits parses a non-empty run of decimal digits that fits in 62 bits.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
