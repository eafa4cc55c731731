package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"resind/proxy/fastcgi"
)

// HTTP is one supervised HTTP application server: resind starts it with
// PORT (a free loopback port) or RESIND_APP_SOCKET (a Unix socket path) in
// its environment, and RESIND_APP_ADDRESS holding either, waits until it
// answers, checks it every HealthInterval, restarts it when it exits or
// fails three checks in a row, and proxies requests to it.
//
// Its lifecycle is the Registry's: created by Registry.HTTP, stopped by
// Retain or Close.
type HTTP struct {
	log  *zap.Logger
	spec Spec
	name string
	dir  string
	id   int

	mu      sync.Mutex
	proc    *process
	network string
	addr    string        // where the current process listens
	ready   chan struct{} // closed once the current process is healthy
	isReady bool
	lastErr error

	transport *http.Transport
	stopping  chan struct{} // closed by close
	stopped   chan struct{} // closed when the supervisor has stopped the process
}

func newHTTP(spec Spec, dir string, id int, log *zap.Logger) *HTTP {
	a := &HTTP{log: log, spec: spec, name: spec.Name(), dir: dir, id: id,
		ready: make(chan struct{}), stopping: make(chan struct{}), stopped: make(chan struct{})}
	a.transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			a.mu.Lock()
			network, addr := a.network, a.addr
			a.mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	go a.supervise()
	return a
}

// supervise runs the application until close: start, wait for health,
// watch, restart.
func (a *HTTP) supervise() {
	defer close(a.stopped)
	var backoff time.Duration
	for seq := 1; ; seq++ {
		started := time.Now()
		err := a.runOnce(seq)
		a.mu.Lock()
		a.lastErr = err
		if a.isReady {
			a.ready = make(chan struct{})
			a.isReady = false
		}
		a.mu.Unlock()
		a.transport.CloseIdleConnections()
		select {
		case <-a.stopping:
			return
		default:
		}
		if time.Since(started) < 5*time.Second {
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
		} else {
			backoff = 0
		}
		a.log.Warn("HTTP application stopped; restarting", zap.String("app", a.name), zap.Error(err),
			zap.Duration("after", backoff))
		select {
		case <-a.stopping:
			return
		case <-time.After(backoff):
		}
	}
}

// runOnce starts one process and supervises it until it exits, fails its
// health checks or the application is closed; the process is stopped
// before it returns.
func (a *HTTP) runOnce(seq int) error {
	network, addr, env, err := a.address(seq)
	if err != nil {
		return err
	}
	proc, err := startProcess(a.spec, env, nil, a.log)
	if err != nil {
		a.log.Error("HTTP application did not start", zap.String("app", a.name), zap.Error(err))
		return err
	}
	a.mu.Lock()
	a.proc, a.network, a.addr = proc, network, addr
	a.mu.Unlock()
	a.log.Info("HTTP application started", zap.String("app", a.name), zap.Int("pid", proc.pid),
		zap.String("address", network+":"+addr))
	defer func() {
		proc.stop(a.spec.stopTimeout())
		if network == "unix" {
			os.Remove(addr)
		}
	}()

	startTimeout := a.spec.StartTimeout
	if startTimeout <= 0 {
		startTimeout = 30 * time.Second
	}
	deadline := time.Now().Add(startTimeout)
	for a.check() != nil {
		if time.Now().After(deadline) {
			return errors.New("not answering " + strconv.Quote(a.spec.HealthPath) + " within " + startTimeout.String())
		}
		select {
		case <-a.stopping:
			return nil
		case <-proc.done:
			return errors.New("exited before it answered: " + exitStatus(proc.err))
		case <-time.After(50 * time.Millisecond):
		}
	}
	a.mu.Lock()
	close(a.ready)
	a.isReady = true
	a.mu.Unlock()
	a.log.Info("HTTP application ready", zap.String("app", a.name), zap.Int("pid", proc.pid),
		zap.Duration("after", time.Since(proc.started)))

	interval := a.spec.HealthInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-a.stopping:
			return nil
		case <-proc.done:
			return errors.New("exited: " + exitStatus(proc.err))
		case <-tick.C:
			if err := a.check(); err != nil {
				failures++
				a.log.Warn("HTTP application health check failed", zap.String("app", a.name),
					zap.Int("pid", proc.pid), zap.Int("failures", failures), zap.Error(err))
				if failures >= 3 {
					return errors.New("failed 3 health checks: " + err.Error())
				}
				continue
			}
			failures = 0
		}
	}
}

// address picks where the next process listens and the environment that
// tells it.
func (a *HTTP) address(seq int) (network, addr string, env []string, err error) {
	if a.spec.Unix {
		addr = filepath.Join(a.dir, "http-"+strconv.Itoa(a.id)+"-"+strconv.Itoa(seq)+".sock")
		os.Remove(addr)
		return "unix", addr, []string{"RESIND_APP_SOCKET=" + addr, "RESIND_APP_ADDRESS=unix:" + addr}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	addr = ln.Addr().String()
	ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return "tcp", addr, []string{"PORT=" + port, "HOST=127.0.0.1", "RESIND_APP_ADDRESS=" + addr}, nil
}

// check is one health check of the current process.
func (a *HTTP) check() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if a.spec.HealthPath == "" {
		a.mu.Lock()
		network, addr := a.network, a.addr
		a.mu.Unlock()
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://app"+a.spec.HealthPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "resind health check")
	res, err := a.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode >= 500 {
		return errors.New("answered " + res.Status)
	}
	return nil
}

// Handler proxies requests to the application. A request waits for the
// application to be ready (while it starts or restarts) at most its
// StartTimeout or timeout, whichever is shorter; it is answered 502 when
// the application is not running or breaks the exchange, 504 when it does
// not answer within timeout (0: no limit but the client's).
func (a *HTTP) Handler(timeout time.Duration) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "app"
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			// resind's core already put the client in X-Forwarded-For,
			// as it does for FastCGI and CGI.
			if xff := pr.In.Header["X-Forwarded-For"]; xff != nil {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
		},
		Transport:     a.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case errors.Is(r.Context().Err(), context.Canceled):
				return // the client went away
			case r.Context().Err() != nil || errors.Is(err, context.DeadlineExceeded):
				a.log.Warn("HTTP application timed out", zap.String("app", a.name), zap.Duration("timeout", timeout))
				fastcgi.ErrorPage(w, http.StatusGatewayTimeout, "No answer in time from the application", a.name)
			default:
				a.log.Warn("HTTP application failed", zap.String("app", a.name), zap.String("uri", r.RequestURI), zap.Error(err))
				fastcgi.ErrorPage(w, http.StatusBadGateway, "The server failed to get an answer from the application", a.name)
			}
		},
		ErrorLog: zap.NewStdLog(a.log),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := r.Context()
		ctx := client
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		a.mu.Lock()
		ready, lastErr := a.ready, a.lastErr
		a.mu.Unlock()
		select {
		case <-ready:
			rp.ServeHTTP(w, r)
			return
		default:
		}
		startTimeout := a.spec.StartTimeout
		if startTimeout <= 0 {
			startTimeout = 30 * time.Second
		}
		wait := time.NewTimer(startTimeout)
		defer wait.Stop()
		up := false
		select {
		case <-ready:
			up = true
		case <-a.stopping:
			fastcgi.ErrorPage(w, http.StatusBadGateway, "The application is stopped:", a.name)
			return
		case <-ctx.Done():
			if client.Err() != nil {
				return
			}
		case <-wait.C:
			// Not up within its start-timeout: the client is not held
			// for the whole request timeout.
		}
		if !up {
			detail := "The application is not running (it is starting or restarting):"
			if lastErr != nil {
				detail = "The application is not running (" + lastErr.Error() + "):"
			}
			fastcgi.ErrorPage(w, http.StatusBadGateway, detail, a.name)
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// PID is the current process's id, 0 when none runs.
func (a *HTTP) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc == nil || a.proc.exited() {
		return 0
	}
	return a.proc.pid
}

// close stops the application and waits until it has exited or ctx ended.
func (a *HTTP) close(ctx context.Context) {
	select {
	case <-a.stopping:
	default:
		close(a.stopping)
	}
	select {
	case <-a.stopped:
	case <-ctx.Done():
	}
	a.transport.CloseIdleConnections()
}
