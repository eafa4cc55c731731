package loop

import (
	"bytes"
	"strconv"

	"resind/core/h1"
)

// The answer's head, rewritten where it lies: the common answer of a
// backend — HTTP/1.x, a final status, canonical field names, a
// Content-Length (or no body by its status or the request's method), no
// Connection, Transfer-Encoding or Trailer field — becomes the client's
// head without a header map. It is the head the ordinary path writes
// (proxy.ParseAnswer, proxy.ClientHeader and h1.AppendHead, which the loop
// falls back to for any other answer), field for field; only the order of
// fields may differ, which HTTP leaves free (FuzzFastAnswer holds the two
// to that).

// answerHead is what the loop needs of an answer besides its bytes.
type answerHead struct {
	status int
	length int64 // Content-Length; -1 when none
	keep   bool  // the backend keeps the connection
	n      int   // the head's length in the buffer
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// serverField is core's Server field, which an answer without one gets.
var serverField = []string{"resind"}

// fastAnswer appends to dst the client's head for the backend's answer at
// the start of buf, to a request made with HEAD (head) or not, ending the
// client's connection after it when closeAfter. ok is false when the head
// is incomplete or not of the common kind: the caller then takes the
// ordinary path's parse.
func fastAnswer(dst, buf []byte, head, closeAfter bool) (out []byte, a answerHead, ok bool) {
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return dst, a, false
	}
	a.n = end + len(crlfcrlf)
	le := bytes.Index(buf, crlf)
	line := buf[:le]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return dst, a, false
	}
	switch line[7] {
	case '1':
		a.keep = true
	case '0':
	default:
		return dst, a, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return dst, a, false
		}
		a.status = a.status*10 + int(c-'0')
	}
	for _, c := range line[12:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return dst, a, false
		}
	}
	if a.status < 200 {
		return dst, a, false
	}
	hasBody := h1.BodyAllowed(a.status)
	a.length = -1
	out = h1.AppendStatusLine(dst, a.status)
	var viaArr [4][]byte
	via := viaArr[:0] // more than 4 Via fields grow it
	// encoded: the first Content-Encoding is not empty (h1 sniffs a type
	// only when it is).
	haveType, sawEncoding, encoded, haveDate, haveServer := false, false, false, false, false
	for p := le + 2; p < end+2; {
		e := p + bytes.Index(buf[p:], crlf)
		f := buf[p:e]
		p = e + 2
		colon := bytes.IndexByte(f, ':')
		if colon <= 0 || !canonicalToken(f[:colon]) {
			return dst, a, false
		}
		name, value := f[:colon], bytes.Trim(f[colon+1:], " \t")
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return dst, a, false
			}
		}
		switch string(name) {
		case "Connection", "Transfer-Encoding", "Trailer":
			return dst, a, false
		case "Keep-Alive", "Te", "Upgrade":
			continue // hop-by-hop
		case "Content-Length":
			if a.length >= 0 {
				return dst, a, false // a second one: the ordinary parse judges
			}
			l, ok := length(value)
			if !ok {
				return dst, a, false
			}
			a.length = l
			if !hasBody {
				continue
			}
		case "Content-Type":
			haveType = true
			if a.status == 304 {
				continue
			}
		case "Content-Encoding":
			if !sawEncoding {
				sawEncoding, encoded = true, len(value) > 0
			}
		case "Date":
			haveDate = true
		case "Server":
			haveServer = true
		case "Via":
			via = append(via, value)
			continue
		}
		if bytes.HasPrefix(name, []byte("Proxy-")) {
			continue
		}
		out = append(append(append(append(out, name...), ": "...), value...), "\r\n"...)
	}
	if hasBody {
		if a.length < 0 && !head {
			return dst, a, false // delimited by the connection's close, or chunked
		}
		if a.length > 0 && !haveType && !encoded {
			return dst, a, false // the ordinary path sniffs a type
		}
	}
	if !head && (a.status == 204 || a.status == 304) {
		a.length = 0 // no body, whatever the field said
	}
	out = append(out, "Via: "...)
	for _, v := range via {
		out = append(append(out, v...), ", "...)
	}
	out = append(out, "1.1 resind\r\n"...)
	if !haveServer {
		out = append(append(append(out, "Server: "...), serverField[0]...), "\r\n"...)
	}
	if !haveDate {
		out = append(append(append(out, "Date: "...), h1.Date()...), "\r\n"...)
	}
	if closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	return append(out, "\r\n"...), a, true
}

// canonicalToken reports whether b is a field name in the form
// net/textproto gives it: token characters, each letter upper case at the
// start and after a hyphen, lower case elsewhere.
func canonicalToken(b []byte) bool {
	upper := true
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// length reads a Content-Length value: 1 to 18 digits.
func length(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil && v[0] != '+' && v[0] != '-'
}
