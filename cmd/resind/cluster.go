package main

import (
	"context"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"resind/cluster"
	"resind/conf"
	"resind/core"
)

func init() { components = append(components, func() component { return &clusterMember{} }) }

// timingEnv set to "fast" tunes failure detection and elections for
// servers on one machine (the integration tests): a dead server is seen in
// about a second instead of several.
const timingEnv = "RESIND_CLUSTER_TIMING"

// clusterMember makes this server a member of its cluster: it mounts the
// cluster endpoints on the cluster port, joins, and feeds what membership
// learns about the other servers' health to the web tier's balancers, so a
// dead server is out of rotation before a request has to fail on it.
//
// The cluster's traffic shares the cluster port with load-balanced HTTP:
// memberlist and raft streams are upgraded HTTP requests under
// /resin/cluster/, next to /resin/session/ and /resin/cache/.
type clusterMember struct {
	node *cluster.Node
	srv  *core.Server
	log  *zap.Logger
	stop chan struct{}
	wg   sync.WaitGroup
}

func (c *clusterMember) Start(env *componentEnv) error {
	timing := cluster.DefaultTiming()
	if os.Getenv(timingEnv) == "fast" {
		timing = cluster.FastTiming()
	}
	c.srv, c.log, c.stop = env.Server, env.Log, make(chan struct{})
	n, err := cluster.New(cluster.Options{
		Config: env.Config, ServerID: env.Self.ID, DataDir: env.DataDir, Log: env.Log, Timing: timing,
		OnChange: c.changed,
	})
	if err != nil {
		return err
	}
	c.node = n
	h := n.Handler()
	for _, p := range cluster.Prefixes {
		env.Server.Mount(p, h)
	}
	if !n.Keyed() {
		env.Log.Warn("cluster: no <resin-system-auth-key>; cluster traffic is accepted from loopback addresses only")
		var far []string
		for _, cl := range env.Config.Clusters {
			for _, s := range cl.Servers {
				if !cluster.Loopback(s.Address) {
					far = append(far, s.ID+" ("+s.Address+")")
				}
			}
		}
		if len(far) > 0 {
			env.Log.Warn("cluster: these servers are not on loopback and cannot join without a <resin-system-auth-key>",
				zap.Strings("servers", far))
		}
	}
	if err := n.Start(); err != nil {
		return err
	}
	env.Server.SetCluster(n)
	st := n.Status()
	env.Log.Info("cluster member started", zap.String("cluster", st.Cluster), zap.Strings("triad", st.Triad),
		zap.Bool("in_triad", n.InTriad()), zap.Bool("signed", n.Keyed()))
	c.wg.Add(1)
	go c.keepDown(timing.ProbeInterval)
	return nil
}

// changed follows a member's state to its backend in every balancer of
// this server: dead or left takes it out, alive puts it back.
func (c *clusterMember) changed(m cluster.MemberStatus) {
	reg := c.srv.Registry()
	switch m.State {
	case cluster.StateDead, cluster.StateLeft:
		if reg.MarkDown(m.Address) {
			c.log.Info("cluster: backend taken out of rotation", zap.String("server", m.ID), zap.String("state", m.State))
		}
	case cluster.StateAlive:
		reg.MarkUp(m.Address)
	}
}

// keepDown marks dead members down again and again: the balancer would
// otherwise try one after load-balance-recover-time, and membership knows
// better.
func (c *clusterMember) keepDown(every time.Duration) {
	defer c.wg.Done()
	tick := time.NewTicker(max(every, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		for _, m := range c.node.Members() {
			if m.State == cluster.StateDead || m.State == cluster.StateLeft {
				c.srv.Registry().MarkDown(m.Address)
			}
		}
	}
}

// Reload applies session timeouts and cache settings; servers added to or
// removed from resin.xml, and a new system key, take effect at the next
// start, and the log says so.
func (c *clusterMember) Reload(cfg *conf.Config) {
	if c.node == nil {
		return
	}
	for _, p := range c.node.Reload(cfg) {
		c.log.Warn("cluster: "+p+"; restart the server to apply it", zap.String("server", c.node.Status().Self))
	}
}

func (c *clusterMember) Stop(ctx context.Context) {
	if c.node == nil {
		return
	}
	close(c.stop)
	c.wg.Wait()
	c.srv.SetCluster(nil)
	c.node.Stop(ctx)
}
