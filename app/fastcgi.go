package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"resind/proxy/fastcgi"
)

// FastCGI is a pool of processes of one FastCGI program, run as Apache's
// mod_fcgid runs them: each process listens on its own Unix socket (handed
// to it as fd 0, the FastCGI convention, so PHP's php-cgi and Go's
// fcgi.Serve(nil, h) both work) and serves one request at a time. A request
// takes an idle process; when none is idle and the pool is below
// MaxProcesses a new one is started, else the request waits for one to
// free up. Processes idle for IdleTimeout are stopped down to MinProcesses;
// one that exits is replaced when the pool falls below MinProcesses, after
// a back-off that doubles while it keeps crashing at once.
//
// FastCGI implements fastcgi.Pool. Its lifecycle is the Registry's: created
// by Registry.FastCGI, stopped by Retain or Close.
type FastCGI struct {
	log  *zap.Logger
	dir  string // where the sockets are made
	name string
	id   int

	mu      sync.Mutex
	spec    Spec
	procs   []*fcgiProc
	seq     int
	changed chan struct{} // closed and replaced when a process frees up, starts or exits
	closed  bool
	backoff time.Duration // after a process exited soon after it started
	until   time.Time     // no process is started before this
	respawn *time.Timer
	reaper  chan struct{} // closed to stop the idle reaper
	lastErr error
}

type fcgiProc struct {
	*process
	sock     string
	busy     bool
	conn     *fastcgi.Conn // the kept connection while idle
	active   *fastcgi.Conn // the connection of the request it serves
	lastUsed time.Time
}

func newFastCGI(spec Spec, dir string, id int, log *zap.Logger) *FastCGI {
	p := &FastCGI{log: log, dir: dir, name: spec.Name(), id: id, spec: spec,
		changed: make(chan struct{}), reaper: make(chan struct{})}
	p.mu.Lock()
	p.fillLocked()
	p.mu.Unlock()
	go p.reap()
	return p
}

// configure takes a new spec's pool limits.
func (p *FastCGI) configure(spec Spec) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spec.MinProcesses, p.spec.MaxProcesses, p.spec.IdleTimeout = spec.MinProcesses, spec.MaxProcesses, spec.IdleTimeout
	p.spec.StopTimeout = spec.StopTimeout
	p.fillLocked()
	p.broadcastLocked()
}

func (p *FastCGI) limits() (lo, hi int, idle time.Duration) {
	lo, hi, idle = p.spec.MinProcesses, p.spec.MaxProcesses, p.spec.IdleTimeout
	if hi <= 0 {
		hi = 4
	}
	if lo > hi {
		lo = hi
	}
	if idle <= 0 {
		idle = 300 * time.Second
	}
	return lo, hi, idle
}

// Get hands out a connection to an idle process, starting one when none
// is idle and the pool has room, else waiting until one frees up or ctx
// ends.
func (p *FastCGI) Get(ctx context.Context) (*fastcgi.Conn, error) {
	dialFailures := 0
retry:
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("the application is stopped")
		}
		for _, fp := range p.procs {
			if fp.busy || fp.exited() {
				continue
			}
			fp.busy = true
			c := fp.conn
			fp.conn = nil
			p.mu.Unlock()
			if c == nil {
				var d net.Dialer
				nc, err := d.DialContext(ctx, "unix", fp.sock)
				if err != nil {
					p.mu.Lock()
					fp.busy = false
					p.broadcastLocked()
					p.mu.Unlock()
					// A process that died a moment ago: its watcher takes
					// it out; try the others (or a new one) first.
					if dialFailures++; dialFailures < 3 && ctx.Err() == nil {
						select {
						case <-fp.done:
						case <-ctx.Done():
						case <-time.After(100 * time.Millisecond):
						}
						continue retry
					}
					return nil, fmt.Errorf("connect to process %d: %w", fp.pid, err)
				}
				c = fastcgi.NewConn(nc)
			}
			p.mu.Lock()
			fp.active = c
			p.mu.Unlock()
			return c, nil
		}
		_, hi, _ := p.limits()
		if len(p.procs) < hi {
			wait := time.Until(p.until)
			if wait <= 0 {
				err := p.spawnLocked()
				p.mu.Unlock()
				if err != nil {
					return nil, err
				}
				continue
			}
			// Crashing at start: no fork in a loop. With no process to
			// wait for, a request that cannot wait out the back-off is
			// answered at once.
			dl, ok := ctx.Deadline()
			if len(p.procs) == 0 && (wait > time.Second || ok && time.Until(dl) < wait) {
				err := p.lastErr
				p.mu.Unlock()
				if err == nil {
					err = errors.New("the application keeps exiting")
				}
				return nil, fmt.Errorf("not restarted yet (back-off %v): %w", wait.Round(time.Millisecond), err)
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
			// The back-off may have ended.
		}
	}
}

// Put takes a connection back from a request.
func (p *FastCGI) Put(c *fastcgi.Conn, reusable bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, fp := range p.procs {
		if fp.active != c {
			continue
		}
		fp.active = nil
		fp.busy = false
		fp.lastUsed = time.Now()
		if reusable && !fp.exited() && !p.closed {
			fp.conn = c
		} else {
			c.Close()
		}
		p.broadcastLocked()
		return
	}
	c.Close() // its process is gone
}

func (p *FastCGI) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// spawnLocked starts one process on a new socket.
func (p *FastCGI) spawnLocked() error {
	p.seq++
	sock := filepath.Join(p.dir, "fcgi-"+strconv.Itoa(p.id)+"-"+strconv.Itoa(p.seq)+".sock")
	os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		p.failedLocked(err)
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(false) // the process keeps listening on it
	f, err := ln.File()
	ln.Close()
	if err != nil {
		os.Remove(sock)
		p.failedLocked(err)
		return err
	}
	proc, err := startProcess(p.spec, []string{"FCGI_SOCKET=" + sock}, f, p.log)
	f.Close() // only the process keeps the socket: connects fail once it is gone
	if err != nil {
		os.Remove(sock)
		p.failedLocked(err)
		p.log.Error("FastCGI process did not start", zap.String("app", p.name), zap.Error(err))
		return err
	}
	fp := &fcgiProc{process: proc, sock: sock, lastUsed: time.Now()}
	p.procs = append(p.procs, fp)
	p.log.Info("FastCGI process started", zap.String("app", p.name), zap.Int("pid", proc.pid),
		zap.Int("processes", len(p.procs)))
	go p.watch(fp)
	return nil
}

// failedLocked doubles the back-off after a start failure or an early exit.
func (p *FastCGI) failedLocked(err error) {
	p.lastErr = err
	p.backoff = min(max(2*p.backoff, 100*time.Millisecond), 10*time.Second)
	p.until = time.Now().Add(p.backoff)
}

// watch waits for fp to exit and takes it out of the pool.
func (p *FastCGI) watch(fp *fcgiProc) {
	<-fp.done
	os.Remove(fp.sock)
	p.mu.Lock()
	defer p.mu.Unlock()
	i := -1
	for j, o := range p.procs {
		if o == fp {
			i = j
		}
	}
	if i < 0 {
		return // stopped on purpose
	}
	p.procs = append(p.procs[:i], p.procs[i+1:]...)
	if fp.conn != nil {
		fp.conn.Close()
	}
	lived := time.Since(fp.started)
	p.log.Warn("FastCGI process exited", zap.String("app", p.name), zap.Int("pid", fp.pid),
		zap.Duration("lived", lived), zap.String("status", exitStatus(fp.err)))
	if lived < time.Second {
		p.failedLocked(fmt.Errorf("process %d exited after %v: %s", fp.pid, lived.Round(time.Millisecond), exitStatus(fp.err)))
	} else {
		p.backoff, p.until = 0, time.Time{}
	}
	p.fillLocked()
	p.broadcastLocked()
}

// fillLocked starts processes up to the minimum, now or when the back-off
// ends.
func (p *FastCGI) fillLocked() {
	if p.closed {
		return
	}
	lo, _, _ := p.limits()
	for len(p.procs) < lo {
		if wait := time.Until(p.until); wait > 0 {
			if p.respawn == nil {
				p.respawn = time.AfterFunc(wait, func() {
					p.mu.Lock()
					defer p.mu.Unlock()
					p.respawn = nil
					p.fillLocked()
					p.broadcastLocked()
				})
			}
			return
		}
		if p.spawnLocked() != nil {
			continue // spawn failed and set a back-off
		}
	}
}

// reap stops processes idle for longer than IdleTimeout, keeping the
// minimum.
func (p *FastCGI) reap() {
	for {
		p.mu.Lock()
		_, _, idle := p.limits()
		p.mu.Unlock()
		select {
		case <-p.reaper:
			return
		case <-time.After(min(max(idle/4, 10*time.Millisecond), time.Second)):
		}
		p.mu.Lock()
		lo, _, idle := p.limits()
		var victims []*fcgiProc
		for i := 0; i < len(p.procs) && len(p.procs) > lo; {
			fp := p.procs[i]
			if !fp.busy && time.Since(fp.lastUsed) > idle {
				victims = append(victims, fp)
				p.procs = append(p.procs[:i], p.procs[i+1:]...)
				continue
			}
			i++
		}
		grace := p.spec.stopTimeout()
		p.mu.Unlock()
		for _, fp := range victims {
			p.log.Info("FastCGI process idle, stopping", zap.String("app", p.name), zap.Int("pid", fp.pid))
			if fp.conn != nil {
				fp.conn.Close()
			}
			go fp.stop(grace)
		}
	}
}

// close stops every process and returns when all have exited or ctx ended.
func (p *FastCGI) close(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.reaper)
	if p.respawn != nil {
		p.respawn.Stop()
	}
	procs := p.procs
	p.procs = nil
	grace := p.spec.stopTimeout()
	p.broadcastLocked()
	p.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < grace {
		grace = max(time.Until(dl), 0)
	}
	var wg sync.WaitGroup
	for _, fp := range procs {
		if fp.conn != nil {
			fp.conn.Close()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fp.stop(grace)
			os.Remove(fp.sock)
		}()
	}
	wg.Wait()
}

// PIDs lists the running processes, for status pages and tests.
func (p *FastCGI) PIDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, fp := range p.procs {
		out = append(out, fp.pid)
	}
	return out
}

// exitStatus describes how a process ended.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
