package core

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"resind/conf"
	"resind/proxy"
)

// runtime is what one configuration snapshot becomes for this server: its
// hosts, web-apps and compiled rules, the listeners it wants and the
// balancers its rules proxy to. A runtime is immutable once swapped in; a
// request loads the current one once and finishes on it even when a reload
// swaps in another meanwhile.
type runtime struct {
	cfg      *conf.Config
	server   *conf.Server
	cluster  *conf.Cluster
	timeouts conf.Timeouts // the server's, with zero fields defaulted

	listeners []listenSpec

	hosts       map[string]*host // by lower-case id and alias
	defaultHost *host

	warnings []string
	// balanced are the rules whose handler instantiate builds.
	balanced []*rule
}

type host struct {
	id    string
	rules []*rule
	// apps are sorted longest context path first, so the first match is
	// the longest prefix.
	apps []*webApp
}

type webApp struct {
	ctx     string // "" for the root web-app, else "/name"
	root    string
	rules   []*rule
	session *conf.SessionConfig
	// versions is set on the per-request copy of a deployed web-app
	// (deploy.go).
	versions Versions
}

// listenSpec is a socket a runtime wants. key identifies it across
// reloads: a listener whose key survives a reload is kept open.
type listenSpec struct {
	kind string // "http", "https" or "cluster"
	addr string // host:port to bind; host "" is every address
	key  string
	// tls is set for an https listener; limits are the server's, with
	// the listener's own connection-max.
	tls    *conf.TLS
	limits conf.Limits
}

// builder collects the problems of one build so that a refusal lists all
// of them.
type builder struct {
	cfg      *conf.Config
	log      *zap.Logger
	timeouts conf.Timeouts
	// ownCluster is the id of the cluster of the server being built.
	ownCluster string
	errs       []conf.Diag
	warnings   []string
}

func (b *builder) fail(pos conf.Pos, msg string) {
	b.errs = append(b.errs, conf.Diag{Pos: pos, Msg: msg})
}
func (b *builder) warn(pos conf.Pos, msg string) {
	b.warnings = append(b.warnings, conf.Diag{Pos: pos, Msg: msg}.String())
}

// build validates cfg for the server id and compiles its runtime. It has no
// side effects: balancers are created by instantiate once the caller has
// decided to use the runtime. Problems are returned as a *conf.Error.
func build(cfg *conf.Config, id string, log *zap.Logger) (*runtime, error) {
	sc, err := cfg.Server(id)
	if err != nil {
		return nil, err
	}
	cl := cfg.Cluster(sc.ClusterID)
	if cl == nil {
		return nil, fmt.Errorf("%s: server %q names cluster %q, which does not exist", sc.Pos, sc.ID, sc.ClusterID)
	}
	b := &builder{cfg: cfg, log: log, timeouts: withDefaults(sc.Timeout), ownCluster: cl.ID}
	for _, w := range cfg.Warnings {
		b.warnings = append(b.warnings, w.String())
	}
	rt := &runtime{cfg: cfg, server: sc, cluster: cl, timeouts: b.timeouts, hosts: make(map[string]*host)}
	rt.listeners = b.listeners(sc)

	for _, ch := range cl.Hosts {
		h := &host{id: ch.ID, rules: b.compileRules(ch.Rules)}
		for _, ca := range ch.WebApps {
			if fi, err := os.Stat(ca.RootDirectory); err != nil || !fi.IsDir() {
				b.warn(ca.Pos, fmt.Sprintf("<web-app id=%q>: root-directory %q is not a directory; its files answer 404", ca.ID, ca.RootDirectory))
			}
			h.apps = append(h.apps, &webApp{ctx: contextPath(ca.ID), root: ca.RootDirectory,
				rules: b.compileRules(ca.Rules), session: ca.Session})
		}
		slices.SortStableFunc(h.apps, func(x, y *webApp) int { return cmp.Compare(len(y.ctx), len(x.ctx)) })
		names := append([]string{ch.ID}, ch.Aliases...)
		for i, n := range names {
			n = strings.ToLower(strings.TrimSpace(n))
			if i == 0 && (n == "" || n == "*") {
				if rt.defaultHost != nil {
					b.warn(ch.Pos, "a second default <host id=\"\"> is ignored")
					continue
				}
				rt.defaultHost = h
				continue
			}
			if n == "" {
				continue
			}
			if _, dup := rt.hosts[n]; dup {
				b.warn(ch.Pos, fmt.Sprintf("host name %q is already used by an earlier <host>; this one is ignored for it", n))
				continue
			}
			rt.hosts[n] = h
		}
		for _, ru := range h.rules {
			if ru.balance != nil {
				rt.balanced = append(rt.balanced, ru)
			}
		}
		for _, a := range h.apps {
			for _, ru := range a.rules {
				if ru.balance != nil {
					rt.balanced = append(rt.balanced, ru)
				}
			}
		}
	}
	if len(b.errs) > 0 {
		return nil, &conf.Error{Diags: b.errs}
	}
	rt.warnings = b.warnings
	return rt, nil
}

// instantiate creates the balancers of rt's rules from reg, with the
// proxy cache pc (nil for none) in front of them, and returns the backend
// addresses rt uses, for Registry.Retain.
func (rt *runtime) instantiate(reg *proxy.Registry, pc *proxyCache) map[string]bool {
	keep := make(map[string]bool)
	for _, ru := range rt.balanced {
		bl := reg.Balancer(*ru.balance)
		ru.balancer, ru.cache = bl, pc
		ru.handler = bl
		if pc != nil {
			ru.handler = pc.wrap(bl)
		}
		for _, be := range ru.balance.Backends {
			keep[be.Address] = true
		}
	}
	return keep
}

// listeners are the sockets of server sc: each <http>, then the cluster
// port. Port 0 binds an ephemeral port.
func (b *builder) listeners(sc *conf.Server) []listenSpec {
	var out []listenSpec
	seen := make(map[string]bool)
	add := func(kind, host string, port int, pos conf.Pos, tls *conf.TLS, connMax int) {
		if port < 0 || port > 65535 {
			b.fail(pos, fmt.Sprintf("port %d is out of range", port))
			return
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		if seen[addr] && port != 0 {
			b.fail(pos, fmt.Sprintf("address %s is used twice by server %q", addr, sc.ID))
			return
		}
		seen[addr] = true
		key := kind + " " + addr
		for slices.ContainsFunc(out, func(l listenSpec) bool { return l.key == key }) {
			key += "'" // two ephemeral ports on one address
		}
		lim := sc.Limits
		if connMax > 0 {
			lim.ConnectionMax = connMax
		}
		out = append(out, listenSpec{kind: kind, addr: addr, key: key, tls: tls, limits: lim})
	}
	for _, l := range sc.HTTP {
		host := l.Address
		if host == "*" {
			host = ""
		}
		kind := "http"
		if l.TLS != nil {
			kind = "https"
		}
		add(kind, host, l.Port, l.Pos, l.TLS, l.ConnectionMax)
	}
	host := sc.Address
	if host == "" {
		host = "127.0.0.1"
	} else if host == "*" {
		host = ""
	}
	add("cluster", host, sc.Port, sc.Pos, nil, 0)
	return out
}

// contextPath normalises a <web-app id>: "" and "/" are the root web-app,
// "shop" and "/shop/" are "/shop".
func contextPath(id string) string {
	id = strings.TrimRight(id, "/")
	if id != "" && id[0] != '/' {
		id = "/" + id
	}
	return id
}

// host returns the host for the Host header hostport (the port is ignored,
// names compare without case), the default host when no name matches, or
// nil.
func (rt *runtime) host(hostport string) *host {
	name := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		name = h
	} else if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		name = name[1 : len(name)-1]
	}
	name = strings.TrimSuffix(name, ".")
	if h := rt.hosts[name]; h != nil {
		return h
	}
	if h := rt.hosts[strings.ToLower(name)]; h != nil {
		return h
	}
	return rt.defaultHost
}

// app returns the web-app with the longest context path that uri lies
// below, or nil.
func (h *host) app(uri string) *webApp {
	for _, a := range h.apps {
		if hasPathPrefix(uri, a.ctx) {
			return a
		}
	}
	return nil
}

// withDefaults fills the zero fields of t with Resin's defaults, for
// configurations built without the loader.
func withDefaults(t conf.Timeouts) conf.Timeouts {
	d := conf.DefaultTimeouts
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&t.LoadBalanceConnectTimeout, d.LoadBalanceConnectTimeout)
	fill(&t.LoadBalanceIdleTime, d.LoadBalanceIdleTime)
	fill(&t.LoadBalanceRecoverTime, d.LoadBalanceRecoverTime)
	fill(&t.LoadBalanceBusyRecoverTime, d.LoadBalanceBusyRecoverTime)
	fill(&t.LoadBalanceSocketTimeout, d.LoadBalanceSocketTimeout)
	fill(&t.KeepaliveTimeout, d.KeepaliveTimeout)
	fill(&t.SocketTimeout, d.SocketTimeout)
	return t
}
