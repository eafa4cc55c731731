package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// What an event loop in front of this server (core/loop) needs: to parse
// a head as this package does, to write the head of an answer as this
// package would, and to hand a connection over, with what was read of it
// and possibly a request already parsed.

// Parsed is a request head parsed as Serve parses it.
type Parsed struct {
	h *head
	u *url.URL
	// R is the request, built on the template given to Parse.
	R *http.Request
}

// Parse parses raw, a complete head through its blank line, into a request
// built on tmpl (Template). It returns nil for a head this package leaves
// to net/http.
func Parse(raw []byte, tmpl *http.Request) *Parsed { return Reparse(raw, tmpl, nil) }

// Reparse is Parse into p, which a Parse or Reparse returned and whose
// request the caller is done with (no part of it is used any more): its
// request, URL, head and header map are used again, so that a connection's
// requests after its first are parsed without allocating them. A nil p is
// Parse. p is not usable after Reparse returns nil.
func Reparse(raw []byte, tmpl *http.Request, p *Parsed) *Parsed {
	if p == nil {
		p = &Parsed{h: new(head), R: new(http.Request), u: new(url.URL)}
	}
	if !p.h.parse(raw) || !p.h.urlInto(p.u) {
		return nil
	}
	fillRequest(p.R, tmpl, p.h, p.u)
	return p
}

// HeadEnd returns the length of the head at the start of b, through the
// blank line that ends it, or -1 while it is incomplete.
func HeadEnd(b []byte) int { return headEnd(b) }

// BareLF reports whether b has an LF not preceded by a CR: this package
// leaves such heads to net/http.
func BareLF(b []byte) bool { return bareLF(b, 0) }

// ReadBufferSize is the largest head answered without net/http.
const ReadBufferSize = readBufferSize

// Template is what every request of a connection from remote to local
// starts as: the context a handler sees, no body.
func (s *Server) Template(remote string, local net.Addr) *http.Request {
	s.init()
	base := context.WithValue(context.WithValue(context.Background(),
		http.ServerContextKey, s.Fallback), http.LocalAddrContextKey, local)
	return (&http.Request{Body: http.NoBody, RemoteAddr: remote}).WithContext(base)
}

// ServeConn serves c, accepted elsewhere, as Serve serves the connections
// it accepts: buffered are bytes already read from c; first, if not nil,
// is a request already read, answered by handler before the next. It
// returns at once; Shutdown and Close count c among the server's.
func (s *Server) ServeConn(c net.Conn, buffered []byte, first *Parsed, handler http.Handler) {
	s.serveConn(c, buffered, first, handler, false)
}

// Lend is ServeConn for a connection whose owner wants it back: once the
// first request is answered (first, or the one in buffered), the
// connection is offered to Return if it waits for its next request and
// nothing of that was read; if Return does not take it, it is served on.
func (s *Server) Lend(c net.Conn, buffered []byte, first *Parsed, handler http.Handler) {
	s.serveConn(c, buffered, first, handler, true)
}

func (s *Server) serveConn(c net.Conn, buffered []byte, first *Parsed, handler http.Handler, lent bool) {
	s.init()
	cn := s.newConn(c)
	if cn == nil {
		c.Close()
		return
	}
	cn.lent = lent
	go cn.serveFrom(buffered, first, handler)
}

// ShuttingDown reports whether Shutdown or Close was called.
func (s *Server) ShuttingDown() bool { return s.inShut.Load() }

// AppendHead appends to dst the head this package writes for an answer
// to p with status code and header hdr, whose body is framed by hdr's
// Content-Length, when writing it needs nothing of the body. ok is false
// when it would: a body with no Content-Length (chunked), or none of
// Content-Type and Content-Encoding (sniffed). closeAfter says the
// connection ends after the answer. hdr is changed as the head needs. Only
// HTTP/1.1 requests are answered this way.
func AppendHead(dst []byte, p *Parsed, code int, hdr http.Header, shutting bool) (out []byte, closeAfter, ok bool) {
	return AppendFieldsHead(dst, p, code, hdr, nil, shutting)
}

// AppendFieldsHead is AppendHead for an answer that carries f's fields
// (UseFields, then hdr's fields set): f's framing fields go in hdr where
// hdr has none of its own, and f's block is written ahead of hdr's other
// fields, as the server writes such an answer. f may be nil.
func AppendFieldsHead(dst []byte, p *Parsed, code int, hdr http.Header, f *Fields, shutting bool) (out []byte, closeAfter, ok bool) {
	if f != nil {
		for k, vv := range f.framing {
			if _, set := hdr[k]; !set {
				hdr[k] = vv
			}
		}
	}
	r := p.R
	if r.ProtoMinor != 1 || code < 200 {
		return dst, false, false
	}
	if _, te := hdr["Transfer-Encoding"]; te {
		return dst, false, false
	}
	if _, tr := hdr["Trailer"]; tr {
		return dst, false, false
	}
	for k := range hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return dst, false, false
		}
	}
	isHEAD := r.Method == http.MethodHead
	hasBody := bodyAllowedForStatus(code)
	if hasBody {
		cl := hdr["Content-Length"]
		var n int64
		var err error
		if len(cl) == 1 {
			n, err = strconv.ParseInt(cl[0], 10, 64)
		}
		if !isHEAD && (len(cl) != 1 || err != nil || n < 0) {
			return dst, false, false
		}
		// A HEAD answer's body may be written too (and is not sent):
		// the server sniffs it all the same.
		_, haveType := hdr["Content-Type"]
		if ce := hdr["Content-Encoding"]; n > 0 && !haveType && (len(ce) == 0 || ce[0] == "") {
			return dst, false, false
		}
	}
	closeAfter = p.h.wantsClose || shutting
	if c := hdr["Connection"]; len(c) > 0 && c[0] == "close" {
		closeAfter = true
	}
	if !hasBody {
		if code == http.StatusNotModified {
			delete(hdr, "Content-Type")
		}
		delete(hdr, "Content-Length")
	}
	if _, ok := hdr["Date"]; !ok {
		hdr["Date"] = []string{httpDate()}
	}
	if closeAfter && (shutting || !looseToken(first(hdr["Connection"]), "close")) {
		hdr["Connection"] = []string{"close"}
	}
	w := appender{dst}
	writeStatusLine(&w, 1, code)
	if f != nil {
		w.b = append(w.b, f.block...)
	}
	writeFields(&w, hdr, nil, f)
	w.b = append(w.b, "\r\n"...)
	return w.b, closeAfter, true
}

type appender struct{ b []byte }

func (a *appender) WriteString(s string) (int, error) {
	a.b = append(a.b, s...)
	return len(s), nil
}

// prefixReader reads b, then c.
type prefixReader struct {
	b []byte
	c io.Reader
}

func (p *prefixReader) Read(q []byte) (int, error) {
	if len(p.b) > 0 {
		n := copy(q, p.b)
		p.b = p.b[n:]
		return n, nil
	}
	return p.c.Read(q)
}

// AppendStatusLine appends the HTTP/1.1 status line this package writes
// for code.
func AppendStatusLine(dst []byte, code int) []byte {
	return append(append(dst, "HTTP/1.1 "...), statusLine(code)...)
}

// Date is the Date field's value now, as this package writes it.
func Date() string { return httpDate() }

// BodyAllowed reports whether an answer with status code may have a body.
func BodyAllowed(code int) bool { return bodyAllowedForStatus(code) }

// WantsClose reports whether the client asked for the connection to end
// after this request's answer, as this package reads it.
func (p *Parsed) WantsClose() bool { return p.h.wantsClose }
