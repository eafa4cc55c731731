package deploy

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Replicator keeps a Service up to date with its Source: it pulls from
// every upstream server at start (CatchUp), every interval, and at once
// when a peer says it deployed (Kick).
type Replicator struct {
	svc      *Service
	src      Source
	interval time.Duration
	log      *zap.Logger
	kick     chan string
}

// NewReplicator returns a Replicator pulling into svc from src.
func NewReplicator(svc *Service, src Source, interval time.Duration, log *zap.Logger) *Replicator {
	if log == nil {
		log = zap.NewNop()
	}
	return &Replicator{svc: svc, src: src, interval: interval, log: log, kick: make(chan string, 16)}
}

// Kick asks for a pull now from the upstream servers and from, the server
// that said it deployed ("" for none).
func (r *Replicator) Kick(from string) {
	select {
	case r.kick <- from:
	default: // a pull is already due
	}
}

// Notify tells the other servers this one deployed.
func (r *Replicator) Notify(ctx context.Context) { r.src.Notify(ctx) }

// CatchUp pulls once from every upstream server (and from extra); it
// returns how many tags moved. Unreachable servers are logged and skipped.
func (r *Replicator) CatchUp(ctx context.Context, extra ...string) int {
	seen := map[string]bool{}
	moved := 0
	for _, p := range append(r.src.Upstream(), extra...) {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		n, err := r.svc.Pull(ctx, r.src, p)
		moved += n
		if err != nil {
			r.log.Debug("deploy: pull", zap.String("peer", p), zap.Error(err))
		} else if n > 0 {
			r.log.Info("deploy: pulled new versions", zap.String("peer", p), zap.Int("tags", n))
		}
	}
	return moved
}

// Run pulls until ctx ends.
func (r *Replicator) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		var extra []string
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case from := <-r.kick:
			extra = append(extra, from)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if r.CatchUp(pctx, extra...) > 0 {
			// Servers pulling from this one need not wait for their poll.
			r.src.Notify(pctx)
		}
		cancel()
	}
}
