package admin

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// limiter refuses a client that failed to authenticate maxFailures times in
// the last window: a sliding window per client IP. It keeps at most maxClients
// addresses; when full it forgets the expired ones first, then the client
// whose newest failure is the oldest, so memory stays bounded under a flood of
// addresses.
type limiter struct {
	mu          sync.Mutex
	now         func() time.Time
	window      time.Duration
	maxFailures int
	maxClients  int
	failures    map[netip.Addr][]time.Time // newest last, at most maxFailures
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{
		now:         now,
		window:      time.Minute,
		maxFailures: 5,
		maxClients:  10000,
		failures:    make(map[netip.Addr][]time.Time),
	}
}

// retryAfter returns how long ip must wait, 0 when it may try now.
func (l *limiter) retryAfter(ip netip.Addr) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(ip)
	if len(ts) < l.maxFailures {
		return 0
	}
	// Blocked until the oldest of the last maxFailures leaves the window.
	return ts[len(ts)-l.maxFailures].Add(l.window).Sub(l.now())
}

// fail records a failed attempt by ip.
func (l *limiter) fail(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(ip)
	if ts == nil && len(l.failures) >= l.maxClients {
		l.evict()
	}
	ts = append(ts, l.now())
	if len(ts) > l.maxFailures {
		ts = ts[len(ts)-l.maxFailures:]
	}
	l.failures[ip] = ts
}

// recent drops ip's failures older than the window and returns the rest.
func (l *limiter) recent(ip netip.Addr) []time.Time {
	ts := l.failures[ip]
	cut := l.now().Add(-l.window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i == len(ts) {
		delete(l.failures, ip)
		return nil
	}
	ts = ts[i:]
	l.failures[ip] = ts
	return ts
}

func (l *limiter) evict() {
	var oldest netip.Addr
	var oldestT time.Time
	for ip := range l.failures {
		ts := l.recent(ip)
		if ts == nil {
			continue
		}
		if last := ts[len(ts)-1]; oldestT.IsZero() || last.Before(oldestT) {
			oldest, oldestT = ip, last
		}
	}
	if len(l.failures) >= l.maxClients {
		delete(l.failures, oldest)
	}
}

// clientIP is the address of r's peer. Forwarded headers are ignored: the
// admin pages trust only the connection.
func clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}
