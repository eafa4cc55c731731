package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
)

// Store is the replicated key/value store of a cluster, kept by its triad
// with raft. Every server of the cluster uses it the same way: a triad
// member applies writes itself when it leads, and forwards them to the
// leader otherwise; any other server sends them to a triad member. Each key
// has a version (the raft index of its last write: last write wins) and an
// optional expiry.
//
// Reads go to the leader; when the triad has no leader (quorum lost) Get
// falls back to any triad member's copy, which may be slightly behind.
type Store struct {
	n *Node

	mu       sync.Mutex
	via      string // the triad member (address) that answered last
	leaderID string // the leader that member named
}

// ErrUnavailable is returned when no triad member could take a request
// before the context ended.
var ErrUnavailable = errors.New("cluster store unavailable")

// Get reads key.
func (s *Store) Get(ctx context.Context, key string) (Entry, bool, error) {
	lctx, cancel := context.WithTimeout(ctx, s.n.opts.Timing.ReadWait)
	res, err := s.do(lctx, &command{Op: opGet, Key: key})
	cancel()
	if err != nil && ctx.Err() == nil {
		res, err = s.staleGet(ctx, key)
	}
	if err != nil {
		return Entry{}, false, err
	}
	return entryOf(res), res.OK, nil
}

// Put sets key to value; ttl > 0 makes it expire.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration) (Entry, error) {
	res, err := s.do(ctx, &command{Op: opPut, Key: key, Value: value, TTL: ttl})
	return entryOf(res), err
}

// PutIfAbsent sets key only when it has no value; otherwise it reports
// false and returns the present entry.
func (s *Store) PutIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (Entry, bool, error) {
	return s.cond(ctx, &command{Op: opPutIfAbsent, Key: key, Value: value, TTL: ttl})
}

// Replace sets key only when it has a value.
func (s *Store) Replace(ctx context.Context, key string, value []byte, ttl time.Duration) (Entry, bool, error) {
	return s.cond(ctx, &command{Op: opReplace, Key: key, Value: value, TTL: ttl})
}

// CompareAndSwap sets key only when its version is version (0: absent).
func (s *Store) CompareAndSwap(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (Entry, bool, error) {
	return s.cond(ctx, &command{Op: opCAS, Key: key, Version: version, Value: value, TTL: ttl})
}

// Touch renews the expiry of key to ttl from now; false when absent.
func (s *Store) Touch(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	res, err := s.do(ctx, &command{Op: opTouch, Key: key, TTL: ttl})
	return err == nil && res.OK, err
}

// Delete removes key and reports whether it had a value.
func (s *Store) Delete(ctx context.Context, key string) (bool, error) {
	res, err := s.do(ctx, &command{Op: opDelete, Key: key})
	return err == nil && res.OK, err
}

// List returns every entry whose key starts with prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]Entry, error) {
	res, err := s.do(ctx, &command{Op: opList, Key: prefix})
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

func (s *Store) cond(ctx context.Context, c *command) (Entry, bool, error) {
	res, err := s.do(ctx, c)
	if err != nil {
		return Entry{}, false, err
	}
	return entryOf(res), res.OK, nil
}

func entryOf(r *result) Entry {
	if r == nil || r.Entry == nil {
		return Entry{}
	}
	return *r.Entry
}

// do runs c on the leader, retrying other routes until ctx ends (an
// election takes a moment).
func (s *Store) do(ctx context.Context, c *command) (*result, error) {
	c.Now = time.Now()
	if c.Op != opGet && c.Op != opList {
		c.ID = nonce()
	}
	return s.retry(ctx, c, 0)
}

// retry runs c until it succeeds or ctx ends (10 s without a deadline).
func (s *Store) retry(ctx context.Context, c *command, hops int) (*result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	var last error
	for attempt := 0; ; attempt++ {
		res, err := s.once(ctx, c, hops)
		if err == nil {
			if res.Err != "" {
				return nil, errors.New(res.Err)
			}
			return res, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, last)
		case <-time.After(min(time.Duration(attempt+1)*50*time.Millisecond, 500*time.Millisecond)):
		}
	}
}

// once tries c one time: locally when this server leads, else through the
// leader it knows or a triad member. hops counts forwards, to stop loops.
func (s *Store) once(ctx context.Context, c *command, hops int) (*result, error) {
	n := s.n
	if n.raft != nil {
		if n.raft.State() == raft.Leader {
			return n.applyLocal(c, time.Until(deadlineOf(ctx)))
		}
		addr, _ := n.raft.LeaderWithID()
		if addr == "" {
			return nil, errNoLeader
		}
		return s.send(ctx, string(addr), c, hops+1, false)
	}
	// A client of the triad: the member that answered last, then each
	// triad member that is not known dead.
	var targets []string
	s.mu.Lock()
	if s.via != "" {
		targets = append(targets, s.via)
	}
	s.mu.Unlock()
	for _, m := range n.Members() {
		if m.Triad && m.Cluster == n.self.ClusterID && m.State != StateDead && m.State != StateLeft {
			targets = append(targets, m.Address)
		}
	}
	var last error = errNoLeader
	for _, addr := range targets {
		res, err := s.send(ctx, addr, c, hops+1, false)
		if err == nil {
			s.mu.Lock()
			s.via, s.leaderID = addr, res.Leader
			s.mu.Unlock()
			return res, nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	s.mu.Lock()
	s.via, s.leaderID = "", ""
	s.mu.Unlock()
	return nil, last
}

// leaderHint is, on a server outside the triad, the leader its last
// answer came from.
func (s *Store) leaderHint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderID
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(10 * time.Second)
}

// applyLocal runs c on this server, the leader: reads from its copy,
// writes through raft.
func (n *Node) applyLocal(c *command, timeout time.Duration) (*result, error) {
	switch c.Op {
	case opGet:
		return n.fsm.get(c.Key), nil
	case opList:
		return n.fsm.list(c.Key), nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	f := n.raft.Apply(b, max(timeout, 100*time.Millisecond))
	if err := f.Error(); err != nil {
		return nil, err
	}
	res, _ := f.Response().(*result)
	if res == nil {
		return nil, errors.New("raft: no result")
	}
	return res, nil
}

// kvRequest is the body of a POST to KVPath.
type kvRequest struct {
	Cmd  *command `json:"cmd"`
	Hops int      `json:"hops"`
	// Stale asks a triad member for its own copy (reads only).
	Stale bool `json:"stale,omitempty"`
	// After and Wait make a stale list wait until the store's index
	// passes After, for at most Wait (watches).
	After uint64        `json:"after,omitempty"`
	Wait  time.Duration `json:"wait,omitempty"`
}

// send posts c to the cluster port at addr.
func (s *Store) send(ctx context.Context, addr string, c *command, hops int, stale bool) (*result, error) {
	return s.post(ctx, addr, &kvRequest{Cmd: c, Hops: hops, Stale: stale})
}

func (s *Store) post(ctx context.Context, addr string, kr *kvRequest) (*result, error) {
	body, err := json.Marshal(kr)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+KVPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	s.n.auth.Sign(req, s.n.self.ID, body)
	resp, err := s.n.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", addr, resp.Status, strings.TrimSpace(string(rb)))
	}
	var res result
	if err := json.Unmarshal(rb, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return &res, nil
}

// staleGet reads key from any triad member's own copy.
func (s *Store) staleGet(ctx context.Context, key string) (*result, error) {
	if s.n.fsm != nil {
		return s.n.fsm.get(key), nil
	}
	var last error = ErrUnavailable
	for _, m := range s.n.Members() {
		if !m.Triad || m.Cluster != s.n.self.ClusterID || m.State == StateDead || m.State == StateLeft {
			continue
		}
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		res, err := s.send(c, m.Address, &command{Op: opGet, Key: key}, 1, true)
		cancel()
		if err == nil {
			return res, nil
		}
		last = err
	}
	return nil, last
}

// serveKV answers a store request from another server of the cluster.
func (n *Node) serveKV(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return
	}
	if err := n.auth.Verify(r, body); err != nil {
		n.mux.refuse(w, r, err)
		return
	}
	var kr kvRequest
	if err := json.Unmarshal(body, &kr); err != nil || kr.Cmd == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if n.raft == nil {
		http.Error(w, "not a triad member", http.StatusMisdirectedRequest)
		return
	}
	var res *result
	switch {
	case kr.Stale && kr.Cmd.Op == opGet:
		res = n.fsm.get(kr.Cmd.Key)
	case kr.Stale && kr.Cmd.Op == opList:
		res = n.waitList(r.Context(), kr.Cmd.Key, kr.After, min(kr.Wait, time.Minute))
	case kr.Hops > 2:
		http.Error(w, "too many forwards", http.StatusLoopDetected)
		return
	default:
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		res, err = n.store.retry(ctx, kr.Cmd, kr.Hops)
		cancel()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if _, id := n.raft.LeaderWithID(); id != "" {
		cp := *res // res may be the FSM's remembered answer: not ours to change
		cp.Leader = string(id)
		res = &cp
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// waitList lists prefix once the store's index passes after, or when wait
// has passed.
func (n *Node) waitList(ctx context.Context, prefix string, after uint64, wait time.Duration) *result {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		ch, idx := n.fsm.wait()
		if idx > after {
			break
		}
		select {
		case <-ch:
			continue
		case <-timer.C:
		case <-ctx.Done():
		case <-n.stop:
		}
		break
	}
	return n.fsm.list(prefix)
}

// EventKind says what happened to a key.
type EventKind string

// The kinds of watch events.
const (
	EventPut    EventKind = "put"
	EventDelete EventKind = "delete"
)

// Event is a change of one key under a watched prefix.
type Event struct {
	Kind  EventKind
	Entry Entry // for a delete, the entry as last seen
}

// Watch reports the entries under prefix as puts, then every later change,
// until ctx ends (the channel is then closed). Changes that happen in quick
// succession may be folded into one (only the latest value is reported), as
// with any level-triggered watch; a consumer that needs every step writes
// them under distinct keys.
func (s *Store) Watch(ctx context.Context, prefix string) <-chan Event {
	ch := make(chan Event)
	go s.watch(ctx, prefix, ch)
	return ch
}

func (s *Store) watch(ctx context.Context, prefix string, ch chan<- Event) {
	defer close(ch)
	seen := map[string]Entry{}
	var index uint64
	first := true
	for ctx.Err() == nil {
		entries, idx, err := s.watchList(ctx, prefix, index, first)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.n.opts.Timing.JoinRetry):
			}
			continue
		}
		first = false
		index = idx
		now := map[string]Entry{}
		for _, e := range entries {
			now[e.Key] = e
			if old, ok := seen[e.Key]; !ok || old.Version != e.Version {
				if !send(ctx, ch, Event{Kind: EventPut, Entry: e}) {
					return
				}
			}
		}
		for k, e := range seen {
			if _, ok := now[k]; !ok {
				if !send(ctx, ch, Event{Kind: EventDelete, Entry: e}) {
					return
				}
			}
		}
		seen = now
	}
}

func send(ctx context.Context, ch chan<- Event, e Event) bool {
	select {
	case ch <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchList lists prefix once the store passes index (at once when
// first), from this server's own copy on a triad member, else from one.
func (s *Store) watchList(ctx context.Context, prefix string, index uint64, first bool) ([]Entry, uint64, error) {
	wait := 30 * time.Second
	if first {
		wait = 0
	}
	if s.n.fsm != nil {
		res := s.n.waitList(ctx, prefix, index, wait)
		return res.Entries, res.Index, nil
	}
	var last error = ErrUnavailable
	for _, m := range s.n.Members() {
		if !m.Triad || m.Cluster != s.n.self.ClusterID || m.State == StateDead || m.State == StateLeft {
			continue
		}
		c, cancel := context.WithTimeout(ctx, wait+5*time.Second)
		res, err := s.post(c, m.Address, &kvRequest{Cmd: &command{Op: opList, Key: prefix}, Hops: 1, Stale: true, After: index, Wait: wait})
		cancel()
		if err == nil {
			return res.Entries, res.Index, nil
		}
		last = err
		s.n.log.Debug("watch", zap.String("triad", m.Address), zap.Error(err))
	}
	return nil, 0, last
}

func parseUint(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }
