package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// Strategy chooses a backend for a request without a session.
type Strategy string

// The strategies of Resin's <resin:LoadBalance strategy>.
const (
	// Adaptive sends a request to the backend of least cost,
	// (100 × (active requests + 1) + latency in ms) ÷ weight, rotating
	// among ties. Counting the request being placed makes weights matter
	// for idle backends too.
	Adaptive Strategy = "adaptive"
	// RoundRobin rotates over the backends in proportion to their weights
	// (smooth weighted round-robin, as nginx does).
	RoundRobin Strategy = "round-robin"
)

// DefaultWeight is Resin's load-balance-weight.
const DefaultWeight = 100

// Backend is one server a Target balances over.
type Backend struct {
	// ID names the backend: the <server id> for a cluster, else the address.
	// The hashed choice of a session's backup depends on it.
	ID string
	// Address is host:port; it identifies the backend's state in the
	// Registry.
	Address string
	// Index is the server's index in its cluster, which its session ids
	// encode; -1 when the backend issues no sticky ids (HttpProxy).
	Index int
	// Weight is load-balance-weight; 0 means DefaultWeight.
	Weight int
	// Backup backends receive requests only when no other is available.
	Backup bool
	// Timeout holds the load-balance timeouts; zero fields take Resin's
	// defaults.
	Timeout conf.Timeouts
}

// Target is what one rewrite rule balances over.
type Target struct {
	// Name is the cluster id, or a name for an HttpProxy rule.
	Name     string
	Backends []Backend
	Strategy Strategy // "" is Adaptive
	// Sticky sends a request carrying a session id to the server that
	// issued it.
	Sticky        bool
	SessionCookie string // default JSESSIONID
}

// Balancer is an http.Handler proxying to one Target. It is immutable once
// built by Registry.Balancer, apart from the round-robin position.
type Balancer struct {
	name          string
	strategy      Strategy
	sticky        bool
	cookie        string
	socketTimeout time.Duration
	log           *zap.Logger

	// members are the primaries, then the backups.
	members   []member
	primaries int
	byIndex   map[int]int // cluster index → position in members

	rotation atomic.Uint32 // where adaptive starts scanning, for ties

	rrMu      sync.Mutex
	rrCurrent []int64 // smooth weighted round-robin state, per member
}

// member is a backend as one Target sees it.
type member struct {
	b      *backend
	weight int64
	hash   uint64 // of the backend's id, for rendezvous hashing
}

// triedSet holds the members a request has already tried. The first 64
// live in a bitmask, so the common case does not allocate.
type triedSet struct {
	lo   uint64
	more map[int]bool
}

func (t *triedSet) has(i int) bool {
	if i < 64 {
		return t.lo&(1<<i) != 0
	}
	return t.more[i]
}

func (t *triedSet) add(i int) {
	if i < 64 {
		t.lo |= 1 << i
		return
	}
	if t.more == nil {
		t.more = make(map[int]bool)
	}
	t.more[i] = true
}

// pick chooses and claims a member for r, skipping tried ones: the
// session's owner when sticky, else by strategy, backups only when no
// primary is available. It returns -1 when none is left.
func (bl *Balancer) pick(r *http.Request, tried *triedSet) (int, bool) {
	var id string
	if bl.sticky {
		id = SessionID(r, bl.cookie)
	}
	for {
		now := nanotime()
		i := -1
		if id != "" {
			i = bl.pickSticky(id, tried, now)
		} else {
			i = bl.pickGroup(0, bl.primaries, tried, now)
			if i < 0 {
				i = bl.pickGroup(bl.primaries, len(bl.members), tried, now)
			}
		}
		if i < 0 {
			return -1, false
		}
		if ok, trial := bl.members[i].b.acquire(now); ok {
			return i, trial
		}
		// Lost a race (another request took the trial, or the state just
		// changed): skip it for this request.
		tried.add(i)
	}
}

func (bl *Balancer) pickGroup(lo, hi int, tried *triedSet, now int64) int {
	if lo >= hi {
		return -1
	}
	if bl.strategy == RoundRobin {
		return bl.pickRoundRobin(lo, hi, tried, now)
	}
	return bl.pickAdaptive(lo, hi, tried, now)
}
