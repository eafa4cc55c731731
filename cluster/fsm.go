package cluster

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Entry is one key of the replicated store.
type Entry struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	// Version is the raft index of the write that set the value; it only
	// grows, so the last write wins and a compare-and-swap names it.
	Version uint64 `json:"version"`
	// Expires is when the entry vanishes; zero for never.
	Expires time.Time `json:"expires,omitzero"`
}

func (e *Entry) expired(now time.Time) bool {
	return !e.Expires.IsZero() && !now.Before(e.Expires)
}

// The operations of a command.
const (
	opPut         = "put"           // set
	opPutIfAbsent = "put-if-absent" // set unless present
	opReplace     = "replace"       // set only if present
	opCAS         = "cas"           // set only if Version matches (0: absent)
	opDelete      = "delete"        // remove
	opTouch       = "touch"         // renew the expiry of a present entry
	opExpire      = "expire"        // drop every entry expired at Now
	opGet         = "get"           // read (never logged)
	opList        = "list"          // read a prefix (never logged)
)

// command is one write to the store, as logged by raft. Now is the
// proposer's clock, so that every member expires entries alike.
type command struct {
	// ID names the request, so that a retry of a write that was applied
	// although its answer was lost gets the first answer instead of being
	// applied twice (a compare-and-swap would then fail on its own write).
	ID      string        `json:"id,omitempty"`
	Op      string        `json:"op"`
	Key     string        `json:"key,omitempty"`
	Value   []byte        `json:"value,omitempty"`
	TTL     time.Duration `json:"ttl,omitempty"`
	Version uint64        `json:"version,omitempty"`
	Now     time.Time     `json:"now"`
}

// result is what a command did.
type result struct {
	// OK reports whether the write happened (or, for get, the key exists).
	OK      bool    `json:"ok"`
	Entry   *Entry  `json:"entry,omitempty"`   // the entry after the command
	Entries []Entry `json:"entries,omitempty"` // list
	Index   uint64  `json:"index,omitempty"`   // list: the store's index
	Err     string  `json:"err,omitempty"`
	// Leader is the triad's leader as the answering member knows it.
	Leader string `json:"leader,omitempty"`
}

// fsm is the replicated key/value state machine of a triad member.
type fsm struct {
	mu      sync.RWMutex
	data    map[string]*Entry
	index   uint64        // last applied raft index
	changed chan struct{} // closed and replaced on every applied write
	// done are the answers of the last maxDone commands by ID, oldest
	// first in doneOrder.
	done      map[string]*result
	doneOrder []string
}

// maxDone bounds the answers kept for retried commands.
const maxDone = 4096

func newFSM() *fsm {
	return &fsm{data: map[string]*Entry{}, changed: make(chan struct{}), done: map[string]*result{}}
}

func (f *fsm) Apply(l *raft.Log) any {
	var c command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return &result{Err: "bad command: " + err.Error()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index = l.Index
	if r, ok := f.done[c.ID]; ok && c.ID != "" {
		return r
	}
	res := f.apply(&c, l.Index)
	if c.ID != "" {
		f.done[c.ID] = res
		f.doneOrder = append(f.doneOrder, c.ID)
		if len(f.doneOrder) > maxDone {
			delete(f.done, f.doneOrder[0])
			f.doneOrder = f.doneOrder[1:]
		}
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return res
}

func (f *fsm) apply(c *command, index uint64) *result {
	cur := f.data[c.Key]
	if cur != nil && cur.expired(c.Now) {
		delete(f.data, c.Key)
		cur = nil
	}
	set := func() *result {
		e := &Entry{Key: c.Key, Value: c.Value, Version: index}
		if c.TTL > 0 {
			e.Expires = c.Now.Add(c.TTL)
		}
		f.data[c.Key] = e
		cp := *e
		return &result{OK: true, Entry: &cp}
	}
	current := func(ok bool) *result {
		if cur == nil {
			return &result{OK: ok}
		}
		cp := *cur
		return &result{OK: ok, Entry: &cp}
	}
	switch c.Op {
	case opPut:
		return set()
	case opPutIfAbsent:
		if cur != nil {
			return current(false)
		}
		return set()
	case opReplace:
		if cur == nil {
			return current(false)
		}
		return set()
	case opCAS:
		if (cur == nil && c.Version != 0) || (cur != nil && cur.Version != c.Version) {
			return current(false)
		}
		return set()
	case opDelete:
		delete(f.data, c.Key)
		return current(cur != nil)
	case opTouch:
		if cur == nil {
			return current(false)
		}
		if c.TTL > 0 {
			cur.Expires = c.Now.Add(c.TTL)
		}
		return current(true)
	case opExpire:
		for k, e := range f.data {
			if e.expired(c.Now) {
				delete(f.data, k)
			}
		}
		return &result{OK: true}
	}
	return &result{Err: "unknown operation " + c.Op}
}

// get reads key as of the local clock.
func (f *fsm) get(key string) *result {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e := f.data[key]
	if e == nil || e.expired(time.Now()) {
		return &result{}
	}
	cp := *e
	return &result{OK: true, Entry: &cp}
}

// list reads every live entry under prefix, sorted by key, and the index
// it is current to.
func (f *fsm) list(prefix string) *result {
	f.mu.RLock()
	defer f.mu.RUnlock()
	now := time.Now()
	res := &result{OK: true, Index: f.index, Entries: []Entry{}}
	for k, e := range f.data {
		if strings.HasPrefix(k, prefix) && !e.expired(now) {
			res.Entries = append(res.Entries, *e)
		}
	}
	slices.SortFunc(res.Entries, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	return res
}

// wait returns a channel closed by the next write, and the current index.
func (f *fsm) wait() (<-chan struct{}, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed, f.index
}

type fsmSnapshot struct {
	Index uint64            `json:"index"`
	Data  map[string]*Entry `json:"data"`
	Done  []doneEntry       `json:"done,omitempty"`
}

type doneEntry struct {
	ID  string  `json:"id"`
	Res *result `json:"res"`
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	data := make(map[string]*Entry, len(f.data))
	for k, e := range f.data {
		cp := *e
		data[k] = &cp
	}
	done := make([]doneEntry, 0, len(f.doneOrder))
	for _, id := range f.doneOrder {
		done = append(done, doneEntry{id, f.done[id]})
	}
	return &fsmSnapshot{Index: f.index, Data: data, Done: done}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s fsmSnapshot
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return err
	}
	if s.Data == nil {
		s.Data = map[string]*Entry{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data, f.index = s.Data, s.Index
	f.done, f.doneOrder = map[string]*result{}, nil
	for _, d := range s.Done {
		f.done[d.ID] = d.Res
		f.doneOrder = append(f.doneOrder, d.ID)
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return nil
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
