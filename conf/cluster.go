package conf

import (
	"path/filepath"
	"slices"
)

// defaultServerPort is Resin's cluster port when <server> names none.
const defaultServerPort = 6800

// clusterScope is what the elements of one cluster inherit: the defaults
// declared so far (from <cluster-default> first, then the cluster's own, in
// document order) and the cluster's root directory.
type clusterScope struct {
	serverDefaults []*node
	hostDefaults   []*node
	webAppDefaults []*node
	root           string // absolute; relative host roots resolve here
	cookie         string // <session-cookie> at cluster or server level
}

// unknown warns about an element or attribute resind does not implement.
// An element repeated many times in a file (app-default.xml has hundreds of
// <mime-mapping>) is warned about once, with a count.
func (l *loader) unknown(p prop) {
	if p.child != nil {
		key := p.pos.File + "\x00" + p.child.qname
		if g := l.unknowns[key]; g != nil {
			g.lines[p.pos.Line] = true
			return
		}
		l.unknowns[key] = &unknownGroup{idx: len(l.warns), lines: map[int]bool{p.pos.Line: true}}
		l.warnf(p.pos, "<%s>: not supported; ignored", p.child.qname)
		return
	}
	l.warnf(p.pos, "%s: attribute %q is not supported; ignored", l.desc(p.owner), p.name)
}

// resin interprets the root <resin> element.
func (l *loader) resin(cfg *Config, root *node) {
	var clusterDefaults []*node
	for _, p := range props(root) {
		if p.child == nil {
			l.unknown(p)
			continue
		}
		switch p.name {
		case "cluster":
			cfg.Clusters = append(cfg.Clusters, l.cluster(cfg, slices.Clip(clusterDefaults), p.child))
		case "cluster-default":
			clusterDefaults = append(clusterDefaults, p.child)
			// Interpreted once on its own, so that its mistakes are
			// reported even when no cluster follows.
			l.cluster(&Config{}, []*node{p.child}, nil)
		case "AdminAuthenticator":
			l.admin(cfg, p.child)
		case "resin-system-auth-key", "cluster-system-key":
			if v, _ := l.secretStr(p); v != "" {
				cfg.SystemKey = v
			}
		default:
			l.unknown(p)
		}
	}
}

// cluster builds a <cluster> from its defaults and its own element. With
// own nil it interprets the defaults alone, to report their problems.
func (l *loader) cluster(cfg *Config, defaults []*node, own *node) *Cluster {
	cl := &Cluster{}
	sc := &clusterScope{root: l.dir}
	sources := defaults
	if own != nil {
		cl.Pos = own.pos
		sources = append(sources, own)
		if id, ok := own.attr("id"); ok {
			cl.ID, _ = l.str(prop{name: "id", raw: id, owner: own, pos: own.pos})
		}
	}
	for _, src := range sources {
		for _, p := range props(src) {
			l.clusterProp(cfg, cl, sc, p, src == own)
		}
	}
	for _, h := range cl.Hosts {
		l.resolveRoots(sc, h)
	}
	return cl
}

func (l *loader) clusterProp(cfg *Config, cl *Cluster, sc *clusterScope, p prop, own bool) {
	switch p.name {
	case "id":
		if !own {
			l.unknown(p)
		}
	case "root-directory":
		if v, _ := l.str(p); v != "" {
			sc.root = l.resolve(l.dir, v)
		}
	case "server-default":
		sc.serverDefaults = append(sc.serverDefaults, p.child)
		l.server(&Cluster{}, sc, []*node{p.child}, nil) // also takes its session-cookie
	case "server":
		if s := l.server(cl, sc, slices.Clip(sc.serverDefaults), p.child); s != nil {
			cl.Servers = append(cl.Servers, s)
		}
	case "server-multi":
		l.serverMulti(cl, sc, p.child)
	case "host-default":
		sc.hostDefaults = append(sc.hostDefaults, p.child)
		l.host(cl, &clusterScope{root: sc.root}, []*node{p.child}, nil)
	case "host":
		l.addHost(cl, l.host(cl, sc, slices.Clip(sc.hostDefaults), p.child), own)
	case "web-app-default":
		sc.webAppDefaults = append(sc.webAppDefaults, p.child)
		l.webApp(&hostScope{root: sc.root}, []*node{p.child}, nil)
	case "proxy-cache", "cache":
		if p.child == nil {
			l.unknown(p)
			return
		}
		if cl.ProxyCache == nil {
			cl.ProxyCache = &ProxyCache{Pos: p.pos, MemorySize: 16 << 20, Entries: 8192, MaxEntrySize: 1 << 20}
		}
		l.proxyCache(cl.ProxyCache, p.child)
	case "AdminAuthenticator":
		l.admin(cfg, p.child)
	case "session-cookie":
		if v, _ := l.str(p); v != "" {
			sc.cookie = v
		}
	default:
		l.unknown(p)
	}
}

// proxyCache applies <proxy-cache memory-size entries max-entry-size>.
func (l *loader) proxyCache(pc *ProxyCache, n *node) {
	for _, p := range props(n) {
		switch p.name {
		case "memory-size", "max-entry-size":
			v, ok := l.str(p)
			if !ok || v == "" {
				continue
			}
			size, err := parseSize(v)
			if err != nil {
				l.errorf(p.pos, "%s: %s: %v", l.desc(n), p.name, err)
				continue
			}
			if p.name == "memory-size" {
				pc.MemorySize = size
			} else {
				pc.MaxEntrySize = size
			}
		case "entries":
			v, ok := l.str(p)
			if !ok || v == "" {
				continue
			}
			e, err := parseInt(v)
			if err != nil {
				l.errorf(p.pos, "%s: entries %v", l.desc(n), err)
				continue
			}
			pc.Entries = e
		default:
			l.unknown(p)
		}
	}
}

// resolve makes path absolute against dir.
func (l *loader) resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(dir, path)
}
