package h1

import (
	"bufio"
	"net"
	"sync"
)

// handoff is the net.Listener the fallback net/http server accepts from:
// it yields the connections the loop handed over.
type handoff struct {
	conns  chan net.Conn
	mu     sync.Mutex
	closed chan struct{}
	done   bool
}

func newHandoff() *handoff {
	return &handoff{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// give passes c to the fallback server; false if it is closed.
func (h *handoff) give(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.closed:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.done {
		h.done = true
		close(h.closed)
	}
	return nil
}

func (h *handoff) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "tcp" }
func (handoffAddr) String() string  { return "h1-handoff" }

// handedConn is a connection handed over: its reads start with what the
// loop had buffered.
type handedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite lets net/http half-close the connection, as it does a TCP
// one, before its lingering close (after refusing an unread body): the
// client sees the end of the answer at once rather than half a second
// later.
func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
