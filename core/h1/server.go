// Package h1 is the HTTP/1.1 server loop of resind's plain listeners.
//
// It answers the requests a proxy sees most — GET and HEAD without a body
// — itself, with one goroutine per connection, one read per request when
// the client keeps the connection busy and no work per request beyond
// parsing the head and writing the answer. Every other request (bodies,
// other methods, upgrades, Expect, anything malformed or larger than the
// read buffer) is handed, with the connection and the bytes already read,
// to a standard net/http Server, which serves that connection from then on.
// The handler is an ordinary http.Handler either way.
//
// One difference a handler can see: the context of a request answered on
// the loop is not cancelled when the client goes away or the handler
// returns (nothing reads from the client while the handler runs, and a
// cancellable context costs four allocations per proxied request). A
// proxied GET whose client left runs until the backend answers or
// socket-timeout, as nginx's proxy_ignore_client_abort does.
//
// net/http's server costs about four times what nginx spends in user space
// per proxied request (a background read and a context per request, the
// header map cloned and sorted on write). This loop brought resind's cache
// hits to nginx's speed per core and its proxying from about 0.4× to about
// 0.65× (bench/RESULTS.md). Proxying at nginx's speed needs more than a
// goroutine per connection: see docs/dataplane.md.
package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// readBufferSize is the read buffer of a connection, and so the largest
// head this package answers itself; a larger one goes to net/http.
const readBufferSize = 8 << 10

// writeBufferSize is the write buffer: an answer smaller than this leaves
// in one write.
const writeBufferSize = 8 << 10

// Server serves HTTP/1.x on plain (not TLS) listeners.
type Server struct {
	// Handler answers every request, here or after a hand-over.
	Handler http.Handler
	// Fallback serves the connections handed over. Its Handler is
	// ignored (Handler is used); its timeouts, limits and ErrorLog apply.
	Fallback *http.Server
	// ReadHeaderTimeout bounds the reading of a request head,
	// IdleTimeout the wait for the next request on a kept-alive
	// connection (ReadHeaderTimeout when zero).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes: a head larger than this (or than the read
	// buffer) is left to net/http, which refuses it per its own limit.
	MaxHeaderBytes int
	// ErrorLog receives handler panics; log's default when nil.
	ErrorLog *log.Logger
	// Return, when set, is offered a connection given by Lend once it
	// has answered a request and waits for the next, nothing of it read
	// ahead: true says Return took it (and closed c, its own copy of the
	// socket kept), false that this server serves it on.
	Return func(c net.Conn) bool

	once     sync.Once
	handed   *handoff
	fallback chan error

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	inShut    atomic.Bool
	connsDone chan struct{} // closed when conns empties during Shutdown
}

func (s *Server) init() {
	s.once.Do(func() {
		s.handed = newHandoff()
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		fb := s.Fallback
		if fb == nil {
			fb = &http.Server{}
		}
		fb.Handler = s.Handler
		if fb.ReadHeaderTimeout == 0 {
			fb.ReadHeaderTimeout = s.ReadHeaderTimeout
		}
		if fb.IdleTimeout == 0 {
			fb.IdleTimeout = s.IdleTimeout
		}
		if fb.MaxHeaderBytes == 0 {
			fb.MaxHeaderBytes = s.MaxHeaderBytes
		}
		if fb.ErrorLog == nil {
			fb.ErrorLog = s.ErrorLog
		}
		s.Fallback = fb
		s.fallback = make(chan error, 1)
		go func() { s.fallback <- fb.Serve(s.handed) }()
	})
}

// Serve accepts connections on ln until Shutdown or Close, or until
// accepting fails for good; it always returns a non-nil error, and
// ErrServerClosed after Shutdown or Close. Temporary accept errors are
// retried with a back-off, as net/http does.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	// As net/http: ln is closed when Serve returns, and it is taken in
	// under the lock Shutdown closes the listeners under, so that one
	// taken in while Shutdown runs cannot be left accepting.
	defer ln.Close()
	s.mu.Lock()
	if s.inShut.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[&ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.inShut.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("h1: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		cn := s.newConn(c)
		if cn == nil {
			c.Close()
			return ErrServerClosed
		}
		go cn.serve()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) newConn(c net.Conn) *conn {
	cn := &conn{s: s, c: c, remote: c.RemoteAddr().String(), accepted: time.Now()}
	cn.state.Store(stateNew)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShut.Load() {
		return nil
	}
	s.conns[cn] = struct{}{}
	return cn
}

// forget drops cn from the tracked connections; handed says whether
// net/http serves it now.
func (s *Server) forget(cn *conn) {
	s.mu.Lock()
	delete(s.conns, cn)
	if len(s.conns) == 0 && s.connsDone != nil {
		close(s.connsDone)
		s.connsDone = nil
	}
	s.mu.Unlock()
}

// Shutdown stops accepting (it closes the listeners Serve was given),
// closes idle connections and waits for the requests in progress and for
// net/http's hand-overs to finish, or for ctx to end; then it closes what
// is left and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.inShut.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		(*ln).Close()
	}
	var wait chan struct{}
	if len(s.conns) > 0 {
		wait = make(chan struct{})
		s.connsDone = wait
	}
	for cn := range s.conns {
		cn.closeIfIdle()
	}
	s.mu.Unlock()
	fbErr := make(chan error, 1)
	go func() { fbErr <- s.Fallback.Shutdown(ctx) }()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		}
	}
	if err := <-fbErr; err != nil {
		s.Close()
		return err
	}
	return nil
}

// Close closes the listeners and every connection at once, handed-over
// ones included.
func (s *Server) Close() error {
	s.init()
	s.inShut.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		(*ln).Close()
	}
	for cn := range s.conns {
		cn.c.Close()
	}
	s.mu.Unlock()
	return s.Fallback.Close()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// conn is one client connection served by the loop.
type conn struct {
	s      *Server
	c      net.Conn
	remote string
	br     *bufio.Reader
	bw     *writer
	// state is stateIdle between requests, stateActive while one is
	// read or answered, stateNew until the first head is in; Shutdown
	// closes idle connections, and new ones newConnGrace after their
	// accept.
	state    atomic.Int32
	accepted time.Time
	// tmpl is what every request of the connection starts as: its
	// context (not cancelled on the client's going away or the handler's
	// return: nothing reads from the client while a handler runs, and a
	// context to cancel costs four allocations per request), Body and
	// RemoteAddr.
	tmpl *http.Request
	// body buffers the start of each answer's body (bufferBeforeChunking).
	body [bufferBeforeChunking]byte
	// lent: a connection of Lend, offered back (Server.Return) after its
	// first answer.
	lent bool
}

const (
	stateActive = iota
	stateIdle
	stateNew
)

// newConnGrace is how long after its accept a connection that has sent no
// request yet holds Shutdown: net/http's 5 s (a request may be on its way;
// a browser's preconnected socket may never send one).
var newConnGrace = 5 * time.Second

func (cn *conn) closeIfIdle() {
	switch cn.state.Load() {
	case stateIdle:
		cn.c.Close()
	case stateNew:
		if wait := time.Until(cn.accepted.Add(newConnGrace)); wait > 0 {
			time.AfterFunc(wait, func() {
				if cn.state.Load() == stateNew {
					cn.c.Close()
				}
			})
		} else {
			cn.c.Close()
		}
	}
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	writers = sync.Pool{New: func() any { return newWriter(writeBufferSize) }}
)

// serve runs the connection: requests are answered in order until the
// client or a response closes it, or one is handed to net/http.
func (cn *conn) serve() { cn.serveFrom(nil, nil, nil) }

// serveFrom is serve for a connection whose first bytes were read
// elsewhere (buffered), and whose first request, if any, was too: it is
// answered by handler before the connection's own requests.
func (cn *conn) serveFrom(buffered []byte, read *Parsed, handler http.Handler) {
	s := cn.s
	cn.br = readers.Get().(*bufio.Reader)
	var pr *prefixReader
	if len(buffered) > 0 {
		pr = &prefixReader{b: buffered, c: cn.c}
		cn.br.Reset(pr)
	} else {
		cn.br.Reset(cn.c)
	}
	cn.bw = writers.Get().(*writer)
	cn.bw.Reset(cn.c)
	cn.tmpl = s.Template(cn.remote, cn.c.LocalAddr())
	handed, returned := false, false
	defer func() {
		if !handed {
			if !returned {
				cn.c.Close()
			}
			cn.br.Reset(nil)
			readers.Put(cn.br)
		}
		if cn.bw != nil {
			cn.bw.Reset(nil)
			writers.Put(cn.bw)
		}
		s.forget(cn)
	}()
	first := true
	if read != nil {
		cn.state.Store(stateActive)
		if !cn.answer(read.h, read.R, handler) {
			return
		}
		first = false
	}
	for {
		// As net/http, a later request starts once four bytes are in
		// (fewer and then the end of the stream close the connection
		// without an answer).
		if !first && cn.br.Buffered() < 4 {
			cn.state.Store(stateIdle)
			if s.inShut.Load() {
				return
			}
			if cn.lent {
				cn.lent = false
				if cn.br.Buffered() == 0 && (pr == nil || len(pr.b) == 0) && s.Return != nil && s.Return(cn.c) {
					returned = true
					return
				}
			}
			if d := s.idleTimeout(); d > 0 {
				cn.c.SetReadDeadline(time.Now().Add(d))
			}
			// An idle connection holds no write buffer: with many
			// kept-alive clients that is most of its memory.
			cn.bw.Reset(nil)
			writers.Put(cn.bw)
			cn.bw = nil
			if _, err := cn.br.Peek(4); err != nil {
				return
			}
			cn.bw = writers.Get().(*writer)
			cn.bw.Reset(cn.c)
			cn.state.Store(stateActive)
		}
		// The head usually arrives whole with its first byte; only a
		// head still incomplete then gets ReadHeaderTimeout (readHead),
		// which saves a timer update per request.
		raw, err := cn.readHead(first)
		if err != nil {
			return
		}
		if first {
			cn.state.Store(stateActive)
			first = false
		}
		var h *head
		if raw != nil {
			h, _ = parseHead(raw)
		}
		if h == nil {
			handed = cn.handOver()
			return
		}
		u, ok := h.url()
		if !ok {
			handed = cn.handOver()
			return
		}
		cn.br.Discard(len(raw))
		// The read deadline left set does not matter: nothing reads
		// from the client until the next wait sets its own.
		if !cn.serveRequest(h, u) {
			return
		}
	}
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return s.ReadHeaderTimeout
}

// readHead returns the complete head at the front of the read buffer
// without consuming it, nil if it does not fit in the buffer or in
// MaxHeaderBytes (net/http answers those), or the read error.
// first says this is the connection's first request, whose head timeout
// starts at once; a later one's starts when its first byte has arrived.
func (cn *conn) readHead(first bool) ([]byte, error) {
	deadlineSet := false
	limit := readBufferSize
	if m := cn.s.MaxHeaderBytes; m > 0 && m < limit {
		limit = m
	}
	scanned := 0
	for {
		n := cn.br.Buffered()
		b, _ := cn.br.Peek(n)
		// Resume the search a little before where the last one ended,
		// in case the CRLFCRLF straddles two reads.
		from := max(scanned-3, 0)
		if i := headEnd(b[from:]); i >= 0 {
			if from+i > limit {
				return nil, nil
			}
			return b[:from+i], nil
		}
		if bareLF(b, from) {
			// Lines ended by LF alone: net/http reads those.
			return nil, nil
		}
		scanned = n
		if n >= limit {
			return nil, nil
		}
		if !deadlineSet && (first || n > 0) {
			// Once per head: a client trickling it in does not
			// move the deadline.
			if d := cn.s.ReadHeaderTimeout; d > 0 {
				cn.c.SetReadDeadline(time.Now().Add(d))
			}
			deadlineSet = true
		}
		if _, err := cn.br.Peek(n + 1); err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && n > 0 {
				// The client ended in the middle of a head:
				// net/http answers 400, so it gets it.
				return nil, nil
			}
			// A read error or timeout, with or without part of a
			// head: net/http closes such a connection without an
			// answer, and so does this.
			return nil, err
		}
	}
}

// bareLF reports whether b has, from index from on, an LF not preceded by
// a CR.
func bareLF(b []byte, from int) bool {
	for i := from; i < len(b); i++ {
		if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// handOver gives the connection, with what was read of it, to the
// fallback net/http server. It reports false if the server is shutting
// down and the connection was not taken.
func (cn *conn) handOver() bool {
	cn.c.SetReadDeadline(time.Time{})
	return cn.s.handed.give(&handedConn{Conn: cn.c, r: cn.br})
}

func (cn *conn) panicked(v any) {
	if v == http.ErrAbortHandler {
		return
	}
	buf := make([]byte, 64<<10)
	buf = buf[:runtime.Stack(buf, false)]
	cn.s.logf("h1: panic serving %s: %v\n%s", cn.remote, v, buf)
}
