package cluster

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"resind/conf"
)

// The states of a member, as Resin's admin shows them.
const (
	StateUnknown = "unknown" // not seen since this server started
	StateAlive   = "alive"
	StateSuspect = "suspect" // alive, but no heartbeat lately
	StateDead    = "dead"
	StateLeft    = "left" // stopped and said so
)

// MemberStatus is what this server knows of one server of the
// configuration.
type MemberStatus struct {
	ID      string
	Cluster string
	Address string // the cluster port, host:port
	Triad   bool
	Self    bool
	State   string
	// Since is when State began; LastHeartbeat is the last ack of this
	// server's probes (or the last sign of life), RTT its round trip.
	Since         time.Time
	LastHeartbeat time.Time
	RTT           time.Duration
}

// table follows memberlist's view of every configured server. It is
// memberlist's EventDelegate, PingDelegate and Delegate.
type table struct {
	n *Node

	mu      sync.Mutex
	members map[string]*MemberStatus
	order   []string
	leaving map[string]bool // said goodbye
	onMu    sync.Mutex      // serialises OnChange
}

const leaveMsg = "resind:leave"

func newTable(n *Node, cfg *conf.Config) *table {
	t := &table{n: n, members: map[string]*MemberStatus{}, leaving: map[string]bool{}}
	now := time.Now()
	for _, cl := range cfg.Clusters {
		for _, s := range cl.Servers {
			m := &MemberStatus{ID: s.ID, Cluster: cl.ID, Address: ServerAddr(s), State: StateUnknown,
				Triad: s.Index < 3, Self: s.ID == n.self.ID}
			if m.Self {
				m.State, m.Since = StateAlive, now
			}
			t.members[s.ID] = m
			t.order = append(t.order, s.ID)
		}
	}
	return t
}

// set moves member id to state and reports the change.
func (t *table) set(id, state string, beat bool) {
	if t.n.stopped.Load() {
		return
	}
	t.mu.Lock()
	m := t.members[id]
	if m == nil || m.Self {
		t.mu.Unlock()
		return
	}
	now := time.Now()
	if beat {
		m.LastHeartbeat = now
	}
	changed := m.State != state
	if changed {
		m.State, m.Since = state, now
	}
	if state == StateAlive {
		delete(t.leaving, id)
	}
	cp := *m
	t.mu.Unlock()
	if !changed {
		return
	}
	log := t.n.log.Info
	if state == StateDead {
		log = t.n.log.Warn
	}
	log("member "+state, zap.String("server", id), zap.String("address", cp.Address))
	if f := t.n.opts.OnChange; f != nil {
		t.onMu.Lock()
		f(cp)
		t.onMu.Unlock()
	}
}

// list is every configured server in document order; an alive member
// without a heartbeat for a few probe rounds is shown suspect.
func (t *table) list() []MemberStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	tm := t.n.opts.Timing
	quiet := time.Duration(len(t.order)+2)*tm.ProbeInterval + tm.ProbeTimeout
	if ml := t.n.ml; ml != nil {
		// memberlist probes more slowly while this server is itself slow.
		quiet *= time.Duration(ml.GetHealthScore() + 1)
	}
	out := make([]MemberStatus, 0, len(t.order))
	for _, id := range t.order {
		m := *t.members[id]
		if m.Self {
			m.LastHeartbeat = now
		} else if m.State == StateAlive && now.Sub(m.LastHeartbeat) > quiet {
			m.State = StateSuspect
		}
		out = append(out, m)
	}
	return out
}

func (t *table) NotifyJoin(node *memberlist.Node)   { t.set(node.Name, StateAlive, true) }
func (t *table) NotifyUpdate(node *memberlist.Node) { t.set(node.Name, StateAlive, true) }

func (t *table) NotifyLeave(node *memberlist.Node) {
	t.mu.Lock()
	left := t.leaving[node.Name]
	t.mu.Unlock()
	if left {
		t.set(node.Name, StateLeft, false)
	} else {
		t.set(node.Name, StateDead, false)
	}
}

// AckPayload and NotifyPingComplete make every acked probe a heartbeat.
func (t *table) AckPayload() []byte { return nil }

func (t *table) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	t.mu.Lock()
	if m := t.members[other.Name]; m != nil {
		m.LastHeartbeat, m.RTT = time.Now(), rtt
	}
	t.mu.Unlock()
}

// The Delegate carries the goodbye a stopping server sends, so that the
// others tell "left" from "dead".
func (t *table) NodeMeta(int) []byte { return nil }

func (t *table) NotifyMsg(b []byte) {
	if len(b) > len(leaveMsg) && string(b[:len(leaveMsg)]) == leaveMsg {
		id := string(b[len(leaveMsg)+1:])
		t.mu.Lock()
		m, ok := t.members[id]
		if ok {
			t.leaving[id] = true
		}
		// The goodbye may arrive just after the failure detector gave up.
		late := ok && m.State == StateDead && time.Since(m.Since) < 5*time.Second
		t.mu.Unlock()
		if late {
			t.set(id, StateLeft, false)
		}
	}
}

func (t *table) GetBroadcasts(int, int) [][]byte { return nil }
func (t *table) LocalState(bool) []byte          { return nil }
func (t *table) MergeRemoteState([]byte, bool)   {}

// announceLeave tells the other members this server is stopping, all at
// once, each bounded by memberlist's TCP timeout. The nodes are built from
// the configuration: those memberlist's Members returns are its own, which
// it goes on updating. A member not yet seen is told too: a server stopped
// just after it started may not have heard from a member that has already
// heard from it (a failure to reach such a member is not an error). Only
// members known dead or gone are skipped.
func (t *table) announceLeave() error {
	msg := []byte(leaveMsg + ":" + t.n.self.ID)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, m := range t.list() {
		if m.Self || m.State == StateDead || m.State == StateLeft {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := t.sendGoodbye(m, msg)
			if err != nil && m.State != StateUnknown {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", m.ID, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *table) sendGoodbye(m MemberStatus, msg []byte) error {
	host, ps, err := net.SplitHostPort(m.Address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err == nil && len(ips) == 0 {
			err = errors.New("no address")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
		ip = ips[0]
	}
	port, _ := strconv.Atoi(ps)
	return t.n.ml.SendReliable(&memberlist.Node{Name: m.ID, Addr: ip, Port: uint16(port)}, msg)
}

// Members is the state of every configured server, in document order.
func (n *Node) Members() []MemberStatus { return n.table.list() }

// Status is the cluster as this server sees it, for /resin-admin.
type Status struct {
	Self    string
	Cluster string
	Keyed   bool // traffic is signed with the system key
	Triad   []string
	// Leader is the triad's raft leader (a server id), "" when unknown;
	// RaftState is this server's raft role, "" outside the triad.
	Leader    string
	RaftState string
	Term      uint64
	Applied   uint64
	Members   []MemberStatus
}

// Status is a snapshot for /resin-admin.
func (n *Node) Status() Status {
	st := Status{Self: n.self.ID, Cluster: n.self.ClusterID, Keyed: n.Keyed(), Members: n.Members()}
	for _, s := range n.triad {
		st.Triad = append(st.Triad, s.ID)
	}
	if n.raft != nil {
		_, id := n.raft.LeaderWithID()
		st.Leader = string(id)
		st.RaftState = n.raft.State().String()
		st.Applied = n.raft.AppliedIndex()
		if v, ok := n.raft.Stats()["term"]; ok {
			st.Term, _ = parseUint(v)
		}
	} else {
		st.Leader = n.store.leaderHint()
	}
	st.Members = slices.Clip(st.Members)
	return st
}
