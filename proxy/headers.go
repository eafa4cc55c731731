package proxy

import (
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// via is what resind adds to Via, both ways.
const via = "1.1 resind"

// isHopHeader reports whether the canonical header key k is hop-by-hop
// (RFC 9110 §7.6.1): meaningful for one connection only, never forwarded.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// removeHopHeaders deletes the hop-by-hop headers of h, including those
// that its Connection header names.
func removeHopHeaders(h http.Header) {
	for _, line := range h["Connection"] {
		for len(line) > 0 {
			var tok string
			if i := strings.IndexByte(line, ','); i >= 0 {
				tok, line = line[:i], line[i+1:]
			} else {
				tok, line = line, ""
			}
			if tok = strings.TrimSpace(tok); tok != "" {
				h.Del(tok)
			}
		}
	}
	for k := range h {
		if isHopHeader(k) {
			delete(h, k)
		}
	}
}

// upgradeType returns the protocol a request or response upgrades to
// ("websocket"), or "" when it does not.
func upgradeType(h http.Header) string {
	if !httpguts.HeaderValuesContainsToken(h["Connection"], "Upgrade") {
		return ""
	}
	return h.Get("Upgrade")
}

// outboundHeader is the header sent to a backend: a copy of r's without
// hop-by-hop fields, with X-Forwarded-For/-Proto/-Host and Via. An upgrade
// keeps its Connection and Upgrade fields, which the exchange is about.
func outboundHeader(r *http.Request, upgrade string) http.Header {
	h := r.Header.Clone()
	if h == nil {
		h = make(http.Header, 4)
	}
	removeHopHeaders(h)
	if upgrade != "" {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = []string{upgrade}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h["X-Forwarded-Proto"] = []string{proto}
	h["X-Forwarded-Host"] = []string{r.Host}
	addVia(h)
	return h
}

func addVia(h http.Header) {
	if prior := h["Via"]; len(prior) > 0 {
		h["Via"] = []string{strings.Join(prior, ", ") + ", " + via}
		return
	}
	h["Via"] = []string{via}
}

// copyResponseHeader copies the end-to-end fields of a backend's response
// into dst, adding Via, and announces its trailers.
func copyResponseHeader(dst, src http.Header, trailer http.Header) {
	removeHopHeaders(src)
	for k, vv := range src {
		dst[k] = vv
	}
	addVia(dst)
	if len(trailer) > 0 {
		keys := make([]string, 0, len(trailer))
		for k := range trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = []string{strings.Join(keys, ", ")}
	}
}
