// Package core runs one <server> of resin.xml: its listeners, host and
// web-app routing, the rewrite rules, static files, session ids, hot swap
// of configuration snapshots, graceful shutdown and the access log.
package core

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/cluster"
	"resind/conf"
	"resind/core/loop"
	"resind/kernel"
	"resind/proxy"
)

// Options are what the command line hands to New.
type Options struct {
	// ServerID is the <server id> to run; "" when the configuration has
	// exactly one server.
	ServerID string
	// DataDir is the server's own state directory (DATA/ID), already
	// created.
	DataDir string
	Log     *zap.Logger
	// AccessLog receives one combined-format line per request; nil for
	// none.
	AccessLog io.Writer
	// Inherited are listening sockets handed over by the process this one
	// replaces (see ListenerFiles), by listener key. Listen uses them
	// instead of binding; those the configuration no longer has are closed.
	Inherited map[string]net.Listener
	// Dataplane DataplaneEpoll serves the plain <http> listeners on the
	// event loops of core/loop (Linux; docs/dataplane.md); "" on core/h1's
	// goroutines. DataplaneLoops is the loops' count, 0 for core/loop's
	// default.
	Dataplane      string
	DataplaneLoops int
}

// DataplaneEpoll is Options.Dataplane for core/loop.
const DataplaneEpoll = "epoll"

// Server is one running <server>.
//
// Lifecycle: New builds the runtime of the first snapshot without touching
// the network; Listen binds every listener; Serve answers on them until
// Shutdown. Apply swaps in a new snapshot at any time: requests already
// running finish on the runtime they started with, listeners that appear
// are opened and those that vanish drain and close. One proxy.Registry
// lives as long as the Server, so backend health and connection pools
// survive reloads.
type Server struct {
	id      string
	log     *zap.Logger
	opts    Options
	reg     *proxy.Registry
	access  *accessLog
	started time.Time

	inherited *inherited // sockets from a predecessor, taken by bind
	rt        atomic.Pointer[runtime]
	mounts    atomic.Pointer[[]mount]
	cache     atomic.Pointer[proxyCache]    // nil without <proxy-cache>
	cluster   atomic.Pointer[cluster.Node]  // set by SetCluster
	hardcore  atomic.Pointer[kernel.Keeper] // set by SetHardCore (kernel.go)
	// deployed are the web-apps served from the deployment repository
	// (deploy.go); they outlive reloads.
	deployed atomic.Pointer[[]deployedApp]
	// apps are the supervised programs and FastCGI pools (apps.go).
	apps appState

	requests atomic.Uint64
	errors   atomic.Uint64
	// fastPath counts the requests the event loops answered themselves.
	fastPath atomic.Uint64
	leftPort atomic.Int32 // an <http> port left to the kernel module (kernel.go)
	latency  latency
	// reloads and refusals count configuration edits applied and refused.
	reloads, refusals atomic.Uint64

	// mu serialises Listen, Serve, Apply and Shutdown and guards what
	// follows.
	mu         sync.Mutex
	mountMu    sync.Mutex
	listeners  map[string]*listener // by listenSpec.key
	draining   map[*listener]bool
	drains     sync.WaitGroup
	listening  bool
	serving    bool
	closed     bool
	lastReload ReloadStatus

	done     chan struct{} // closed when Shutdown has finished
	serveErr chan error    // a listener failed
}

type mount struct {
	prefix string
	h      http.Handler
}

// New builds the runtime of cfg for the server opts.ServerID. It opens no
// socket. It fails when the server is not in cfg or cfg cannot run (a rule
// balancing to a missing cluster, say); the error lists every problem as
// "file:line: reason".
func New(cfg *conf.Config, opts Options) (*Server, error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	sc, err := cfg.Server(opts.ServerID)
	if err != nil {
		return nil, err
	}
	s := &Server{
		id:        sc.ID,
		log:       log,
		opts:      opts,
		reg:       proxy.NewRegistry(log),
		started:   time.Now(),
		listeners: make(map[string]*listener),
		draining:  make(map[*listener]bool),
		done:      make(chan struct{}),
		serveErr:  make(chan error, 1),
	}
	if opts.AccessLog != nil {
		s.access = newAccessLog(opts.AccessLog)
	}
	if opts.Inherited != nil {
		s.inherited = newInherited(opts.Inherited)
	}
	rt, err := build(cfg, s.id, log)
	if err != nil {
		return nil, err
	}
	pc, err := s.cacheFor(rt)
	if err != nil {
		return nil, err
	}
	rt.instantiate(s.reg, pc)
	s.apps.instantiate(rt, log)
	s.cache.Store(pc)
	s.rt.Store(rt)
	s.lastReload = ReloadStatus{Time: time.Now(), OK: true}
	return s, nil
}

// Listen binds every listener of the server: each <http> and the cluster
// port. On error nothing stays bound and the error names the address.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is shut down")
	}
	if s.listening {
		return errors.New("server is already listening")
	}
	rt := s.rt.Load()
	var opened []*listener
	for _, sp := range s.bindable(rt) {
		l, err := s.bind(sp, rt.timeouts)
		if err != nil {
			for _, o := range opened {
				o.ln.Close()
			}
			return err
		}
		opened = append(opened, l)
	}
	for _, l := range opened {
		s.listeners[l.spec.key] = l
	}
	for _, key := range s.inherited.closeRest() {
		s.log.Info("inherited socket closed: the configuration no longer has it", zap.String("listener", key))
	}
	s.listening = true
	return nil
}

// Serve answers on the bound listeners, and on those later Applies open,
// until Shutdown; it then returns nil. It returns an error when a listener
// fails.
func (s *Server) Serve() error {
	s.mu.Lock()
	if !s.listening {
		s.mu.Unlock()
		return errors.New("Serve called before Listen")
	}
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.serving = true
	for _, l := range s.listeners {
		s.start(l)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case err := <-s.serveErr:
		return err
	}
}

// Apply swaps in the snapshot cfg. Its runtime is built and validated
// first, and new listeners bound; any failure leaves the running snapshot
// in place, is recorded as the last reload and returned. On success
// requests use the new snapshot from now on, listeners that vanished
// drain and close, and backends no longer configured are released.
// A listener whose address stays keeps its socket and the timeouts it was
// opened with.
func (s *Server) Apply(cfg *conf.Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("server is shut down")
	}
	rt, err := build(cfg, s.id, s.log)
	if err != nil {
		s.refuseLocked(err)
		return err
	}
	pc, err := s.cacheFor(rt)
	if err != nil {
		s.refuseLocked(err)
		return err
	}
	var opened []*listener
	if s.listening {
		for _, sp := range s.bindable(rt) {
			if s.listeners[sp.key] != nil {
				continue
			}
			l, err := s.bind(sp, rt.timeouts)
			if err != nil {
				for _, o := range opened {
					o.ln.Close()
				}
				if pc != nil && pc != s.cache.Load() {
					pc.close()
				}
				s.refuseLocked(err)
				return err
			}
			opened = append(opened, l)
		}
	}
	keep := rt.instantiate(s.reg, pc)
	keepApps := s.apps.instantiate(rt, s.log)
	s.rt.Store(rt)
	s.swapCache(pc)

	for _, l := range opened {
		s.listeners[l.spec.key] = l
		if s.serving {
			s.start(l)
		}
		s.log.Info("listener opened", zap.String("listener", l.spec.kind+" "+l.ln.Addr().String()))
	}
	for key, l := range s.listeners {
		if !slices.ContainsFunc(rt.listeners, func(sp listenSpec) bool { return sp.key == key }) {
			delete(s.listeners, key)
			s.log.Info("listener closing", zap.String("listener", l.spec.kind+" "+l.ln.Addr().String()))
			s.drain(l)
		}
	}
	s.reg.Retain(keep)
	s.apps.retain(keepApps)
	s.lastReload = ReloadStatus{Time: time.Now(), OK: true}
	s.reloads.Add(1)
	return nil
}

// Refused records a configuration edit that could not be loaded; Status
// shows it as the last reload.
func (s *Server) Refused(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseLocked(err)
}

func (s *Server) refuseLocked(err error) {
	s.lastReload = ReloadStatus{Time: time.Now(), OK: false, Error: err.Error()}
	s.refusals.Add(1)
}

// Shutdown stops accepting connections, lets in-flight requests finish
// until ctx ends, then closes everything. It returns ctx's error when
// requests had to be cut off.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	var all []*listener
	for _, l := range s.listeners {
		all = append(all, l)
	}
	for l := range s.draining {
		all = append(all, l)
	}
	s.listeners = map[string]*listener{}
	s.mu.Unlock()

	errs := make(chan error, len(all))
	for _, l := range all {
		go func() { errs <- closeListener(ctx, l) }()
	}
	var first error
	for range all {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	s.drains.Wait() // bounded: the drains' servers were shut down above
	s.apps.close()
	if pc := s.cache.Load(); pc != nil {
		pc.retire()
	}
	if s.access != nil {
		s.access.flush()
	}
	close(s.done)
	return first
}

// Mount serves every request whose path is prefix or below it with h, on
// every listener, before host routing (e.g. "/resin-admin").
func (s *Server) Mount(prefix string, h http.Handler) {
	prefix = "/" + strings.Trim(prefix, "/")
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	var ms []mount
	if old := s.mounts.Load(); old != nil {
		ms = slices.DeleteFunc(slices.Clone(*old), func(m mount) bool { return m.prefix == prefix })
	}
	ms = append(ms, mount{prefix: prefix, h: h})
	// Longest first, so a nested mount wins.
	slices.SortStableFunc(ms, func(a, b mount) int { return len(b.prefix) - len(a.prefix) })
	s.mounts.Store(&ms)
}

// Addrs lists the bound listeners in configuration order, e.g.
// "http 127.0.0.1:8080" and "cluster 127.0.0.1:6800".
func (s *Server) Addrs() []string {
	rt := s.rt.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sp := range rt.listeners {
		if l := s.listeners[sp.key]; l != nil {
			out = append(out, sp.kind+" "+l.ln.Addr().String())
		}
	}
	return out
}

// Status is a snapshot of the server for /resin-admin and `resind status`.
func (s *Server) Status() Status {
	rt := s.rt.Load()
	s.mu.Lock()
	last := s.lastReload
	s.mu.Unlock()
	return Status{
		ServerID:   rt.server.ID,
		ClusterID:  rt.server.ClusterID,
		Version:    Version,
		PID:        os.Getpid(),
		Started:    s.started,
		ConfigFile: rt.cfg.File,
		LastReload: last,
		Listeners:  s.Addrs(),
		Requests:   s.requests.Load(),
		Errors:     s.errors.Load(),
		FastPath:   s.fastPath.Load(),
		DataPlane:  s.dataPlane(),
		Latency:    s.latency.snapshot(),
		Reloads:    s.reloads.Load(),
		Refusals:   s.refusals.Load(),
		Warnings:   slices.Clone(rt.warnings),
		Backends:   s.reg.Status(),
		Caches:     s.cacheStatus(),
		Cluster:    s.clusterStatus(),
		Apps:       s.Apps(),
		HardCore:   s.hardcoreStatus(),
	}
}

// Registry is the backend registry, for the cluster membership code to
// mark backends down and up.
func (s *Server) Registry() *proxy.Registry { return s.reg }

// onLoops says the plain listeners are served on core/loop's event loops.
func (s *Server) onLoops() bool { return s.opts.Dataplane == DataplaneEpoll && loop.Supported }

// dataPlane is how the plain listeners are served.
func (s *Server) dataPlane() DataPlaneStatus {
	d := DataPlaneStatus{Kind: "goroutine", GOMAXPROCS: goruntime.GOMAXPROCS(0)}
	if s.onLoops() {
		d.Kind, d.Loops = DataplaneEpoll, s.opts.DataplaneLoops
		if d.Loops <= 0 {
			d.Loops = loop.DefaultLoops()
		}
	}
	return d
}
