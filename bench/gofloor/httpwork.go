package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// httpWork is the HTTP work of a lean load balancer, which -mode
// epoll-raw-http adds to the raw loop: the question it answers is whether
// a data plane built as that loop keeps its lead over nginx once it does
// the work nginx does for each proxied request. Per request it
//
//   - parses the request head strictly (request line, every field: token
//     names, no control characters, one Host for HTTP/1.1, Content-Length
//     and Transfer-Encoding, Connection tokens, the JSESSIONID cookie);
//   - routes by path prefix, picks the backend the session id names
//     (Resin's first character) or the next one round-robin;
//   - writes the backend's request: the request line, the fields less the
//     hop-by-hop ones, X-Forwarded-For;
//   - parses the answer's head (status line, fields, Content-Length,
//     Connection) and writes the client's: the fields less hop-by-hop and
//     Date/Server, its own Date and Server;
//   - appends a combined-format line to a buffered access log, flushed
//     every second (nginx's "buffer=64k flush=1s").
//
// It is not resind's code: it is the least a proxy can do and still be
// one, written as nginx writes it, to price the work in that loop.
type httpWork struct {
	routes [][]byte // path prefixes, first match wins (all to the backends)
	log    *bufio.Writer
	file   *os.File

	sec     int64  // the second date and stamp were made for
	date    []byte // "Date: Wed, 02 Dec 2026 17:45:00 GMT\r\n"
	stamp   []byte // "02/Dec/2026:17:45:00 +0000"
	flushed int64
	num     []byte // scratch for numbers
}

func newHTTPWork(logPath string) (*httpWork, error) {
	w := &httpWork{num: make([]byte, 0, 20), routes: [][]byte{[]byte("/hp/"), []byte("/lb/"), []byte("/")}}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	w.file, w.log = f, bufio.NewWriterSize(f, 64<<10)
	return w, nil
}

// tick renews the cached dates and flushes the log once a second; the
// loop calls it once per wake-up, as nginx updates its time.
func (w *httpWork) tick(now time.Time) {
	s := now.Unix()
	if s == w.sec {
		return
	}
	w.sec = s
	u := now.UTC()
	w.date = append(append(w.date[:0], "Date: "...), u.Format(time.RFC1123)...)
	w.date = append(w.date[:len(w.date)-3], "GMT\r\n"...)
	w.stamp = u.AppendFormat(w.stamp[:0], "02/Jan/2006:15:04:05 -0700")
	if s > w.flushed {
		w.log.Flush()
		w.flushed = s
	}
}

// reqInfo is what the answer's turn needs of the request: its parts as
// offsets into the client's buffer, for the log.
type reqInfo struct {
	line, referer, agent [2]int
	head, close          bool
}

var hopByHop = [][]byte{[]byte("connection"), []byte("keep-alive"), []byte("proxy-connection"),
	[]byte("te"), []byte("trailer"), []byte("transfer-encoding"), []byte("upgrade")}

// request parses the head in src and appends the backend's request to
// dst. sticky is the backend a session id names (-1: none); ok is false
// for a request the loop does not take (malformed, or with a body: the
// floor forwards heads only).
func (w *httpWork) request(dst, src []byte, client string, nb int) (out []byte, sticky int, ri reqInfo, ok bool) {
	sticky = -1
	le := bytes.Index(src, crlf)
	if le <= 0 {
		return dst, sticky, ri, false
	}
	line := src[:le]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || !tokens(line[:sp1]) {
		return dst, sticky, ri, false
	}
	target, version := line[sp1+1:sp2], line[sp2+1:]
	if !bytes.Equal(version, http11) && !bytes.Equal(version, http10) {
		return dst, sticky, ri, false
	}
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return dst, sticky, ri, false
		}
	}
	ri.line = [2]int{0, le}
	ri.head = bytes.Equal(line[:sp1], []byte("HEAD"))
	ri.close = bytes.Equal(version, http10)
	route := -1
	for i, p := range w.routes {
		if bytes.HasPrefix(target, p) {
			route = i
			break
		}
	}
	if route < 0 {
		return dst, sticky, ri, false
	}
	dst = append(append(dst, line...), crlf...)
	hosts := 0
	p := le + 2
	for {
		e := bytes.Index(src[p:], crlf)
		if e < 0 {
			return dst, sticky, ri, false
		}
		if e == 0 {
			break
		}
		f := src[p : p+e]
		start := p
		p += e + 2
		colon := bytes.IndexByte(f, ':')
		if colon <= 0 || !tokens(f[:colon]) {
			return dst, sticky, ri, false
		}
		name, value := f[:colon], bytes.Trim(f[colon+1:], " \t")
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return dst, sticky, ri, false
			}
		}
		vs := start + colon + 1 + (len(f[colon+1:]) - len(bytes.TrimLeft(f[colon+1:], " \t")))
		switch {
		case bytes.EqualFold(name, []byte("host")):
			hosts++
		case bytes.EqualFold(name, []byte("content-length")):
			if n, err := strconv.ParseUint(string(value), 10, 63); err != nil || n > 0 {
				return dst, sticky, ri, false
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			return dst, sticky, ri, false
		case bytes.EqualFold(name, []byte("connection")):
			if hasToken(value, "close") {
				ri.close = true
			} else if hasToken(value, "keep-alive") {
				ri.close = false
			}
		case bytes.EqualFold(name, []byte("cookie")):
			if i := bytes.Index(value, []byte("JSESSIONID=")); i >= 0 && i+11 < len(value) {
				if k := int(value[i+11]) - 'a'; k >= 0 && k < nb {
					sticky = k
				}
			}
		case bytes.EqualFold(name, []byte("referer")):
			ri.referer = [2]int{vs, vs + len(value)}
		case bytes.EqualFold(name, []byte("user-agent")):
			ri.agent = [2]int{vs, vs + len(value)}
		}
		if !hop(name) {
			dst = append(append(dst, f...), crlf...)
		}
	}
	if hosts > 1 || (hosts == 0 && !bytes.Equal(version, http10)) {
		return dst, sticky, ri, false
	}
	dst = append(dst, "X-Forwarded-For: "...)
	dst = append(append(append(dst, client...), crlf...), crlf...)
	return dst, sticky, ri, true
}

// answer parses the backend's answer head at the start of src and appends
// the client's answer (head and body) to dst. n is the answer's length in
// src (0 while incomplete); keep is false when the backend closes.
func (w *httpWork) answer(dst, src []byte, head bool) (out []byte, n, status int, keep, ok bool) {
	end := bytes.Index(src, crlfcrlf)
	if end < 0 {
		return dst, 0, 0, false, true
	}
	le := bytes.Index(src, crlf)
	line := src[:le]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return dst, 0, 0, false, false
	}
	st, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return dst, 0, 0, false, false
	}
	keep = line[7] == '1'
	length := -1
	dst = append(append(dst, line...), crlf...)
	for p := le + 2; p < end+2; {
		e := bytes.Index(src[p:], crlf)
		f := src[p : p+e]
		p += e + 2
		colon := bytes.IndexByte(f, ':')
		if colon <= 0 || !tokens(f[:colon]) {
			return dst, 0, 0, false, false
		}
		name, value := f[:colon], bytes.Trim(f[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			l, err := strconv.Atoi(string(value))
			if err != nil || l < 0 {
				return dst, 0, 0, false, false
			}
			length = l
		case bytes.EqualFold(name, []byte("connection")):
			if hasToken(value, "close") {
				keep = false
			}
		case bytes.EqualFold(name, []byte("date")), bytes.EqualFold(name, []byte("server")):
			continue
		}
		if !hop(name) {
			dst = append(append(dst, f...), crlf...)
		}
	}
	if length < 0 {
		return dst, 0, 0, false, false // the floor takes only sized answers
	}
	body := length
	if head || st == 204 || st == 304 {
		body = 0
	}
	n = end + 4 + body
	if len(src) < n {
		return dst, 0, 0, false, true
	}
	dst = append(append(dst, w.date...), "Server: gofloor\r\n\r\n"...)
	dst = append(dst, src[end+4:n]...)
	return dst, n, st, keep, true
}

// logLine appends the combined-format line of one exchange.
func (w *httpWork) logLine(req []byte, ri reqInfo, client string, status, size int) {
	l := w.log
	l.WriteString(client)
	l.WriteString(" - - [")
	l.Write(w.stamp)
	l.WriteString(`] "`)
	l.Write(req[ri.line[0]:ri.line[1]])
	l.WriteString(`" `)
	l.Write(strconv.AppendInt(w.num[:0], int64(status), 10))
	l.WriteByte(' ')
	l.Write(strconv.AppendInt(w.num[:0], int64(size), 10))
	quoted := func(r [2]int) {
		l.WriteString(` "`)
		if r[1] > r[0] {
			l.Write(req[r[0]:r[1]])
		} else {
			l.WriteByte('-')
		}
		l.WriteByte('"')
	}
	quoted(ri.referer)
	quoted(ri.agent)
	l.WriteByte('\n')
}

var (
	crlf   = []byte("\r\n")
	http11 = []byte("HTTP/1.1")
	http10 = []byte("HTTP/1.0")
)

func hop(name []byte) bool {
	for _, h := range hopByHop {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// tokens reports whether b is a non-empty RFC 9110 token.
func tokens(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds token t.
func hasToken(v []byte, t string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		if i < 0 {
			i = len(v)
		}
		if bytes.EqualFold(bytes.Trim(v[:i], " \t"), []byte(t)) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}
