package cluster

import (
	"sync"
	"time"
)

// localCopies are the sessions this server wrote or read, kept beside the
// triad's copy: a session is stored on the server that owns it and backed
// up to the triad. The owner answers from its own copy when the triad
// cannot (it lost its quorum); the triad's copy is what a backup server
// reads when the owner dies.
type localCopies struct {
	mu     sync.Mutex
	m      map[string]Entry
	writes int
}

func (l *localCopies) put(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]Entry{}
	}
	if old, ok := l.m[e.Key]; ok && old.Version > e.Version {
		return // a newer write was seen already
	}
	l.m[e.Key] = e
	if l.writes++; l.writes%256 == 0 {
		now := time.Now()
		for k, e := range l.m {
			if e.expired(now) {
				delete(l.m, k)
			}
		}
	}
}

func (l *localCopies) get(key string) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if !ok || e.expired(time.Now()) {
		return Entry{}, false
	}
	return e, true
}

func (l *localCopies) drop(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}
