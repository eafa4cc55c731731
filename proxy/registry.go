// Package proxy balances HTTP requests over a set of backends: the servers of
// an app-tier cluster (<resin:LoadBalance>) or plain HTTP servers
// (<resin:HttpProxy>). It keeps the state of each backend (health, pooled
// connections, load) in a Registry that outlives configuration reloads.
package proxy

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// Registry holds the state of every backend, keyed by address, for the life
// of the process. A reload builds new Balancers from the same Registry, so a
// backend that is still configured keeps its health and its pool; Retain
// then forgets the ones the new configuration dropped.
type Registry struct {
	log *zap.Logger

	mu       sync.Mutex
	backends map[string]*backend
}

// NewRegistry returns an empty registry logging state changes to log (nil
// for none).
func NewRegistry(log *zap.Logger) *Registry {
	if log == nil {
		log = zap.NewNop()
	}
	return &Registry{log: log, backends: make(map[string]*backend)}
}

// Balancer returns an http.Handler that balances requests over t. It may be
// called for every reload and from several goroutines; a backend whose
// address was already known keeps its state and connections and takes the
// new weight and timeouts.
func (r *Registry) Balancer(t Target) *Balancer {
	bl := &Balancer{
		name:     t.Name,
		strategy: t.Strategy,
		sticky:   t.Sticky,
		cookie:   t.SessionCookie,
		log:      r.log,
		byIndex:  make(map[int]int),
	}
	if bl.strategy != RoundRobin {
		bl.strategy = Adaptive
	}
	if bl.cookie == "" {
		bl.cookie = DefaultSessionCookie
	}
	// Primaries first, then backups, each in configuration order.
	ordered := make([]Backend, 0, len(t.Backends))
	for _, backup := range []bool{false, true} {
		for _, c := range t.Backends {
			if c.Backup == backup {
				ordered = append(ordered, c)
			}
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(ordered))
	for _, c := range ordered {
		if seen[c.Address] {
			continue
		}
		seen[c.Address] = true
		cfg := &backendConfig{id: c.ID, target: t.Name, weight: c.Weight, timeout: withDefaults(c.Timeout)}
		if cfg.id == "" {
			cfg.id = c.Address
		}
		if cfg.weight <= 0 {
			cfg.weight = DefaultWeight
		}
		b := r.backends[c.Address]
		if b == nil {
			b = newBackend(c.Address, cfg, r.log)
			r.backends[c.Address] = b
		} else {
			b.configure(cfg)
		}
		if c.Index >= 0 {
			if _, dup := bl.byIndex[c.Index]; !dup {
				bl.byIndex[c.Index] = len(bl.members)
			}
		}
		if !c.Backup {
			bl.primaries++
		}
		bl.members = append(bl.members, member{b: b, weight: int64(cfg.weight), hash: hashString(cfg.id)})
		if bl.socketTimeout == 0 {
			bl.socketTimeout = cfg.timeout.LoadBalanceSocketTimeout
		}
	}
	bl.rrCurrent = make([]int64, len(bl.members))
	return bl
}

// withDefaults fills the zero fields of t with Resin's defaults.
func withDefaults(t conf.Timeouts) conf.Timeouts {
	d := conf.DefaultTimeouts
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&t.LoadBalanceConnectTimeout, d.LoadBalanceConnectTimeout)
	fill(&t.LoadBalanceIdleTime, d.LoadBalanceIdleTime)
	fill(&t.LoadBalanceRecoverTime, d.LoadBalanceRecoverTime)
	fill(&t.LoadBalanceBusyRecoverTime, d.LoadBalanceBusyRecoverTime)
	fill(&t.LoadBalanceSocketTimeout, d.LoadBalanceSocketTimeout)
	fill(&t.KeepaliveTimeout, d.KeepaliveTimeout)
	fill(&t.SocketTimeout, d.SocketTimeout)
	// A zero warm-up is meaningful (none), but the loader always fills it,
	// so only a negative one is replaced.
	if t.LoadBalanceWarmupTime < 0 {
		t.LoadBalanceWarmupTime = d.LoadBalanceWarmupTime
	}
	return t
}

// Retain releases backends whose address is not in keep (closing their idle
// connections) after a reload. Balancers of the previous configuration that
// still run requests keep working with them.
func (r *Registry) Retain(keep map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for addr, b := range r.backends {
		if !keep[addr] {
			delete(r.backends, addr)
			b.close()
			r.log.Info("backend removed", b.fields()...)
		}
	}
}

// Status is a read-only snapshot of every backend, sorted by target and
// then server id, for /resin-admin.
func (r *Registry) Status() []BackendStatus {
	r.mu.Lock()
	out := make([]BackendStatus, 0, len(r.backends))
	for _, b := range r.backends {
		out = append(out, b.status())
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b BackendStatus) int {
		return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Address, b.Address))
	})
	return out
}

// MarkDown takes the backend at addr out of rotation, as when cluster
// heartbeats lose it; it is tried again after load-balance-recover-time.
// It reports whether addr is known.
func (r *Registry) MarkDown(addr string) bool {
	b := r.lookup(addr)
	if b != nil {
		b.forceDown("marked down")
	}
	return b != nil
}

// MarkUp puts the backend at addr back in rotation (warming up), as when
// cluster heartbeats see it again. It reports whether addr is known.
func (r *Registry) MarkUp(addr string) bool {
	b := r.lookup(addr)
	if b != nil {
		b.markUp("marked up")
	}
	return b != nil
}

func (r *Registry) lookup(addr string) *backend {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backends[addr]
}

// BackendStatus is the state of one backend.
type BackendStatus struct {
	ID, Address string
	Target      string
	State       string // "up", "down", "recovering", "busy"
	// Active requests, and idle pooled connections.
	Active, Idle int
	// Requests answered and failures (connects and broken exchanges).
	Requests    uint64
	Failures    uint64
	LastFailure time.Time // zero when it never failed
	// Latency is the moving average of response times (to the headers).
	Latency time.Duration
	Weight  int
}
