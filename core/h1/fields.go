package h1

import (
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Fields is a block of header fields serialized once and then written as
// it is by every answer that uses it (UseFields): a proxy cache keeps one
// per stored response, so that a hit neither copies the stored header
// into the answer's map nor formats it again.
type Fields struct {
	block []byte
	names map[string]struct{}
	// framing are the stored header's framingFields, with their values:
	// they go in the answer's map rather than the block.
	framing http.Header
}

// PrepareFields serializes h, leaving out the fields named in except
// (canonical names), as an answer on the loop would write them. It
// returns nil when h has a field whose meaning the loop must see in the
// answer's own map to frame it (Connection, Transfer-Encoding, Trailer).
func PrepareFields(h http.Header, except ...string) *Fields {
	for _, k := range []string{"Connection", "Transfer-Encoding", "Trailer"} {
		if _, ok := h[k]; ok {
			return nil
		}
	}
	f := &Fields{names: make(map[string]struct{}, len(h))}
	var b strings.Builder
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) || strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(except, k) {
			continue
		}
		if slices.Contains(framingFields, k) {
			// Written from the answer's map, where the loop's rules
			// (no Content-Length when it chunks, no Content-Type on a
			// 304...) apply to them as to any answer's.
			if f.framing == nil {
				f.framing = make(http.Header, len(framingFields))
			}
			f.framing[k] = vv
			continue
		}
		f.names[k] = struct{}{}
		for _, v := range vv {
			writeField(&b, k, v)
		}
	}
	f.block = []byte(b.String())
	return f
}

// has reports whether the block holds the field k.
func (f *Fields) has(k string) bool {
	_, ok := f.names[k]
	return ok
}

// framingFields are the fields of a stored header that go in the answer's
// own map instead of the block, so that the loop frames and completes the
// answer as it would from the map: a declared length, no Date or
// Content-Type added (nor a Content-Type sniffed under a Content-Encoding),
// and any of them dropped where net/http drops it.
var framingFields = []string{"Content-Length", "Date", "Content-Type", "Content-Encoding"}

// UseFields makes the answer w is about to send carry f's fields: written
// as they are, ahead of the fields of w's header map, which loses any
// field f also has. It must be called before WriteHeader, and the caller
// must not change f's fields in the map afterwards. It reports false, and
// does nothing, when w does not answer on the loop (TLS, a connection
// handed to net/http) or has begun its answer: the caller then copies the
// fields into w.Header() as usual.
func UseFields(w http.ResponseWriter, f *Fields) bool {
	for {
		switch x := w.(type) {
		case *response:
			if x.status != 0 || x.wroteHead || x.handlerDone.Load() {
				return false
			}
			x.fields = f
			for k, vv := range f.framing {
				x.header[k] = vv
			}
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return false
		}
	}
}
