package app

import (
	"context"
	"errors"
	"os"
	"sync"

	"go.uber.org/zap"
)

// Registry holds the supervised programs of one server, keyed by
// Spec.Key, for the life of the server. Each configuration snapshot asks
// it for the programs its rules use (FastCGI, HTTP): a program already
// running is handed back with its new pool limits; Retain then stops those
// the snapshot no longer names, and Close stops all of them at shutdown.
// The Unix sockets live in a private temporary directory removed by Close.
type Registry struct {
	log *zap.Logger

	mu     sync.Mutex
	dir    string
	seq    int
	fcgi   map[string]*FastCGI
	http   map[string]*HTTP
	closed bool
}

// NewRegistry returns an empty registry logging to log (nil for none).
func NewRegistry(log *zap.Logger) *Registry {
	if log == nil {
		log = zap.NewNop()
	}
	return &Registry{log: log, fcgi: map[string]*FastCGI{}, http: map[string]*HTTP{}}
}

var errClosed = errors.New("the server is shutting down")

func (r *Registry) dirLocked() (string, error) {
	if r.dir == "" {
		// Short, under the system temp dir: a Unix socket path has a
		// limit of about 100 bytes.
		d, err := os.MkdirTemp("", "resind-apps-")
		if err != nil {
			return "", err
		}
		r.dir = d
	}
	return r.dir, nil
}

// FastCGI returns the pool running spec, starting it (and its minimum of
// processes) when it is new.
func (r *Registry) FastCGI(spec Spec) (*FastCGI, error) {
	key := spec.Key("fastcgi")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClosed
	}
	if p := r.fcgi[key]; p != nil {
		p.configure(spec)
		return p, nil
	}
	dir, err := r.dirLocked()
	if err != nil {
		return nil, err
	}
	r.seq++
	p := newFastCGI(spec, dir, r.seq, r.log)
	r.fcgi[key] = p
	return p, nil
}

// HTTP returns the application running spec, starting it when it is new.
func (r *Registry) HTTP(spec Spec) (*HTTP, error) {
	key := spec.Key("http")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errClosed
	}
	if a := r.http[key]; a != nil {
		return a, nil // health settings change with the next start
	}
	dir, err := r.dirLocked()
	if err != nil {
		return nil, err
	}
	r.seq++
	a := newHTTP(spec, dir, r.seq, r.log)
	r.http[key] = a
	return a, nil
}

// Retain stops, in the background, every program whose key (from
// Spec.Key) is not in keep.
func (r *Registry) Retain(keep map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, p := range r.fcgi {
		if !keep[k] {
			delete(r.fcgi, k)
			r.log.Info("FastCGI application no longer configured; stopping", zap.String("app", p.name))
			go p.close(context.Background())
		}
	}
	for k, a := range r.http {
		if !keep[k] {
			delete(r.http, k)
			r.log.Info("HTTP application no longer configured; stopping", zap.String("app", a.name))
			go a.close(context.Background())
		}
	}
}

// Close stops every program and waits until they have exited (each gets
// its StopTimeout after SIGTERM, then is killed) or ctx ends.
func (r *Registry) Close(ctx context.Context) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	var wg sync.WaitGroup
	for _, p := range r.fcgi {
		wg.Add(1)
		go func() { defer wg.Done(); p.close(ctx) }()
	}
	for _, a := range r.http {
		wg.Add(1)
		go func() { defer wg.Done(); a.close(ctx) }()
	}
	r.fcgi, r.http = nil, nil
	dir := r.dir
	r.mu.Unlock()
	wg.Wait()
	if dir != "" {
		os.RemoveAll(dir)
	}
}
