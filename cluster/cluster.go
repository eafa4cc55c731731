// Package cluster makes the servers of resin.xml one cluster, as Resin
// does: every server is a member (hashicorp/memberlist gossip and failure
// detection, so each knows who is alive, suspect, dead or gone), and the
// first three servers of each cluster, its triad, keep a replicated
// key/value store with hashicorp/raft on a durable bolt log. The other
// servers are clients of their triad. Sessions and named caches live in
// that store, reached over HTTP on the cluster port (/resin/session/ID,
// /resin/cache/NAME/KEY) or with the Go client in cluster/client.
//
// All cluster traffic uses the server's cluster port, which is also where
// the web tier load-balances HTTP to: memberlist and raft streams are HTTP
// requests upgraded to raw connections (see mux). With a system key every
// request is signed and every stream sealed; without one only loopback
// peers are accepted.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/zap"

	"resind/conf"
)

// Timing are the failure-detection and election timeouts.
type Timing struct {
	ProbeInterval  time.Duration // memberlist: how often a member is pinged
	ProbeTimeout   time.Duration // memberlist: how long an ack may take
	SuspicionMult  int           // memberlist: suspect for mult × log(n) × interval before dead
	GossipInterval time.Duration
	PushPull       time.Duration // memberlist: full state exchange
	RaftHeartbeat  time.Duration
	RaftElection   time.Duration
	RaftLease      time.Duration
	JoinRetry      time.Duration // how often unreachable servers are tried again
	ExpireEvery    time.Duration // how often the leader drops expired entries
	// ReadWait is how long a read waits for a leader before it settles for
	// a triad member's (or this server's own) copy.
	ReadWait time.Duration
}

// DefaultTiming suits a LAN: memberlist's LAN profile and raft's defaults.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4,
		GossipInterval: 200 * time.Millisecond, PushPull: 30 * time.Second,
		RaftHeartbeat: time.Second, RaftElection: time.Second, RaftLease: 500 * time.Millisecond,
		JoinRetry: 5 * time.Second, ExpireEvery: 30 * time.Second, ReadWait: 3 * time.Second,
	}
}

// FastTiming suits servers on one machine (tests): a dead server is seen
// within a second or two, with enough slack that a loaded machine (a CI
// run under -race) does not take slowness for death. ReadWait outlasts an
// election on such a machine: a read that settles for a follower's copy
// while the old leader's last writes are still being committed can be
// stale (a session's counter read back one behind).
func FastTiming() Timing {
	return Timing{
		ProbeInterval: 250 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond, SuspicionMult: 3,
		GossipInterval: 50 * time.Millisecond, PushPull: 2 * time.Second,
		RaftHeartbeat: time.Second, RaftElection: time.Second, RaftLease: 500 * time.Millisecond,
		JoinRetry: 300 * time.Millisecond, ExpireEvery: time.Second, ReadWait: 6 * time.Second,
	}
}

// Options configure a Node.
type Options struct {
	Config   *conf.Config
	ServerID string
	// DataDir is the server's own directory; the raft log and snapshots
	// go under DataDir/cluster.
	DataDir string
	Log     *zap.Logger
	Timing  Timing
	// OnChange is called (from one goroutine at a time) when a member's
	// state changes; it must not block.
	OnChange func(MemberStatus)
}

// Node is this server's membership of the cluster.
//
// Lifecycle: New checks the configuration and prepares the HTTP handler,
// which core mounts on the cluster port; Start joins (and, on a triad
// member, starts raft); Stop leaves the cluster and releases everything.
type Node struct {
	opts  Options
	log   *zap.Logger
	auth  *Auth
	self  *conf.Server
	addr  string
	mux   *mux
	store *Store
	http  *http.Client
	local localCopies // this server's own copy of its sessions
	// cfg is the running configuration: session timeouts and caches
	// follow reloads, membership and the system key do not.
	cfg atomic.Pointer[conf.Config]

	servers map[string]*conf.Server // every server of the configuration
	triad   []*conf.Server          // this server's cluster's triad

	ml    *memberlist.Memberlist
	raft  *raft.Raft
	fsm   *fsm
	bolt  *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	table *table

	stop chan struct{}
	wg   sync.WaitGroup
	// stopped silences the callbacks memberlist's timers still make after
	// Shutdown (its suspicion timers are not cancelled).
	stopped atomic.Bool
}

// New prepares the node of server opts.ServerID.
func New(opts Options) (*Node, error) {
	self, err := opts.Config.Server(opts.ServerID)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Timing == (Timing{}) {
		opts.Timing = DefaultTiming()
	}
	n := &Node{
		opts: opts, log: opts.Log.Named("cluster"), auth: NewAuth(opts.Config.SystemKey), self: self,
		addr: ServerAddr(self), servers: map[string]*conf.Server{}, stop: make(chan struct{}),
	}
	for _, cl := range opts.Config.Clusters {
		for _, s := range cl.Servers {
			n.servers[s.ID] = s
			if cl.ID == self.ClusterID && len(n.triad) < 3 {
				n.triad = append(n.triad, s)
			}
		}
	}
	n.cfg.Store(opts.Config)
	n.table = newTable(n, opts.Config)
	n.mux = newMux(n.auth, self.ID, n.addr, n.log)
	n.http = &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}}
	n.store = &Store{n: n}
	return n, nil
}

// Reload takes the session timeouts and cache settings of cfg. Servers
// added or removed, the triad and the system key take effect when the
// server restarts; Reload reports those it cannot apply.
func (n *Node) Reload(cfg *conf.Config) []string {
	n.cfg.Store(cfg)
	var pending []string
	if cfg.SystemKey != n.opts.Config.SystemKey {
		pending = append(pending, "<resin-system-auth-key> changed")
	}
	ids := func(c *conf.Config) string {
		var out []string
		for _, cl := range c.Clusters {
			for _, s := range cl.Servers {
				out = append(out, cl.ID+"/"+s.ID+"@"+ServerAddr(s))
			}
		}
		return strings.Join(out, ",")
	}
	if ids(cfg) != ids(n.opts.Config) {
		pending = append(pending, "the servers changed")
	}
	return pending
}

// ServerAddr is the cluster address (host:port) of s.
func ServerAddr(s *conf.Server) string {
	host := s.Address
	if host == "" || host == "*" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(s.Port))
}

// Keyed reports whether cluster traffic is signed (a system key is set).
func (n *Node) Keyed() bool { return n.auth.Keyed() }

// Store is the replicated key/value store of this server's cluster.
func (n *Node) Store() *Store { return n.store }

// InTriad reports whether this server is one of its cluster's triad.
func (n *Node) InTriad() bool { return n.isTriad(n.self.ID) }

func (n *Node) isTriad(id string) bool {
	return slices.ContainsFunc(n.triad, func(s *conf.Server) bool { return s.ID == id })
}

// Start joins the cluster. It returns once this server's own part runs;
// joining the others goes on in the background until they answer.
func (n *Node) Start() error {
	t := n.opts.Timing
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.self.ID
	tr, err := newMLTransport(n.mux)
	if err != nil {
		return fmt.Errorf("cluster address %s: %w", n.addr, err)
	}
	mc.Transport = tr
	mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = t.ProbeInterval, t.ProbeTimeout, t.SuspicionMult
	mc.GossipInterval, mc.PushPullInterval = t.GossipInterval, t.PushPull
	mc.TCPTimeout = 2 * time.Second
	mc.DisableTcpPings = true // a packet stream is already TCP
	mc.Events = n.table
	mc.Ping = n.table
	mc.Delegate = n.table
	mc.LogOutput = &logWriter{log: n.log.Named("memberlist"), stopped: &n.stopped}
	if n.auth.Keyed() {
		mc.SecretKey = n.auth.streamKey("memberlist", "")[:32]
	}
	if n.ml, err = memberlist.Create(mc); err != nil {
		tr.Shutdown()
		return fmt.Errorf("cluster membership: %w", err)
	}
	if n.InTriad() {
		if err := n.startRaft(); err != nil {
			n.ml.Shutdown()
			return err
		}
	}
	n.wg.Add(1)
	go n.joinLoop()
	return nil
}

// joinLoop joins every configured server that is not a member, now and
// every JoinRetry, so that servers started in any order find each other
// and a server that was cut off is found again.
func (n *Node) joinLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.opts.Timing.JoinRetry)
	defer tick.Stop()
	for {
		known := map[string]bool{}
		for _, m := range n.ml.Members() {
			known[m.Name] = true
		}
		var addrs []string
		for id, s := range n.servers {
			if !known[id] {
				addrs = append(addrs, ServerAddr(s))
			}
		}
		if len(addrs) > 0 {
			n.ml.Join(addrs) // errors are the servers still down
		}
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
	}
}

func (n *Node) startRaft() error {
	t := n.opts.Timing
	dir := filepath.Join(n.opts.DataDir, "cluster")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("raft log %s: %w", dir, err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: &logWriter{log: n.log.Named("raft"), stopped: &n.stopped}})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		bolt.Close()
		return fmt.Errorf("raft snapshots %s: %w", dir, err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.self.ID)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = t.RaftHeartbeat, t.RaftElection, t.RaftLease
	rc.CommitTimeout = min(rc.CommitTimeout, t.RaftLease)
	rc.Logger = hl
	rc.SnapshotThreshold = 1024
	tcpAddr, err := net.ResolveTCPAddr("tcp", n.addr)
	if err != nil {
		bolt.Close()
		return err
	}
	trans := raft.NewNetworkTransportWithLogger(&raftLayer{m: n.mux, addr: tcpAddr}, 3, 2*time.Second, hl)
	n.fsm = newFSM()
	has, err := raft.HasExistingState(bolt, bolt, snaps)
	if err != nil {
		bolt.Close()
		return err
	}
	if !has {
		var cfg raft.Configuration
		for _, s := range n.triad {
			cfg.Servers = append(cfg.Servers, raft.Server{ID: raft.ServerID(s.ID), Address: raft.ServerAddress(ServerAddr(s))})
		}
		if err := raft.BootstrapCluster(rc, bolt, bolt, snaps, trans, cfg); err != nil {
			bolt.Close()
			return fmt.Errorf("raft bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, bolt, bolt, snaps, trans)
	if err != nil {
		bolt.Close()
		return fmt.Errorf("raft: %w", err)
	}
	n.raft, n.bolt, n.trans = r, bolt, trans
	n.wg.Add(1)
	go n.expireLoop()
	return nil
}

// expireLoop has the leader drop expired entries from every member's copy.
func (n *Node) expireLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.opts.Timing.ExpireEvery)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if n.raft.State() == raft.Leader {
			n.applyLocal(&command{Op: opExpire, Now: time.Now()}, n.opts.Timing.ExpireEvery)
		}
	}
}

// Stop leaves the cluster (the others see this server "left", not dead)
// and releases the raft log.
func (n *Node) Stop(ctx context.Context) {
	select {
	case <-n.stop:
		return
	default:
	}
	close(n.stop)
	if n.ml != nil {
		// Neither failure stops the stop: the others then see this server
		// dead instead of left, and the log says why.
		if err := n.table.announceLeave(); err != nil {
			n.log.Warn("goodbye not delivered", zap.Error(err))
		}
		timeout := 2 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(d))
		}
		if err := n.ml.Leave(timeout); err != nil {
			n.log.Warn("leaving the cluster", zap.Error(err))
		}
	}
	if n.raft != nil {
		// raft's calls take no context, and each is bounded here. A leader
		// that loses its leadership while handing it over waits for the
		// handover for ever (hashicorp/raft#696: CI saw a server stopped
		// while the others' terms moved on hang there), and its Shutdown
		// then waits for that goroutine. The handover only spares the
		// others an election, so it gets a few seconds; a Shutdown that
		// does not finish leaves the raft log to the process's exit rather
		// than closing it under raft. The log says which step gave up.
		if n.raft.State() == raft.Leader {
			if !waitUntil(ctx, stopStepTimeout, func() { n.raft.LeadershipTransfer().Error() }) {
				n.stuck("leadership handover did not finish; stopping without it")
			}
		}
		if waitUntil(ctx, stopStepTimeout, func() { n.raft.Shutdown().Error() }) {
			n.bolt.Close()
		} else {
			n.stuck("raft did not shut down in time; its log is left open until the process exits")
		}
	}
	if n.ml != nil {
		n.ml.Shutdown()
	}
	n.mux.close()
	if n.trans != nil {
		n.trans.Close()
	}
	if !waitUntil(ctx, stopStepTimeout, n.wg.Wait) {
		n.stuck("cluster tasks still running after the stop")
	}
	n.http.CloseIdleConnections()
	n.stopped.Store(true)
}

// stopStepTimeout bounds each step of a stop that a library call could
// hold for ever.
const stopStepTimeout = 5 * time.Second

// stuck says in the log that a step of the stop gave up after
// stopStepTimeout, and writes every goroutine's stack to stuckStacks, so
// that what held it can be found afterwards: the process goes on and
// exits, and the watchdog, which dumps them too, never fires.
func (n *Node) stuck(what string) {
	n.log.Error(what+"; the goroutines are on stderr", zap.Duration("waited", stopStepTimeout))
	buf := make([]byte, 4<<20)
	stuckStacks.Write(buf[:runtime.Stack(buf, true)])
}

// stuckStacks receives stuck's stacks: stderr, which is the server's
// ID.out under `resind start`.
var stuckStacks io.Writer = os.Stderr

// waitUntil runs f and reports whether it returned within d and before
// ctx ended. f keeps running when it did not.
func waitUntil(ctx context.Context, d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// logWriter routes memberlist's and raft's log lines to zap, dropping
// their debug chatter and the errors a dead peer causes on every retry
// (membership already says, once, that the peer is dead).
type logWriter struct {
	log     *zap.Logger
	stopped *atomic.Bool
}

// peerNoise are raft's complaints about an unreachable peer.
var peerNoise = []string{"failed to heartbeat", "failed to appendEntries", "failed to contact",
	"failed to make requestVote", "failed to decode incoming command", "failed to accept connection",
	"failed to pipeline appendEntries"}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.stopped.Load() {
		return len(p), nil
	}
	line := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(line, "[DEBUG]"), strings.Contains(line, "[TRACE]"):
	case slices.ContainsFunc(peerNoise, func(s string) bool { return strings.Contains(line, s) }):
		w.log.Debug(line)
	case strings.Contains(line, "[ERR]"), strings.Contains(line, "[ERROR]"):
		w.log.Error(line)
	case strings.Contains(line, "[WARN]"):
		w.log.Warn(line)
	default:
		w.log.Info(line)
	}
	return len(p), nil
}

var _ io.Writer = (*logWriter)(nil)

var errNoLeader = errors.New("the triad has no leader")
