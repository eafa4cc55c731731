package h1

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// head is a request head this package answers itself: GET or HEAD,
// HTTP/1.0 or 1.1, origin-form target, no body, no upgrade, every line
// well formed. Anything else is left to net/http (see parseHead).
type head struct {
	method     string
	uri        string
	major      int
	minor      int
	host       string
	hasHost    bool
	header     http.Header
	close      bool // Connection: close, or HTTP/1.0 without keep-alive
	pragmaNoCC bool // Pragma: no-cache and no Cache-Control

	// keepAlive10 and wantsClose are what net/http's server decides the
	// answer's Connection by: it looks for the token, loosely, in the
	// first Connection field only.
	keepAlive10 bool // HTTP/1.0 asked for keep-alive
	wantsClose  bool

	// vals is the array header's value slices are cut from.
	vals []string
}

// maxFields bounds the header lines of a head answered here; more go to
// net/http, which applies the configured limits.
const maxFields = 64

// headEnd returns the length of the head at the start of b (through the
// blank line that ends it), or -1 if b holds no complete head yet.
func headEnd(b []byte) int {
	i := bytes.Index(b, crlfcrlf)
	if i < 0 {
		return -1
	}
	return i + 4
}

var crlfcrlf = []byte("\r\n\r\n")

// parseHead parses the complete head raw (as found by headEnd). It returns
// false for anything it does not serve itself: other methods, bodies,
// upgrades, Expect, obsolete line folding, bare LF, absolute-form targets,
// invalid names or values, a missing, repeated or invalid Host. net/http
// then reads the same bytes and answers them, including with its errors,
// so this parser only has to be right about what it accepts.
func parseHead(raw []byte) (*head, bool) {
	h := new(head)
	if !h.parse(raw) {
		return nil, false
	}
	return h, true
}

// parse is parseHead into h, whose header map and value array, if any, it
// uses again (emptied): the caller is done with h's previous request.
func (h *head) parse(raw []byte) bool {
	// One string holds every field; the request's strings are slices of it.
	s := string(raw[:len(raw)-2]) // up to and including the last field's CRLF
	eol := strings.Index(s, "\r\n")
	if eol < 0 {
		return false
	}
	header, vals := h.header, h.vals
	*h = head{}
	if !h.requestLine(s[:eol]) {
		return false
	}
	rest := s[eol+2:]
	n := strings.Count(rest, "\r\n")
	if n > maxFields {
		return false
	}
	if header == nil {
		header = make(http.Header, n)
	} else {
		clear(header)
	}
	h.header = header
	// Every field's value slice is cut from one array: one allocation
	// where a slice per field makes n.
	if cap(vals) < n {
		vals = make([]string, n)
	}
	vals = vals[:n]
	clear(vals)
	h.vals = vals
	for i := 0; len(rest) > 0; i++ {
		eol = strings.Index(rest, "\r\n")
		line := rest[:eol]
		rest = rest[eol+2:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) || strings.IndexByte(value, '\n') >= 0 {
			return false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			if h.hasHost || !httpguts.ValidHostHeader(value) {
				return false
			}
			h.host, h.hasHost = value, true
			continue
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Te", "Http2-Settings":
			return false
		}
		if prior, ok := h.header[key]; ok {
			h.header[key] = append(prior, value)
			continue
		}
		vals[i] = value
		h.header[key] = vals[i : i+1 : i+1]
	}
	if h.major == 1 && h.minor == 1 && !h.hasHost {
		return false
	}
	if conn := h.header["Connection"]; len(conn) > 0 {
		// Tokens as net/http reads them (ASCII case only).
		if httpguts.HeaderValuesContainsToken(conn, "upgrade") {
			return false
		}
		h.close = httpguts.HeaderValuesContainsToken(conn, "close")
		if h.minor == 0 && !httpguts.HeaderValuesContainsToken(conn, "keep-alive") {
			h.close = true
		}
		h.keepAlive10 = h.minor == 0 && looseToken(conn[0], "keep-alive")
		h.wantsClose = h.close || looseToken(conn[0], "close")
	} else if h.minor == 0 {
		h.close, h.wantsClose = true, true
	}
	// As net/http: only a first Pragma field of exactly "no-cache".
	if p := h.header["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h.header["Cache-Control"] == nil {
		h.pragmaNoCC = true
	}
	return true
}

// requestLine parses "GET /path HTTP/1.1".
func (h *head) requestLine(line string) bool {
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return false
	}
	switch line[:sp1] {
	case "GET":
		h.method = http.MethodGet
	case "HEAD":
		h.method = http.MethodHead
	default:
		return false
	}
	line = line[sp1+1:]
	sp2 := strings.IndexByte(line, ' ')
	if sp2 <= 0 {
		return false
	}
	h.uri = line[:sp2]
	switch line[sp2+1:] {
	case "HTTP/1.1":
		h.major, h.minor = 1, 1
	case "HTTP/1.0":
		h.major, h.minor = 1, 0
	default:
		return false
	}
	if h.uri[0] != '/' {
		return false
	}
	for i := 0; i < len(h.uri); i++ {
		if c := h.uri[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// url parses the request target as net/http does.
func (h *head) url() (*url.URL, bool) {
	u := new(url.URL)
	return u, h.urlInto(u)
}

// urlInto parses the request target into u as net/http does
// (url.ParseRequestURI). The common target, a path of characters that
// stay as they are when the path is escaped and maybe a query, is cut
// without the url package (FuzzParseHead holds the two to one result).
func (h *head) urlInto(u *url.URL) bool {
	path, query, hasQuery := strings.Cut(h.uri, "?")
	plain := len(path) > 0 && path[0] == '/'
	for i := 0; plain && i < len(path); i++ {
		plain = pathChar[path[i]]
	}
	if plain {
		*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
		return true
	}
	p, err := url.ParseRequestURI(h.uri)
	if err != nil {
		return false
	}
	*u = *p
	return true
}

// pathChar: the bytes url.URL.EscapedPath leaves as they are.
var pathChar = func() (t [256]bool) {
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// looseToken reports whether token (lower case) appears in v, in any case,
// between spaces, tabs, commas or the ends of v: net/http's test of the
// first Connection field.
func looseToken(v, token string) bool {
	for i := 0; i+len(token) <= len(v); i++ {
		if i > 0 && !tokenBoundary(v[i-1]) {
			continue
		}
		if end := i + len(token); end < len(v) && !tokenBoundary(v[end]) {
			continue
		}
		if strings.EqualFold(v[i:i+len(token)], token) {
			return true
		}
	}
	return false
}

func tokenBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
