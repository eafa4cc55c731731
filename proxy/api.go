// Package proxy balances HTTP requests over a set of backends: the servers of
// an app-tier cluster (<resin:LoadBalance>) or plain HTTP servers
// (<resin:HttpProxy>). It keeps the state of each backend (health, pooled
// connections, load) in a Registry that outlives configuration reloads.
//
// CONTRACT SKETCH — the bodies here are placeholders to be replaced by the
// real implementation; the exported names and signatures are what core uses.
package proxy

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// Strategy chooses a backend for a request without a session.
type Strategy string

// The strategies of Resin's <resin:LoadBalance strategy>.
const (
	Adaptive   Strategy = "adaptive"
	RoundRobin Strategy = "round-robin"
)

// Backend is one server a Target balances over.
type Backend struct {
	// ID names the backend: the <server id> for a cluster, else the address.
	ID string
	// Address is host:port.
	Address string
	// Index is the server's index in its cluster, which its session ids
	// encode; -1 when the backend issues no sticky ids (HttpProxy).
	Index   int
	Weight  int
	Backup  bool
	Timeout conf.Timeouts
}

// Target is what one rewrite rule balances over.
type Target struct {
	// Name is the cluster id, or a name for an HttpProxy rule.
	Name          string
	Backends      []Backend
	Strategy      Strategy
	Sticky        bool
	SessionCookie string // default JSESSIONID
}

// Registry holds the state of every backend, keyed by address, for the life
// of the process. A reload builds new Balancers from the same Registry, so a
// backend that is still configured keeps its health and its pool.
type Registry struct{}

// NewRegistry returns an empty registry.
func NewRegistry(log *zap.Logger) *Registry { return &Registry{} }

// Balancer returns an http.Handler that balances requests over t. It may be
// called for every reload; state is shared through the registry.
func (r *Registry) Balancer(t Target) *Balancer { return &Balancer{} }

// Retain releases backends whose address is not in keep (closing their idle
// connections) after a reload.
func (r *Registry) Retain(keep map[string]bool) {}

// Status is a read-only snapshot of every backend, for /resin-admin.
func (r *Registry) Status() []BackendStatus { return nil }

// BackendStatus is the state of one backend.
type BackendStatus struct {
	ID, Address  string
	Target       string
	State        string // "up", "down", "recovering", "busy"
	Active, Idle int
	Requests     uint64
	Failures     uint64
	LastFailure  time.Time
	Latency      time.Duration
	Weight       int
}

// Balancer is an http.Handler proxying to one Target.
type Balancer struct{}

func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusServiceUnavailable)
}
