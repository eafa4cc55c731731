package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// The states of a backend. A backend starts up. A failed connect makes it
// down for a back-off; when the back-off has passed, one request at a time
// may try it (recovering): success makes it up again, warming up; failure
// makes it down with the back-off doubled. A 503 makes it busy for
// load-balance-busy-recover-time, after which it is simply up again.
const (
	stateUp int32 = iota
	stateDown
	stateRecovering
	stateBusy
)

var stateNames = [...]string{"up", "down", "recovering", "busy"}

// initialBackoff is the first back-off after a failed connect; it doubles on
// each failed trial up to load-balance-recover-time.
const initialBackoff = time.Second

// epoch anchors nanotime: a monotonic clock cheap to store in an atomic.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// backendConfig is what the newest configuration says about a backend. It is
// replaced as a whole on reload and read through an atomic pointer.
type backendConfig struct {
	id      string
	target  string
	weight  int
	timeout conf.Timeouts
}

// backend is the live state of one address. It is created by the Registry
// the first time a configuration names the address and lives until a reload
// no longer names it (Registry.Retain); every Balancer built in between
// shares it, so health, counters and pooled connections survive reloads.
// The request path only touches atomics; mu serialises state transitions,
// which are rare.
type backend struct {
	addr string
	log  *zap.Logger

	cfg       atomic.Pointer[backendConfig]
	transport atomic.Pointer[http.Transport]
	direct    pool // GET and HEAD without a body (h1.go)

	state   atomic.Int32
	until   atomic.Int64 // nanotime until which down/busy holds
	backoff atomic.Int64 // current down back-off
	upSince atomic.Int64 // nanotime it recovered, 0 once warm

	active      atomic.Int64
	conns       atomic.Int64 // open upstream connections
	requests    atomic.Uint64
	failures    atomic.Uint64
	lastFailure atomic.Int64 // wall clock, Unix nanoseconds
	latency     atomic.Int64 // moving average of response times, ns
	sampled     atomic.Int64 // nanotime of the newest latency sample

	mu sync.Mutex
}

func newBackend(addr string, cfg *backendConfig, log *zap.Logger) *backend {
	b := &backend{addr: addr, log: log}
	b.cfg.Store(cfg)
	b.transport.Store(newTransport(b, cfg.timeout))
	b.direct.b = b
	return b
}

// configure applies a new configuration, replacing the transport only when
// the idle time changed (a live Transport's fields cannot be edited).
func (b *backend) configure(cfg *backendConfig) {
	old := b.cfg.Swap(cfg)
	if old.timeout.LoadBalanceIdleTime != cfg.timeout.LoadBalanceIdleTime {
		prev := b.transport.Swap(newTransport(b, cfg.timeout))
		prev.CloseIdleConnections()
		b.direct.closeIdle(false)
	}
}

// close drops the idle connections of a backend that is no longer
// configured; requests still using it finish normally.
func (b *backend) close() {
	b.transport.Load().CloseIdleConnections()
	b.direct.closeIdle(true)
}

func (b *backend) fields() []zap.Field {
	c := b.cfg.Load()
	return []zap.Field{zap.String("server", c.id), zap.String("address", b.addr), zap.String("cluster", c.target)}
}

// selectable reports whether acquire could succeed at now, without side
// effects, and whether the request would be the trial of a down backend.
func (b *backend) selectable(now int64) (ok, trial bool) {
	switch b.state.Load() {
	case stateUp:
		return true, false
	case stateBusy:
		return now >= b.until.Load(), false
	case stateDown:
		ok = now >= b.until.Load()
		return ok, ok
	}
	return false, false // recovering: its one trial is in flight
}

// acquire claims the backend for one request. trial reports that the
// request is the one probing a down backend; exactly one request at a time
// wins that claim.
func (b *backend) acquire(now int64) (ok, trial bool) {
	for {
		switch s := b.state.Load(); s {
		case stateUp:
			b.active.Add(1)
			return true, false
		case stateBusy:
			if now < b.until.Load() {
				return false, false
			}
			b.state.CompareAndSwap(stateBusy, stateUp)
		case stateDown:
			if now < b.until.Load() {
				return false, false
			}
			if b.state.CompareAndSwap(stateDown, stateRecovering) {
				b.active.Add(1)
				b.log.Info("backend recovering: sending a trial request", b.fields()...)
				return true, true
			}
		default:
			return false, false
		}
	}
}

// finish ends a request claimed by acquire.
func (b *backend) finish() { b.active.Add(-1) }

// succeeded records a response (any status but 503) after latency.
func (b *backend) succeeded(trial bool, latency time.Duration) {
	b.requests.Add(1)
	b.observe(latency)
	if trial {
		b.markUp("trial request succeeded")
	}
}

// observe folds one response time into the moving average (weight 1/8).
// A lost update under contention only drops one sample.
func (b *backend) observe(d time.Duration) {
	b.sampled.Store(nanotime())
	old := b.latency.Load()
	if old == 0 {
		b.latency.Store(int64(d))
		return
	}
	b.latency.Store(old + (int64(d)-old)/8)
}

// recentLatency is the moving average as the cost sees it: halved for each
// second without a sample, so that a backend once slow, and therefore no
// longer chosen while idle, is soon tried again and measured afresh.
func (b *backend) recentLatency(now int64) time.Duration {
	lat := b.latency.Load()
	if age := (now - b.sampled.Load()) / int64(time.Second); age > 0 {
		lat >>= min(age, 63)
	}
	return time.Duration(lat)
}

// markUp makes the backend up; one that was not up warms up from now.
func (b *backend) markUp(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev := b.state.Load()
	if prev == stateUp {
		return
	}
	if b.cfg.Load().timeout.LoadBalanceWarmupTime > 0 && prev != stateBusy {
		b.upSince.Store(max(nanotime(), 1))
	}
	b.backoff.Store(0)
	b.state.Store(stateUp)
	b.log.Info("backend up", append(b.fields(), zap.String("was", stateNames[prev]), zap.String("reason", reason))...)
}

// failed records a failure after the request was sent (reset, EOF, broken
// body). It leaves the state alone unless the request was the trial, whose
// failure sends the backend down again with a doubled back-off.
func (b *backend) failed(trial bool, err error) {
	b.requests.Add(1)
	b.recordFailure()
	if trial {
		b.markDown(err, true)
	}
}

func (b *backend) recordFailure() {
	b.failures.Add(1)
	b.lastFailure.Store(time.Now().UnixNano())
}

// dialFailed records a failed connect: the backend goes down.
func (b *backend) dialFailed(trial bool, err error) {
	b.recordFailure()
	b.markDown(err, trial)
}

// markDown sends the backend down. The back-off starts at one second and
// doubles with each failed trial, up to load-balance-recover-time. A backend
// already down (several requests failing at once) keeps its back-off.
func (b *backend) markDown(err error, trial bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	recover := b.cfg.Load().timeout.LoadBalanceRecoverTime
	prev := b.state.Load()
	var backoff time.Duration
	switch {
	case prev == stateRecovering && trial:
		backoff = min(max(2*time.Duration(b.backoff.Load()), initialBackoff), recover)
	case prev == stateDown || prev == stateRecovering:
		return
	default:
		backoff = min(initialBackoff, recover)
	}
	backoff = max(backoff, time.Millisecond)
	b.backoff.Store(int64(backoff))
	b.until.Store(nanotime() + int64(backoff))
	b.upSince.Store(0)
	b.state.Store(stateDown)
	f := append(b.fields(), zap.String("was", stateNames[prev]), zap.Duration("retry_in", backoff), zap.Error(err))
	if trial {
		b.log.Warn("backend still down", f...)
	} else {
		b.log.Warn("backend down", f...)
	}
}

// abandon gives a trial back when its request ended without telling
// anything about the backend (the client went away): the backend stays down
// and the next request may try it at once.
func (b *backend) abandon(trial bool) {
	if trial {
		b.state.CompareAndSwap(stateRecovering, stateDown)
	}
}

// markBusy records a 503: the backend is skipped for
// load-balance-busy-recover-time.
func (b *backend) markBusy(trial bool) {
	b.requests.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.cfg.Load().timeout.LoadBalanceBusyRecoverTime
	b.until.Store(nanotime() + int64(d))
	prev := b.state.Swap(stateBusy)
	if trial {
		b.backoff.Store(0)
	}
	if prev != stateBusy {
		b.log.Info("backend busy (503)", append(b.fields(), zap.Duration("retry_in", d))...)
	}
}

// forceDown is MarkDown: another component (cluster heartbeats) says the
// backend is gone. It is retried after load-balance-recover-time.
func (b *backend) forceDown(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := b.cfg.Load().timeout.LoadBalanceRecoverTime
	b.backoff.Store(int64(d))
	b.until.Store(nanotime() + int64(d))
	b.upSince.Store(0)
	if prev := b.state.Swap(stateDown); prev != stateDown {
		b.log.Warn("backend down", append(b.fields(), zap.String("was", stateNames[prev]), zap.String("reason", reason))...)
	}
}

// effectiveWeight is weight scaled by the warm-up: a backend that recovered
// at upSince ramps linearly from 1 to its full weight over
// load-balance-warmup-time.
func (b *backend) effectiveWeight(weight int64, now int64) int64 {
	el, warm, warming := b.warming(now)
	if !warming {
		return weight
	}
	return max(1, weight*el/warm)
}

// warming reports whether the backend is warming up at now, and if so how
// far into load-balance-warmup-time it is (el in [0, warm)). Once the
// warm-up is over it forgets when the backend recovered.
func (b *backend) warming(now int64) (el, warm int64, ok bool) {
	since := b.upSince.Load()
	if since == 0 {
		return 0, 0, false
	}
	warm = int64(b.cfg.Load().timeout.LoadBalanceWarmupTime)
	el = now - since
	if warm <= 0 || el >= warm {
		b.upSince.CompareAndSwap(since, 0)
		return 0, 0, false
	}
	return max(el, 0), warm, true
}

// warmDoublings is how many times the warm-up concurrency limit doubles
// over load-balance-warmup-time: from 1 to 256 concurrent requests, after
// which the backend is warm and unlimited.
const warmDoublings = 8

// warmCap is how many concurrent requests a backend warming up may hold,
// 2^(8 × elapsed ÷ warm-up); 0 means no limit (warm, or no warm-up).
func (b *backend) warmCap(now int64) int64 {
	el, warm, warming := b.warming(now)
	if !warming {
		return 0
	}
	return 1 << (warmDoublings * el / warm)
}

// status is a snapshot for Registry.Status.
func (b *backend) status() BackendStatus {
	c := b.cfg.Load()
	st := b.state.Load()
	if st == stateBusy && nanotime() >= b.until.Load() {
		st = stateUp
	}
	s := BackendStatus{
		ID:       c.id,
		Address:  b.addr,
		Target:   c.target,
		State:    stateNames[st],
		Active:   int(b.active.Load()),
		Requests: b.requests.Load(),
		Failures: b.failures.Load(),
		Latency:  time.Duration(b.latency.Load()),
		Weight:   c.weight,
	}
	s.Idle = max(0, int(b.conns.Load())-s.Active)
	if t := b.lastFailure.Load(); t != 0 {
		s.LastFailure = time.Unix(0, t)
	}
	return s
}
