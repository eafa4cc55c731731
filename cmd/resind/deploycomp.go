package main

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/conf"
	"resind/core"
	"resind/core/admin"
	"resind/deploy"
)

func init() { components = append(components, func() component { return &deployer{} }) }

// deployPoll is how often a server asks the triad for newer deployments
// when nobody told it of one.
const deployPoll = 15 * time.Second

// deployer runs the server's deployment repository (DATA/ID/deploy): it
// serves the web-apps deployed with `resind deploy`, answers the
// deployment API under /resin-deploy, and keeps up with the triad.
type deployer struct {
	svc    *deploy.Service
	peers  *deploy.HTTPPeers
	rep    *deploy.Replicator
	h      *deploy.Handler
	self   *conf.Server
	cfg    atomic.Pointer[conf.Config]
	cancel context.CancelFunc
	done   chan struct{}
}

// servedBy adapts core.Server to deploy.Switcher.
type servedBy struct{ s *core.Server }

func (a servedBy) Serve(host, ctx string, v *deploy.Versions) {
	if v == nil {
		a.s.SetDeployed(host, ctx, nil)
		return
	}
	a.s.SetDeployed(host, ctx, v)
}

func (d *deployer) Start(env *componentEnv) error {
	d.self = env.Self
	d.cfg.Store(env.Config)
	log := env.Log
	svc, err := deploy.NewService(deploy.Options{
		Dir:         filepath.Join(env.DataDir, "deploy"),
		Server:      env.Self.ID,
		Log:         log,
		Apps:        servedBy{env.Server},
		SessionIdle: d.sessionIdle,
	})
	if err != nil {
		return err
	}
	d.svc = svc
	d.peers = deploy.NewHTTPPeers(env.Self.ID, deploy.PeersOf(env.Config, env.Self), deploy.ClusterSecret(env.Config), log)
	d.rep = deploy.NewReplicator(svc, d.peers, deployPoll, log)
	d.h = deploy.NewHandler(svc, d.rep, admin.CheckUser, log)
	d.h.SetAuth(env.Config.AdminUsers, deploy.ClusterSecret(env.Config))
	env.Server.Mount(deploy.PathPrefix, d.h)

	// A server started after a deployment catches up before it serves.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if n := d.rep.CatchUp(ctx); n > 0 {
		log.Info("deploy: caught up with the triad", zap.Int("tags", n))
	}
	cancel()

	rctx, rcancel := context.WithCancel(context.Background())
	d.cancel, d.done = rcancel, make(chan struct{})
	go func() {
		defer close(d.done)
		d.rep.Run(rctx)
	}()
	return nil
}

func (d *deployer) Reload(cfg *conf.Config) {
	d.cfg.Store(cfg)
	self, err := cfg.Server(d.self.ID)
	if err != nil {
		return
	}
	d.peers.Set(deploy.PeersOf(cfg, self), deploy.ClusterSecret(cfg))
	d.h.SetAuth(cfg.AdminUsers, deploy.ClusterSecret(cfg))
}

func (d *deployer) Stop(ctx context.Context) {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
	if d.svc != nil {
		d.svc.Close()
	}
}

// sessionIdle is how long an old version of the web-app at ctx waits for
// its sessions: the <session-timeout> resin.xml gives it, else 30 minutes.
func (d *deployer) sessionIdle(host, ctx string) time.Duration {
	cfg := d.cfg.Load()
	cl := cfg.Cluster(d.self.ClusterID)
	if cl == nil {
		return 0
	}
	for _, h := range cl.Hosts {
		if h.ID != host {
			continue
		}
		for _, a := range h.WebApps {
			if a.ID == ctx && a.Session != nil {
				return a.Session.Timeout
			}
		}
	}
	return 0
}
