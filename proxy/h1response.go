package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// readResponse reads the head of the backend's response to r from br.
//
// The common response of a backend is parsed where it lies in the buffer:
// HTTP/1.1 or 1.0, a final status, a Content-Length (or no body by its
// status or r's method), no Transfer-Encoding or Trailer, CRLF line ends,
// no folded lines, valid field names and values, its whole head already
// read. All its fields share one string. Anything else, including every
// malformed head, goes to net/http's ReadResponse untouched, which decides
// as the Transport would: the fast parse only ever accepts a subset of what
// ReadResponse accepts, and reads it the same way.
func readResponse(br *bufio.Reader, r *http.Request) (*http.Response, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	if res := parseBuffered(br, r); res != nil {
		return res, nil
	}
	return http.ReadResponse(br, r)
}

var crlfcrlf = []byte("\r\n\r\n")

func parseBuffered(br *bufio.Reader, r *http.Request) *http.Response {
	buf, _ := br.Peek(br.Buffered())
	res, n := parseHead(buf, r)
	if res == nil {
		return nil
	}
	if r.Method != http.MethodHead && res.ContentLength > 0 {
		res.Body = &fixedBody{br: br, left: res.ContentLength}
	}
	br.Discard(n)
	return res
}

// parseHead parses the response head at the start of buf, as
// parseBuffered describes, and returns it with the head's length. Its
// Body is http.NoBody; nil means the head is incomplete or not of the
// common kind.
func parseHead(buf []byte, r *http.Request) (*http.Response, int) {
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return nil, 0
	}
	s := string(buf[:end+2]) // the status line and fields, each ending in CRLF
	line, rest, _ := strings.Cut(s, "\r\n")
	var res http.Response
	switch {
	case strings.HasPrefix(line, "HTTP/1.1 "):
		res.Proto, res.ProtoMajor, res.ProtoMinor = "HTTP/1.1", 1, 1
	case strings.HasPrefix(line, "HTTP/1.0 "):
		res.Proto, res.ProtoMajor, res.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		return nil, 0
	}
	status := line[len("HTTP/1.1 "):]
	if len(status) < 3 || len(status) > 3 && status[3] != ' ' {
		return nil, 0
	}
	code, err := strconv.Atoi(status[:3])
	if err != nil || code < 200 || code > 999 || strings.ContainsAny(status, "\r\n") {
		return nil, 0
	}
	res.StatusCode, res.Status = code, status

	n := strings.Count(rest, "\r\n")
	h := make(http.Header, n)
	vals := make([]string, n)
	length, haveLength := int64(-1), false
	for i := 0; rest != ""; i++ {
		line, rest, _ = strings.Cut(rest, "\r\n")
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil, 0
		}
		name, value := line[:colon], strings.Trim(line[colon+1:], " \t")
		// ValidHeaderFieldValue refuses every control byte but HTAB,
		// CR and LF among them.
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return nil, 0
		}
		key := http.CanonicalHeaderKey(name)
		switch key {
		case "Transfer-Encoding", "Trailer":
			return nil, 0
		case "Content-Length":
			l, ok := parseLength(value)
			if !ok || haveLength && l != length {
				return nil, 0
			}
			if haveLength {
				continue // the same again: ReadResponse keeps one
			}
			length, haveLength = l, true
		}
		if prior, ok := h[key]; ok {
			h[key] = append(prior, value)
			continue
		}
		vals[i] = value
		h[key] = vals[i : i+1 : i+1]
	}

	bodyless := r.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if !bodyless && !haveLength {
		return nil, 0 // delimited by the connection's close: ReadResponse's case
	}
	if r.Method != http.MethodHead && (code == http.StatusNoContent || code == http.StatusNotModified) {
		length = 0
	}
	res.Header = h
	res.ContentLength = length
	conn := h["Connection"]
	closing := httpguts.HeaderValuesContainsToken(conn, "close")
	if closing && res.ProtoMinor == 1 {
		delete(h, "Connection") // as ReadResponse does
	}
	res.Close = closing || res.ProtoMinor == 0 && !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	res.Request = r
	res.Body = http.NoBody
	return &res, end + len(crlfcrlf)
}

// parseLength reads a Content-Length: digits only (no sign, no spaces),
// at most 18 of them.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// fixedBody is a body of known length read from the connection's buffer.
type fixedBody struct {
	br   *bufio.Reader
	left int64
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *fixedBody) Close() error { return nil }
