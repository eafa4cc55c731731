package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/conf"
	"resind/core/h1"
	"resind/core/loop"
)

// clusterHeaderSlack is what the cluster port accepts beyond the server's
// header limits: the fields a web tier adds when it forwards a request
// (X-Forwarded-*, Via, the session header).
const (
	clusterHeaderCountSlack = 16
	clusterHeaderSizeSlack  = 8 << 10
)

// drainTimeout bounds how long a listener that vanished from the
// configuration waits for its in-flight requests before it is closed hard.
const drainTimeout = 60 * time.Second

// httpServer is what answers on a listener: net/http's Server for TLS
// (HTTP/2 and HTTP/1.1), h1's loop for plain sockets.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// listener is one bound socket and the server answering on it. Every
// listener uses the Server itself as handler, so it serves whatever
// snapshot is current; only its socket settings are fixed when it opens.
type listener struct {
	spec    listenSpec
	ln      net.Listener
	raw     net.Listener // the bound socket under the limits and TLS
	srv     httpServer
	started bool
	// closing is set before the socket is closed, so that the accept error
	// this causes is not taken for a failure.
	closing atomic.Bool
}

// effectiveLimits are sp's limits as enforced: the defaults of a
// configuration built without the loader filled in, and the cluster
// port's slack added.
func (sp *listenSpec) effectiveLimits() conf.Limits {
	lim := sp.limits
	if lim.HeaderSizeMax <= 0 {
		lim.HeaderSizeMax = conf.DefaultLimits.HeaderSizeMax
	}
	if lim.HeaderTimeout <= 0 {
		lim.HeaderTimeout = conf.DefaultLimits.HeaderTimeout
	}
	if sp.kind == "cluster" {
		lim.HeaderSizeMax += clusterHeaderSizeSlack
		if lim.HeaderCountMax > 0 {
			lim.HeaderCountMax += clusterHeaderCountSlack
		}
	}
	return lim
}

// bind opens the socket of sp with its limits (see guard) and, for an
// https listener, TLS. The error names the address.
func (s *Server) bind(sp listenSpec, t conf.Timeouts) (*listener, error) {
	lim := sp.effectiveLimits()
	var tc *tls.Config
	if sp.tls != nil {
		var err error
		if tc, err = tlsConfig(sp.tls); err != nil {
			return nil, fmt.Errorf("%s port %s: %s: %w", sp.kind, sp.addr, sp.tls.Pos, err)
		}
	}
	ln := s.inherited.take(sp.key)
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", sp.addr); err != nil {
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Err != nil {
				err = oe.Err
			}
			return nil, fmt.Errorf("%s port %s: %w", sp.kind, sp.addr, err)
		}
	}
	headerTimeout := lim.HeaderTimeout
	if t.SocketTimeout > 0 {
		headerTimeout = min(headerTimeout, t.SocketTimeout)
	}
	handler := &guard{s: s, key: sp.key, lim: lim, socketTimeout: t.SocketTimeout}
	errorLog := newStdLog(s.log)
	std := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       t.KeepaliveTimeout,
		MaxHeaderBytes:    lim.HeaderSizeMax,
		ErrorLog:          errorLog,
	}
	served := limitListener(ln, lim.ConnectionMax)
	if tc != nil {
		std.TLSConfig = tc
		served = tls.NewListener(served, tc)
		return &listener{spec: sp, ln: served, raw: ln, srv: std}, nil
	}
	fast := &h1.Server{
		Handler:           handler,
		Fallback:          std,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       t.KeepaliveTimeout,
		MaxHeaderBytes:    lim.HeaderSizeMax,
		ErrorLog:          errorLog,
	}
	if sp.kind != "cluster" && s.onLoops() {
		lp := loop.New(loop.Config{
			H1:      fast,
			Route:   func(r *http.Request) loop.Target { return s.loopTarget(handler, r) },
			Served:  s.loopServed,
			Account: s.loopHandler,
			Log:     s.log,
			Loops:   s.opts.DataplaneLoops,
		})
		return &listener{spec: sp, ln: served, raw: ln, srv: lp}, nil
	}
	return &listener{spec: sp, ln: served, raw: ln, srv: fast}, nil
}

// start serves l in its own goroutine. A failure other than being shut
// down ends Serve with that error.
func (s *Server) start(l *listener) {
	if l.started {
		return
	}
	l.started = true
	go func() {
		err := l.srv.Serve(l.ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !l.closing.Load() {
			s.log.Error("listener failed", zap.String("listener", l.spec.key), zap.Error(err))
			select {
			case s.serveErr <- fmt.Errorf("%s: %w", l.spec.key, err):
			default:
			}
		}
	}()
}

// drain stops l accepting at once, then lets its in-flight requests finish
// in the background, for at most drainTimeout or until Shutdown's deadline.
func (s *Server) drain(l *listener) {
	l.closing.Store(true)
	l.close()
	s.draining[l] = true
	s.drains.Add(1)
	go func() {
		defer s.drains.Done()
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			l.srv.Close()
		}
		s.mu.Lock()
		delete(s.draining, l)
		s.mu.Unlock()
	}()
}

// close stops l: it stops accepting and waits for its requests until ctx
// ends, then closes what is left.
func closeListener(ctx context.Context, l *listener) error {
	l.closing.Store(true)
	l.close()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
		return err
	}
	return nil
}

// close stops l accepting: once it returns, the socket takes no new
// connection (the epoll data plane's loops have closed their duplicates
// of it).
func (l *listener) close() {
	l.ln.Close()
	if sa, ok := l.srv.(interface{ StopAccepting() }); ok {
		sa.StopAccepting()
	}
}

// newStdLog routes net/http's own complaints (accept errors, bad
// handshakes, handler panics) to log at warning level.
func newStdLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log.Named("http"), zap.WarnLevel)
	if err != nil {
		return zap.NewStdLog(log.Named("http"))
	}
	return l
}
