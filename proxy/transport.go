package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"resind/conf"
)

// DialError is a failure to connect to a backend: refused, unreachable or
// timed out after load-balance-connect-timeout. Nothing of the request was
// sent, so it is always safe to try another backend.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("dial %s: %v", e.Addr, e.Err) }

func (e *DialError) Unwrap() error { return e.Err }

// maxIdlePerBackend bounds the idle keep-alive connections kept per backend.
const maxIdlePerBackend = 256

// newTransport returns the connection pool of b: HTTP/1.1 with keep-alive.
// Go's Transport reuses the most recently used idle connection first (its
// idle list is a stack), which keeps the pool warm and lets the rest expire
// after load-balance-idle-time.
func newTransport(b *backend, t conf.Timeouts) *http.Transport {
	var protos http.Protocols
	protos.SetHTTP1(true)
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           b.dial,
		Protocols:             &protos,
		MaxIdleConnsPerHost:   maxIdlePerBackend,
		IdleConnTimeout:       t.LoadBalanceIdleTime,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// dial connects to the backend within load-balance-connect-timeout, whatever
// address the Transport asks for, and wraps failures in *DialError.
func (b *backend) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   b.cfg.Load().timeout.LoadBalanceConnectTimeout,
		KeepAlive: 15 * time.Second,
	}
	c, err := d.DialContext(ctx, network, b.addr)
	if err != nil {
		return nil, &DialError{Addr: b.addr, Err: err}
	}
	b.conns.Add(1)
	return &countedConn{Conn: c, b: b}, nil
}

// countedConn keeps backend.conns equal to the open upstream connections,
// from which Status derives the idle ones.
type countedConn struct {
	net.Conn
	b      *backend
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.b.conns.Add(-1)
	}
	return c.Conn.Close()
}
