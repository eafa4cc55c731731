package core

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"resind/conf"
)

// guard enforces a listener's limits (conf.Limits) on each request before
// the Server sees it: the request target's length (414), the number of
// header lines (431), the body's size (413) and the time between two reads
// of the body (socket-timeout). The size of the request line and headers
// together is bounded by net/http's MaxHeaderBytes (431), the time to send
// them by ReadHeaderTimeout; see bind.
//
// It also normalises the path: a path with "." or ".." segments is resolved
// once here, so that rules, static files and every backend see the same
// path, and nothing behind resind can resolve it differently.
//
// The limits checked here follow reloads: each request reads them from the
// current snapshot's spec of this listener (key). What the socket was
// opened with (connection-max, header-size-max, header-timeout, TLS) stays
// until the listener is opened again.
type guard struct {
	s   *Server
	key string
	// lim and socketTimeout are what the listener was opened with, used
	// when a snapshot no longer lists it (it is draining).
	lim           conf.Limits
	socketTimeout time.Duration
}

// current returns the limits and socket-timeout of the running snapshot
// for this listener.
func (g *guard) current() (conf.Limits, time.Duration) {
	rt := g.s.rt.Load()
	for i := range rt.listeners {
		if sp := &rt.listeners[i]; sp.key == g.key {
			return sp.effectiveLimits(), rt.timeouts.SocketTimeout
		}
	}
	return g.lim, g.socketTimeout
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lim, socketTimeout := g.current()
	if code, detail := overHeadLimits(lim, r); code != 0 {
		refuse(w, r.ProtoMajor == 1, code, detail)
		return
	}
	if hasDotSegment(r.URL.Path) {
		if p, ok := cleanPath(r.URL.Path); ok {
			u := *r.URL
			u.Path, u.RawPath = p, ""
			r.URL = &u
		}
		// A path climbing above the root is left as it is; routing
		// answers it 404.
	}
	if r.Body == nil || r.Body == http.NoBody {
		g.s.ServeHTTP(w, r)
		return
	}
	if max := lim.BodySizeMax; max > 0 && r.ContentLength > max {
		refuse(w, r.ProtoMajor == 1, http.StatusRequestEntityTooLarge, "The request body is larger than this server accepts.")
		return
	}
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		// A chunked request may have come with a Content-Length too,
		// which net/http drops without a trace: the two framings are
		// how requests are smuggled past a proxy in front of this one.
		// RFC 9112 §6.1: close the connection after answering, so that
		// nothing read after this body is taken for a request.
		w.Header().Set("Connection", "close")
	}
	b := &limitedBody{rc: r.Body, left: lim.BodySizeMax, unlimited: lim.BodySizeMax <= 0,
		ctl: http.NewResponseController(w), timeout: socketTimeout}
	r.Body = b
	lw := &limitWriter{ResponseWriter: w, body: b, h1: r.ProtoMajor == 1}
	g.s.ServeHTTP(lw, r)
	if !lw.sent && b.failed() {
		// A handler that gave up without answering (a proxy sees the
		// request's context cancelled when the body read fails): the
		// client still gets the reason, and the connection is closed
		// rather than read on.
		lw.WriteHeader(http.StatusInternalServerError)
	}
	if b.done.Load() {
		b.clearDeadline()
	} else if socketTimeout > 0 {
		// net/http reads what the handler left of the body before the
		// next request; a client sending it slowly must not hold the
		// connection for ever.
		b.ctl.SetReadDeadline(time.Now().Add(socketTimeout))
	}
}

// overHeadLimits checks r's target length (414) and header count (431)
// against lim: the status and the page's text, or 0 when r is within.
func overHeadLimits(lim conf.Limits, r *http.Request) (code int, detail string) {
	if lim.URLLengthMax > 0 && len(r.RequestURI) > lim.URLLengthMax {
		return http.StatusRequestURITooLong, "The request target is longer than this server accepts."
	}
	if lim.HeaderCountMax > 0 {
		n := 0
		for _, vv := range r.Header {
			n += len(vv)
		}
		if n > lim.HeaderCountMax {
			return http.StatusRequestHeaderFieldsTooLarge, "The request has more header fields than this server accepts."
		}
	}
	return 0, ""
}

// refuse answers a request that broke a limit. An HTTP/1 connection is
// closed: what is left of the request cannot be trusted to be read
// correctly. HTTP/2 frames each stream, so its connection (and the other
// requests on it) stays; there "Connection: close" would shut it down.
func refuse(w http.ResponseWriter, h1 bool, code int, detail string) {
	if h1 {
		w.Header().Set("Connection", "close")
	}
	writePage(w, code, detail)
}

// hasDotSegment reports whether the path p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '/' || p[i+1] != '.' {
			continue
		}
		rest := p[i+2:]
		if rest == "" || rest[0] == '/' || rest[0] == '.' && (len(rest) == 1 || rest[1] == '/') {
			return true
		}
	}
	return false
}

// limitedBody is a request body that fails once it has given more than
// the body-size-max bytes, and that a client must keep sending: each read
// waits at most socket-timeout for data.
type limitedBody struct {
	rc        io.ReadCloser
	left      int64
	unlimited bool
	ctl       *http.ResponseController
	timeout   time.Duration
	exceeded  atomic.Bool // more than body-size-max was sent
	timedOut  atomic.Bool // the client stopped sending for socket-timeout
	malformed atomic.Bool // the body's framing was broken (bad chunks)
	done      atomic.Bool // the body was read to its end or failed
	// armed: a read deadline is set. Read runs on the proxy's transport
	// goroutine, which may still be in it when the handler has returned.
	armed atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.exceeded.Load() {
		return 0, &http.MaxBytesError{}
	}
	if !b.unlimited && int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	if b.timeout > 0 {
		if b.ctl.SetReadDeadline(time.Now().Add(b.timeout)) == nil {
			b.armed.Store(true)
		}
	}
	n, err := b.rc.Read(p)
	if !b.unlimited {
		if int64(n) > b.left {
			n = int(b.left)
			b.left = 0
			b.exceeded.Store(true)
			b.done.Store(true)
			b.clearDeadline()
			return n, &http.MaxBytesError{}
		}
		b.left -= int64(n)
	}
	if err != nil {
		b.done.Store(true)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			b.timedOut.Store(true)
		case err != io.EOF:
			b.malformed.Store(true)
		}
		// The whole body is read (or the client is gone): the deadline
		// must not outlive it, or net/http's watch for a closed
		// connection would cancel the request while a backend answers.
		b.clearDeadline()
	}
	return n, err
}

// failed reports whether reading the body broke a limit or its framing.
func (b *limitedBody) failed() bool {
	return b.exceeded.Load() || b.timedOut.Load() || b.malformed.Load()
}

func (b *limitedBody) Close() error {
	b.clearDeadline()
	return b.rc.Close()
}

func (b *limitedBody) clearDeadline() {
	if b.armed.Swap(false) {
		b.ctl.SetReadDeadline(time.Time{})
	}
}

// limitWriter turns the error a handler answers when the body broke
// body-size-max, stalled or was malformed (a proxy's 502, a 500) into 413,
// 408 or 400, which is what happened, and drops the handler's own error
// page. It passes Flush and, through
// Unwrap, Hijack and deadlines on.
type limitWriter struct {
	http.ResponseWriter
	body    *limitedBody
	h1      bool // HTTP/1: a refusal closes the connection
	sent    bool
	swallow bool
	// replacedWith is the status sent in place of the handler's, for the
	// access log.
	replacedWith int
}

func (lw *limitWriter) WriteHeader(code int) {
	if lw.sent {
		lw.ResponseWriter.WriteHeader(code)
		return
	}
	if b := lw.body; code >= 500 && b.failed() {
		lw.sent, lw.swallow = true, true
		h := lw.ResponseWriter.Header()
		for k := range h {
			delete(h, k)
		}
		switch {
		case b.exceeded.Load():
			lw.replacedWith = http.StatusRequestEntityTooLarge
			refuse(lw.ResponseWriter, lw.h1, lw.replacedWith, "The request body is larger than this server accepts.")
		case b.timedOut.Load():
			lw.replacedWith = http.StatusRequestTimeout
			refuse(lw.ResponseWriter, lw.h1, lw.replacedWith, "The request body was not sent in time.")
		default:
			lw.replacedWith = http.StatusBadRequest
			refuse(lw.ResponseWriter, lw.h1, lw.replacedWith, "The request body is malformed or was cut short.")
		}
		return
	}
	if code >= 200 || code == http.StatusSwitchingProtocols {
		lw.sent = true
	}
	lw.ResponseWriter.WriteHeader(code)
}

func (lw *limitWriter) Write(p []byte) (int, error) {
	if lw.swallow {
		return len(p), nil
	}
	lw.sent = true
	return lw.ResponseWriter.Write(p)
}

func (lw *limitWriter) Flush() {
	if f, ok := lw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (lw *limitWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// modernCiphers are the TLS 1.2 suites offered: forward secret (ECDHE) and
// authenticated encryption only. TLS 1.3's suites are all of that kind and
// not configurable.
var modernCiphers = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// tlsConfig is the server side of a TLS listener: its certificate, TLS 1.2
// or later with modern suites, and HTTP/2 offered before HTTP/1.1.
func tlsConfig(t *conf.TLS) (*tls.Config, error) {
	cert, err := conf.LoadCertificate(t)
	if err != nil {
		return nil, err
	}
	min := t.MinVersion
	if min < tls.VersionTLS12 {
		min = tls.VersionTLS12
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   min,
		CipherSuites: modernCiphers,
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

// limitListener bounds the connections open at once on ln to max: beyond
// it, Accept waits for one to close and new clients wait in the kernel's
// accept queue rather than being refused. Closing it twice (drain, then
// http.Server's Shutdown) is not an error.
//
// It is x/net/netutil's LimitListener, but a TCP connection it hands out
// is still a *net.TCPConn underneath (limitedTCPConn embeds it): its
// ReadFrom is what lets net/http's and core/h1's writers send a static
// file with sendfile, which netutil's wrapper hides.
func limitListener(ln net.Listener, max int) net.Listener {
	l := &limitedListener{Listener: ln, done: make(chan struct{})}
	if max > 0 {
		l.sem = make(chan struct{}, max)
	}
	return l
}

type limitedListener struct {
	net.Listener
	sem  chan struct{} // nil: no limit
	done chan struct{} // closed by Close: no more waiting for a slot
	once sync.Once
	err  error
}

func (l *limitedListener) Accept() (net.Conn, error) {
	if l.sem == nil {
		return l.Listener.Accept()
	}
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return l.Hold(c), nil
}

// The event loop (core/loop) accepts on the bound socket itself and keeps
// the same count through these.

// Bound is the socket under the limit.
func (l *limitedListener) Bound() net.Listener { return l.Listener }

// TryAcquire takes a slot if one is free.
func (l *limitedListener) TryAcquire() bool {
	if l.sem == nil {
		return true
	}
	select {
	case l.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// Release gives back a slot taken by TryAcquire.
func (l *limitedListener) Release() {
	if l.sem != nil {
		<-l.sem
	}
}

// Hold returns c, whose slot is taken, as a connection that gives it back
// when first closed.
func (l *limitedListener) Hold(c net.Conn) net.Conn {
	if l.sem == nil {
		return c
	}
	release := func() { <-l.sem }
	if tc, ok := c.(*net.TCPConn); ok {
		return &limitedTCPConn{TCPConn: tc, release: release}
	}
	return &limitedConn{Conn: c, release: release}
}

func (l *limitedListener) Close() error {
	l.once.Do(func() {
		l.err = l.Listener.Close()
		close(l.done)
	})
	return l.err
}

// limitedTCPConn and limitedConn give their slot back when first closed.
type limitedTCPConn struct {
	*net.TCPConn
	once    sync.Once
	release func()
}

func (c *limitedTCPConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.release)
	return err
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// escapeControls percent-encodes the control characters of a rewritten
// target (a decoded %0d%0a in the request path that a rule copied into a
// Redirect's Location), so that they can never end a header line.
func escapeControls(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	if i < 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteString(s[:i])
	for j := i; j < len(s); j++ {
		c := s[j]
		if c < 0x20 || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
