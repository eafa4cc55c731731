package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The direct path: GET and HEAD requests without a body go to the backend
// over resind's own HTTP/1.1 client instead of net/http's Transport.
// Measured under wrk (bench/profile.sh), the Transport spent most of a
// proxied request's user time outside the exchange itself: two goroutines
// per connection and three hand-offs per request, a context with a timer,
// a cloned and sorted header. Here the request's own goroutine writes the
// request straight from the client's header and reads the answer; the
// socket timeout is a deadline on the connection. Requests with a body,
// upgrades and other methods keep the Transport, whose handling of bodies,
// 100-continue and protocol switches they need.

// direct reports whether r takes the direct path.
func direct(r *http.Request, body *guardedBody, upgrade string) bool {
	return body == nil && upgrade == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

// errUnexpected1xx is a 101 the request did not ask for.
var errUnexpected1xx = errors.New("backend switched protocols unasked")

// roundTrip sends r to the backend on a pooled connection and reads the
// response head. The response body returns the connection to the pool when
// it has been read to its end and closed. An idle connection the backend
// had closed meanwhile (nothing of the response came back) is replaced by
// a new one once: the request is idempotent and bodyless.
func (p *pool) roundTrip(r *http.Request, timeout time.Duration) (*http.Response, error) {
	ctx := r.Context()
	for {
		pc, err := p.get(ctx)
		if err != nil {
			return nil, err
		}
		res, stop, err := pc.exchange(ctx, r, timeout)
		if err == nil {
			res.Body = &h1Body{rc: res.Body, pc: pc, p: p, stop: stop, keep: !res.Close}
			return res, nil
		}
		if stop != nil {
			stop()
		}
		pc.discard()
		if pc.reused && !pc.answered() && ctx.Err() == nil && !isTimeout(err) {
			continue
		}
		return nil, err
	}
}

// exchange writes r on pc and reads the response head, skipping interim
// 1xx responses. Until stop is called, a cancelled request (the client went
// away) closes the connection, which ends any wait on it, also while the
// body streams; stop reports false when that happened.
func (pc *h1Conn) exchange(ctx context.Context, r *http.Request, timeout time.Duration) (res *http.Response, stop func() bool, err error) {
	if timeout > 0 {
		pc.c.SetDeadline(time.Now().Add(timeout))
	}
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { pc.c.Close() })
	}
	writeRequest(pc.bw, r)
	if err := pc.bw.Flush(); err != nil {
		return nil, stop, err
	}
	pc.lr.on, pc.lr.n = true, maxResponseHeaderBytes
	defer func() { pc.lr.on = false }()
	for {
		res, err := readResponse(pc.br, r)
		if err != nil {
			return nil, stop, err
		}
		switch {
		case res.StatusCode == http.StatusSwitchingProtocols:
			return nil, stop, errUnexpected1xx
		case res.StatusCode >= 100 && res.StatusCode < 200:
			continue // 100 Continue, 103 Early Hints: the final answer follows
		}
		if ctx.Err() != nil {
			return nil, stop, ctx.Err()
		}
		return res, stop, nil
	}
}

// answered reports whether any of a response arrived on pc: if so, the
// backend took the request and it must not be sent again on another
// connection behind the balancer's back.
func (pc *h1Conn) answered() bool { return pc.lr.n < maxResponseHeaderBytes }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// h1Body is a direct response's body. Read to EOF and closed, it gives the
// connection back to the pool; closed early or broken, it closes it.
type h1Body struct {
	rc   io.ReadCloser
	pc   *h1Conn
	p    *pool
	stop func() bool // of the cancellation watch, nil without one
	keep bool        // the response allows another request on the connection
	eof  bool
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	alive := b.stop == nil || b.stop()
	if alive && b.eof && b.keep && b.pc.drained() {
		b.p.put(b.pc)
		return nil
	}
	// Not read to its end: closing the connection first keeps the body's
	// own Close from draining what is left.
	b.pc.discard()
	b.rc.Close()
	return nil
}

// writeRequest writes the request line and header block of r as forwarded
// to a backend: the same method, path and query, Host, the end-to-end
// fields of r, then X-Forwarded-For/-Proto/-Host and Via, as
// outboundHeader sets them. Values lose any CR or LF, as net/http's own
// writer does.
func writeRequest(w stringWriter, r *http.Request) {
	w.WriteString(r.Method)
	w.WriteString(" ")
	w.WriteString(r.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	writeValue(w, host)
	w.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Via":
			continue
		}
		if isHopHeader(k) || namedBy(conn, k) {
			continue
		}
		for _, v := range vv {
			w.WriteString(k)
			w.WriteString(": ")
			writeValue(w, v)
			w.WriteString("\r\n")
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		w.WriteString("X-Forwarded-For: ")
		if !namedBy(conn, "X-Forwarded-For") {
			for _, v := range r.Header["X-Forwarded-For"] {
				writeValue(w, v)
				w.WriteString(", ")
			}
		}
		w.WriteString(ip)
		w.WriteString("\r\n")
	}
	if r.TLS != nil {
		w.WriteString("X-Forwarded-Proto: https\r\n")
	} else {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	w.WriteString("X-Forwarded-Host: ")
	writeValue(w, r.Host)
	w.WriteString("\r\nVia: ")
	if !namedBy(conn, "Via") {
		for _, v := range r.Header["Via"] {
			writeValue(w, v)
			w.WriteString(", ")
		}
	}
	w.WriteString(via)
	w.WriteString("\r\n\r\n")
}

type stringWriter interface {
	WriteString(string) (int, error)
}

var newlineToSpace = strings.NewReplacer("\r", " ", "\n", " ")

func writeValue(w stringWriter, v string) {
	if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 {
		v = newlineToSpace.Replace(v)
	}
	w.WriteString(strings.TrimSpace(v))
}

// namedBy reports whether the Connection header lines name the field k,
// which makes it hop-by-hop.
func namedBy(conn []string, k string) bool {
	for _, line := range conn {
		for tok := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}
