package core

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// maxReadHeaderTimeout bounds the time a client may take to send its
// request headers, whatever socket-timeout says.
const maxReadHeaderTimeout = 30 * time.Second

// drainTimeout bounds how long a listener that vanished from the
// configuration waits for its in-flight requests before it is closed hard.
const drainTimeout = 60 * time.Second

// listener is one bound socket and the http.Server answering on it. Every
// listener uses the Server itself as handler, so it serves whatever
// snapshot is current; only its socket settings are fixed when it opens.
type listener struct {
	spec    listenSpec
	ln      net.Listener
	srv     *http.Server
	started bool
	// closing is set before the socket is closed, so that the accept error
	// this causes is not taken for a failure.
	closing atomic.Bool
}

// bind opens the socket of sp. The error names the address.
func (s *Server) bind(sp listenSpec, t conf.Timeouts) (*listener, error) {
	ln, err := net.Listen("tcp", sp.addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("%s port %s: %w", sp.kind, sp.addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: min(t.SocketTimeout, maxReadHeaderTimeout),
		IdleTimeout:       t.KeepaliveTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newStdLog(s.log),
	}
	return &listener{spec: sp, ln: ln, srv: srv}, nil
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
	l.ln.Close()
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
	l.ln.Close()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
		return err
	}
	return nil
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
