package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"resind/conf"
	"resind/kernel"
	"resind/proxy"
)

func init() { components = append(components, func() component { return &hardcore{} }) }

// hardcoreDirEnv overrides where the module's files are looked for (tests).
const hardcoreDirEnv = "RESIND_HARDCORE_DIR"

// hardcore hands an <http> port to HardCore, the kernel fast path, when
// resin.ko is loaded on it: the server does not bind that port, and a
// kernel.Keeper keeps the module's sruns equal to the healthy servers of
// the cluster the server load-balances to, on start, on reload and on
// every change of health.
type hardcore struct {
	keeper *kernel.Keeper
	self   string
	log    *zap.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (h *hardcore) Start(env *componentEnv) error {
	p, err := kernel.Open(os.Getenv(hardcoreDirEnv))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		env.Log.Warn("hardcore: module files unreadable; serving every port in user space", zap.Error(err))
		return nil
	}
	port, err := p.ServerPort()
	if err != nil {
		env.Log.Warn("hardcore: server_port unreadable", zap.Error(err))
		return nil
	}
	if !hasHTTPPort(env.Self, port) {
		env.Log.Info("hardcore: the module's port is not an <http> port of this server; left alone", zap.Int("port", port))
		return nil
	}
	ms, cluster := hardcoreMembers(env.Config, env.Self)
	if cluster == "" {
		env.Log.Warn("hardcore: no <resin:LoadBalance> in this server's cluster; the module gets no sruns", zap.Int("port", port))
	}
	env.Server.LeavePort(port)
	h.self, h.log = env.Self.ID, env.Log
	h.keeper = kernel.NewKeeper(p, env.Log)
	reg := env.Server.Registry()
	h.keeper.Usable = func(m kernel.Member) bool { return backendUsable(reg, m.Address) }
	h.keeper.SetMembers(ms)
	env.Server.SetHardCore(h.keeper)
	// The first sync happens before the server starts answering.
	h.keeper.Sync(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.keeper.Run(ctx)
	}()
	env.Log.Info("hardcore: the kernel module serves this port", zap.Int("port", port), zap.String("cluster", cluster),
		zap.Stringers("sruns", h.keeper.Status().Sruns))
	return nil
}

func (h *hardcore) Reload(cfg *conf.Config) {
	if h.keeper == nil {
		return
	}
	self, err := cfg.Server(h.self)
	if err != nil {
		return
	}
	ms, _ := hardcoreMembers(cfg, self)
	h.keeper.SetMembers(ms)
}

func (h *hardcore) Stop(context.Context) {
	if h.cancel != nil {
		h.cancel()
		h.wg.Wait()
	}
}

func hasHTTPPort(s *conf.Server, port int) bool {
	for _, l := range s.HTTP {
		if l.Port == port {
			return true
		}
	}
	return false
}

// backendUsable reports whether the balancer does not hold addr down; an
// address no balancer knows is usable.
func backendUsable(reg *proxy.Registry, addr string) bool {
	for _, b := range reg.Status() {
		if b.Address == addr {
			return b.State != "down"
		}
	}
	return true
}

// hardcoreMembers finds the cluster self's cluster load-balances to (its
// first <resin:LoadBalance>, in the default host first) and lists its
// servers with an IPv4 cluster address.
func hardcoreMembers(cfg *conf.Config, self *conf.Server) ([]kernel.Member, string) {
	own := cfg.Cluster(self.ClusterID)
	if own == nil {
		return nil, ""
	}
	target := ""
	find := func(rules []*conf.Rule) {
		for _, r := range rules {
			if target == "" && r.Kind == conf.LoadBalance {
				target = r.Cluster
			}
		}
	}
	for _, def := range []bool{true, false} {
		for _, h := range own.Hosts {
			if (h.ID == "" || h.ID == "*") != def {
				continue
			}
			find(h.Rules)
			for _, a := range h.WebApps {
				find(a.Rules)
			}
		}
	}
	cl := cfg.Cluster(target)
	if cl == nil {
		return nil, ""
	}
	var out []kernel.Member
	for _, s := range cl.Servers {
		host := s.Address
		if host == "" {
			host = "127.0.0.1"
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			// A name: its first IPv4 address.
			ips, lerr := net.LookupIP(host)
			for _, x := range ips {
				if a, ok := netip.AddrFromSlice(x.To4()); ok && x.To4() != nil {
					ip, err = a, nil
					break
				}
			}
			if lerr != nil || err != nil {
				continue
			}
		}
		if !ip.Is4() || s.Port <= 0 {
			continue
		}
		out = append(out, kernel.Member{ID: s.ID, Address: net.JoinHostPort(host, strconv.Itoa(s.Port)), Addr: netip.AddrPortFrom(ip, uint16(s.Port)), Index: s.Index, Backup: s.Backup})
	}
	return out, target
}
