package core

import (
	"time"

	"resind/app"
	"resind/proxy"
)

// Version is resind's version, printed by `resind version` and shown on
// /resin-admin. Release builds set it with -ldflags "-X resind/core.Version=…".
var Version = "0.1.0-dev"

// Status is a read-only snapshot of a running server, for /resin-admin,
// /metrics and `resind status`. Nothing in it aliases live state.
type Status struct {
	ServerID   string
	ClusterID  string
	Version    string
	PID        int
	Started    time.Time
	ConfigFile string
	// LastReload is the outcome of the newest configuration edit seen.
	LastReload ReloadStatus
	// Listeners are the addresses this server accepts connections on, e.g.
	// "http 0.0.0.0:8080" and "cluster 127.0.0.1:6800".
	Listeners []string
	// Requests and Errors (responses with status >= 500) since start.
	Requests uint64
	Errors   uint64
	// FastPath is how many of Requests the epoll data plane answered
	// itself (relayed by LoadBalance or HttpProxy, cache hits); the others
	// went through core/h1 or net/http.
	FastPath uint64
	// DataPlane is how the plain listeners are served.
	DataPlane DataPlaneStatus
	// Latency is the histogram of request durations since start.
	Latency Histogram
	// Reloads and Refusals count the configuration edits applied and
	// refused since start.
	Reloads, Refusals uint64
	// Warnings of the running configuration, "file:line: reason".
	Warnings []string
	// Backends is the state of every load-balanced backend.
	Backends []proxy.BackendStatus
	// Caches are the proxy caches this server runs (one per cluster with
	// <proxy-cache>), empty when none.
	Caches []CacheStatus
	// Cluster is the membership and triad, nil when no cluster member runs.
	Cluster *ClusterStatus
	// Apps are the supervised application programs (FastCGI pools and HTTP
	// app servers) this server runs.
	Apps []app.Status
	// HardCore is the kernel fast path (resin.ko) serving one of this
	// server's ports, nil when none does.
	HardCore *HardCoreStatus
}

// DataPlaneStatus is how the plain <http> listeners are served
// (docs/dataplane.md).
type DataPlaneStatus struct {
	// Kind is "epoll" (core/loop's event loops) or "goroutine" (core/h1
	// and net/http, a goroutine per connection).
	Kind string
	// Loops is the number of event loops of each listener, 0 on
	// goroutines.
	Loops int
	// GOMAXPROCS is the Go runtime's number of Ps.
	GOMAXPROCS int
}

// ReloadStatus is the outcome of a configuration load.
type ReloadStatus struct {
	Time time.Time
	OK   bool
	// Error is the refusal, one "file:line: reason" per line, when !OK.
	Error string
}

// CacheStatus are the counters of one proxy cache.
type CacheStatus struct {
	Cluster       string
	Hits          uint64
	Misses        uint64
	Revalidations uint64
	Stores        uint64
	Evictions     uint64
	Bytes         int64
	MemorySize    int64
	Entries       int64
}

// HitRatio is hits ÷ (hits + misses), 0 when there was no lookup.
func (c CacheStatus) HitRatio() float64 {
	if n := c.Hits + c.Misses; n > 0 {
		return float64(c.Hits) / float64(n)
	}
	return 0
}
