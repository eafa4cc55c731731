package kernel

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Member is a server of the cluster the module balances to.
type Member struct {
	ID      string
	Address string         // as configured, host:port (the balancer's key)
	Addr    netip.AddrPort // its cluster port, resolved
	Index   int            // its index in the cluster
	Backup  bool
}

// Keeper keeps the module's sruns equal to the healthy members of a
// cluster. It probes each member (a TCP connect) every Interval, and
// rewrites the srun files whenever the healthy set differs from what the
// module holds: at start, after SetMembers (a reload), and on every change
// of health. Healthy primaries are listed; backups only when no primary is.
//
// Lifecycle: make one with NewKeeper, call Run in its own goroutine until
// its context ends; SetMembers and Status may be called meanwhile.
type Keeper struct {
	proc *Proc
	log  *zap.Logger
	// Interval between probes, and how long a probe may take.
	Interval, ProbeTimeout time.Duration
	// Usable, when set, must also hold for a member to be listed: the
	// balancer's own view (cluster membership marks dead servers down).
	Usable func(m Member) bool

	kick chan struct{}
	// dial connects to addr, net.Dialer's by default (tests replace it).
	dial func(ctx context.Context, addr string) error

	mu      sync.Mutex
	members []Member
	health  map[netip.AddrPort]bool
	fails   map[netip.AddrPort]int  // probes failed in a row
	refused map[netip.AddrPort]bool // the last probe was refused outright
	status  Status
}

// failAfter is how many probes in a row must time out before a member
// that was up is left out; a refused connection leaves it out at once.
const failAfter = 2

// Status is what the keeper last did, for /resin-admin.
type Status struct {
	Dir       string
	Port      int
	Sruns     []Srun    // as last written or confirmed
	Written   time.Time // the last rewrite
	Rewrites  int
	LastError string
}

// NewKeeper returns a keeper of p's sruns, logging to log.
func NewKeeper(p *Proc, log *zap.Logger) *Keeper {
	if log == nil {
		log = zap.NewNop()
	}
	port, _ := p.ServerPort()
	return &Keeper{
		proc: p, log: log,
		Interval: 500 * time.Millisecond, ProbeTimeout: time.Second,
		kick:   make(chan struct{}, 1),
		health: make(map[netip.AddrPort]bool),
		fails:  make(map[netip.AddrPort]int), refused: make(map[netip.AddrPort]bool),
		status: Status{Dir: p.Dir(), Port: port},
	}
}

// SetMembers replaces the members (after a reload) and syncs at once.
func (k *Keeper) SetMembers(ms []Member) {
	k.mu.Lock()
	k.members = slices.Clone(ms)
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of what the keeper did last.
func (k *Keeper) Status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.status
	s.Sruns = slices.Clone(s.Sruns)
	return s
}

// Run syncs until ctx ends.
func (k *Keeper) Run(ctx context.Context) {
	t := time.NewTicker(k.Interval)
	defer t.Stop()
	for {
		k.Sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
		}
	}
}

// Sync probes the members once and rewrites the sruns if they differ.
func (k *Keeper) Sync(ctx context.Context) {
	k.mu.Lock()
	ms := slices.Clone(k.members)
	k.mu.Unlock()

	up := k.probe(ctx, ms)
	if ctx.Err() != nil {
		return
	}
	k.mu.Lock()
	for i, m := range ms {
		// A refused connect fails at once; a slow one (a starved machine)
		// only counts when it happens twice in a row.
		if up[i] {
			k.fails[m.Addr] = 0
		} else {
			k.fails[m.Addr]++
			up[i] = k.health[m.Addr] && k.fails[m.Addr] < failAfter && !k.refused[m.Addr]
		}
	}
	k.mu.Unlock()
	for i, m := range ms {
		if up[i] && k.Usable != nil && !k.Usable(m) {
			up[i] = false
		}
	}
	k.mu.Lock()
	for i, m := range ms {
		if was, known := k.health[m.Addr]; (!known && !up[i]) || (known && was != up[i]) {
			k.log.Info("hardcore: srun health", zap.String("server", m.ID), zap.Stringer("address", m.Addr), zap.Bool("up", up[i]))
		}
		k.health[m.Addr] = up[i]
	}
	k.mu.Unlock()

	want := Healthy(ms, up)
	have, err := k.proc.Sruns()
	if err == nil && Equal(have, want) {
		k.record(want, false, nil)
		return
	}
	err = k.proc.SetSruns(want)
	if err != nil {
		k.log.Warn("hardcore: writing sruns", zap.String("dir", k.proc.Dir()), zap.Error(err))
	} else {
		k.log.Info("hardcore: sruns written", zap.Stringers("sruns", want))
	}
	k.record(want, err == nil, err)
}

func (k *Keeper) record(sruns []Srun, wrote bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.status.LastError = err.Error()
		return
	}
	k.status.LastError = ""
	k.status.Sruns = sruns
	if wrote {
		k.status.Written = time.Now()
		k.status.Rewrites++
	}
}

// probe connects to every member at once; up[i] reports member i
// answered. It records which members refused the connection outright.
func (k *Keeper) probe(ctx context.Context, ms []Member) []bool {
	up := make([]bool, len(ms))
	refused := make([]bool, len(ms))
	var wg sync.WaitGroup
	dial := k.dial
	if dial == nil {
		d := net.Dialer{Timeout: k.ProbeTimeout}
		dial = func(ctx context.Context, addr string) error {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		}
	}
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := dial(ctx, m.Addr.String())
			if err == nil {
				up[i] = true
				return
			}
			refused[i] = errors.Is(err, syscall.ECONNREFUSED)
		}()
	}
	wg.Wait()
	k.mu.Lock()
	for i, m := range ms {
		k.refused[m.Addr] = refused[i]
	}
	k.mu.Unlock()
	return up
}

// Healthy lists the members that are up, as sruns ordered by index: the
// primaries, or the backups when no primary is up; at most MaxSruns.
func Healthy(ms []Member, up []bool) []Srun {
	out := []Srun{}
	for _, backup := range []bool{false, true} {
		for i, m := range ms {
			if m.Backup == backup && up[i] {
				s := Srun{Addr: m.Addr, Index: m.Index}
				if usableID(m.ID) {
					s.ID = m.ID
				}
				out = append(out, s)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	slices.SortStableFunc(out, func(a, b Srun) int { return a.Index - b.Index })
	if len(out) > MaxSruns {
		out = out[:MaxSruns]
	}
	return out
}
