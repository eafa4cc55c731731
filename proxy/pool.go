package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// pool is a backend's idle HTTP/1.1 connections for the direct path
// (h1.go). It lives as long as its backend, across reloads, like the
// Transport beside it. Idle connections form a stack: the most recently
// used is taken first, which keeps few connections warm and lets the rest
// reach load-balance-idle-time, after which a sweep closes them.
type pool struct {
	b *backend

	mu     sync.Mutex
	idle   []*h1Conn // oldest first; taken from the end
	sweep  *time.Timer
	closed bool // the backend is no longer configured: nothing is kept
}

// h1Conn is one upstream connection with its buffers.
type h1Conn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	lr limitedReader // under br: bounds a response's header block

	reused    bool  // served a request before this one
	idleSince int64 // nanotime it went back to the pool
}

// maxResponseHeaderBytes bounds the status line and header block a backend
// may send (net/http's Transport allows 10 MB; Resin and nginx far less).
const maxResponseHeaderBytes = 1 << 20

// limitedReader fails reads past n bytes while on; the body is read with
// it off.
type limitedReader struct {
	c  io.Reader
	on bool
	n  int64
}

var errHeaderTooLarge = errors.New("backend response header too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if !l.on {
		return l.c.Read(p)
	}
	if l.n <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= int64(n)
	return n, err
}

// get returns an idle connection, or dials a new one (a *DialError when
// that fails).
func (p *pool) get(ctx context.Context) (*h1Conn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return pc, nil
	}
	p.mu.Unlock()
	c, err := p.b.dial(ctx, "tcp", p.b.addr)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{c: c}
	pc.lr.c = c
	pc.br = bufio.NewReaderSize(&pc.lr, 16<<10)
	pc.bw = bufio.NewWriterSize(c, 4<<10)
	return pc, nil
}

// put returns pc to the pool after a complete exchange, or closes it when
// the pool is full or closed.
func (p *pool) put(pc *h1Conn) {
	pc.reused = true
	pc.idleSince = nanotime()
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerBackend {
		p.mu.Unlock()
		pc.c.Close()
		return
	}
	p.idle = append(p.idle, pc)
	if p.sweep == nil {
		p.sweep = time.AfterFunc(p.idleTime(), p.expire)
	}
	p.mu.Unlock()
}

func (p *pool) idleTime() time.Duration {
	return p.b.cfg.Load().timeout.LoadBalanceIdleTime
}

// expire closes the connections idle for load-balance-idle-time and sweeps
// again when the oldest left would expire, while any are left.
func (p *pool) expire() {
	idle := p.idleTime()
	cutoff := nanotime() - int64(idle)
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && p.idle[n].idleSince <= cutoff {
		n++
	}
	old := make([]*h1Conn, n)
	copy(old, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.sweep = nil
	if rest > 0 {
		wait := time.Duration(p.idle[0].idleSince + int64(idle) - nanotime())
		p.sweep = time.AfterFunc(max(wait, time.Millisecond), p.expire)
	}
	p.mu.Unlock()
	for _, pc := range old {
		pc.c.Close()
	}
}

// closeIdle closes every idle connection; with forever set, connections
// given back later are closed too (the backend was removed).
func (p *pool) closeIdle(forever bool) {
	p.mu.Lock()
	old := p.idle
	p.idle = nil
	if forever {
		p.closed = true
	}
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, pc := range old {
		pc.c.Close()
	}
}

// discard closes a connection that cannot be reused.
func (pc *h1Conn) discard() { pc.c.Close() }

// drained reports whether nothing follows the response just read, so the
// connection may serve another request.
func (pc *h1Conn) drained() bool { return pc.br.Buffered() == 0 }

var _ io.Reader = (*limitedReader)(nil)
