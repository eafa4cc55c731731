package cache

import "sync"

// Request coalescing: while one request (the leader) fetches a key from
// the origin, other requests for the same key wait for it instead of
// sending their own.
//
// The leader is the first client's own request: it streams the response
// to its client while capturing it, and its origin request is not
// cancelled when that client goes away, so the waiters still get it. A
// waiter waits at most as long as its own client does.
//
// When the leader's response cannot be shared (not storable, or larger
// than max-entry-size) the waiters each go to the origin themselves:
// handing one client's uncacheable response (Set-Cookie, private,
// personalised) to others would leak it.
//
// This is a few lines of our own rather than x/sync/singleflight: the
// leader must run in its client's goroutine (it writes that client's
// ResponseWriter, and net/http recovers its panics), and waiters must be
// able to give up on their own context, which singleflight.Do cannot and
// DoChan does only by running the leader in a goroutine of its own.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one fetch in progress. res and stale are written by the
// leader before done is closed: the entry waiters may serve, or nil when
// they must fetch for themselves.
type flight struct {
	done    chan struct{}
	res     *entry
	stale   bool // res is a stale entry standing in for an origin error
	waiters int  // joined after the leader, guarded by flights.mu
}

// join returns the flight for key and whether the caller leads it. When
// there is none and lead is false (a request that may wait for a fetch but
// not start one, like a HEAD or a Range), it returns nil.
func (f *flights) join(key string, lead bool) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil {
		fl.waiters++
		return fl, false
	}
	if !lead {
		return nil, false
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

// finish ends the flight fl of key and releases its waiters.
func (f *flights) finish(key string, fl *flight) {
	f.mu.Lock()
	if f.m[key] == fl {
		delete(f.m, key)
	}
	f.mu.Unlock()
	close(fl.done)
}

// waiting returns how many requests joined the flight of key, -1 when
// there is none. Tests use it to know every request is waiting.
func (f *flights) waiting(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil {
		return fl.waiters
	}
	return -1
}
