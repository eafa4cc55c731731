package main

import (
	"context"
	"fmt"
	"io"
	"os"
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

// adminHandler is /resin-admin's handler once the admin component started
// (components start in file order: admin.go comes first), so that the
// deployer can add its page.
var adminHandler *admin.Handler

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
	d.h = deploy.NewHandler(svc, d.rep, admin.NewChecker().Check, log)
	d.h.SetAuth(env.Config.AdminUsers, deploy.ClusterSecret(env.Config))
	env.Server.Mount(deploy.PathPrefix, d.h)
	if adminHandler != nil {
		adminHandler.SetDeployments(d)
	}

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

// Apps implements admin.Deployments: what every server of the cluster
// serves, lined up against the triad.
func (d *deployer) Apps(ctx context.Context) []admin.DeployApp {
	cfg := d.cfg.Load()
	var order []string
	if cl := cfg.Cluster(d.self.ClusterID); cl != nil {
		for _, sv := range cl.Servers {
			order = append(order, sv.ID)
		}
	}
	var out []admin.DeployApp
	for _, v := range d.svc.ClusterView(ctx, d.peers, d.self.ID, order) {
		a := admin.DeployApp{Tag: v.Tag, TriadTree: v.TriadTree}
		for _, sv := range v.Servers {
			c := admin.DeployCell{Server: sv.Server, Triad: sv.Triad, Matches: sv.Matches, Error: sv.Error}
			if st := sv.Status; st != nil {
				c.Served, c.Version, c.Tree, c.Date = true, st.Version, st.Tree, st.Date
			}
			a.Servers = append(a.Servers, c)
		}
		out = append(out, a)
	}
	return out
}

// Upload implements admin.Deployments: the admin page's upload form.
func (d *deployer) Upload(user, filename string, r io.Reader, name, version, message string) (string, error) {
	n, v := nameVersion(filename)
	if name != "" {
		n = name
	}
	if version != "" {
		v = version
	}
	tag := deploy.Tag{Stage: deploy.DefaultStage, Host: deploy.DefaultHost, Name: n}
	if err := tag.Check(); err != nil {
		return "", err
	}
	if err := deploy.CheckVersion(v); err != nil {
		return "", err
	}
	// The archive's kind is in its name: keep the extension.
	tmp, err := os.CreateTemp("", "resind-upload-*-"+filepath.Base(filename))
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return "", err
	}
	files, err := deploy.ReadPath(tmp.Name(), deploy.DefaultLimits)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s holds no files", filename)
	}
	c, err := d.svc.DeployFiles(tag, v, message, user, files)
	if err != nil {
		return "", err
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.rep.Notify(ctx)
	}()
	msg := fmt.Sprintf("Deployed %s", tag)
	if v != "" {
		msg += " version " + v
	}
	return msg + ": tree " + c.Tree + ".", nil
}
