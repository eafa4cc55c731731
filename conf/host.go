package conf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hostScope is what the web-apps of one host inherit.
type hostScope struct {
	webAppDefaults []*node
	root           string // the host's root, or "" until resolved
	cookie         string
}

// builtHost is a host being built: the Host, plus what is needed to resolve
// its web-apps' directories once the cluster's root is known.
type builtHost struct {
	*Host
	rawRoot string
	apps    []builtApp
	// fromDefault marks the web-apps that came from a <host-default>; one
	// written in the host itself replaces them.
	fromDefault map[*WebApp]bool
}

type builtApp struct {
	app     *WebApp
	rawRoot string
}

// host builds a <host> from the <host-default>s before it and its own
// element; own nil interprets the defaults alone.
func (l *loader) host(cl *Cluster, sc *clusterScope, defaults []*node, own *node) *builtHost {
	h := &builtHost{Host: &Host{}, fromDefault: map[*WebApp]bool{}}
	hs := &hostScope{webAppDefaults: slices.Clip(sc.webAppDefaults), cookie: sc.cookie}
	if own != nil {
		h.Pos = own.pos
		if id, ok := own.attr("id"); ok {
			h.ID, _ = l.str(prop{name: "id", raw: id, owner: own, pos: own.pos})
		}
	}
	for _, src := range append(slices.Clip(defaults), own) {
		if src == nil {
			continue
		}
		for _, p := range props(src) {
			l.hostProp(h, hs, p, src == own)
		}
	}
	if own == nil {
		// Reported on their own: resolve what can be.
		l.resolveHost(sc, h)
	}
	return h
}

func (l *loader) hostProp(h *builtHost, hs *hostScope, p prop, own bool) {
	if l.ruleProp(&h.Rules, p) {
		return
	}
	switch p.name {
	case "id":
		if !own {
			l.unknown(p)
		}
	case "host-name":
		if v, _ := l.str(p); v != "" {
			if h.ID == "" && own {
				if _, hasID := p.owner.attr("id"); !hasID {
					h.ID = v
					return
				}
			}
			if v != h.ID && !slices.Contains(h.Aliases, v) {
				h.Aliases = append(h.Aliases, v)
			}
		}
	case "host-alias":
		v, _ := l.str(p)
		for _, a := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			if !slices.Contains(h.Aliases, a) {
				h.Aliases = append(h.Aliases, a)
			}
		}
	case "root-directory":
		if v, _ := l.str(p); v != "" {
			h.rawRoot = v
		}
	case "web-app-default":
		hs.webAppDefaults = append(hs.webAppDefaults, p.child)
		l.webApp(&hostScope{}, []*node{p.child}, nil)
	case "web-app":
		app, raw := l.webApp(hs, slices.Clip(hs.webAppDefaults), p.child)
		l.addWebApp(h, app, raw, !own)
	case "session-cookie":
		if v, _ := l.str(p); v != "" {
			hs.cookie = v
		}
	default:
		l.unknown(p)
	}
}

// addHost adds h to cl. A host id written twice in a cluster is an error,
// unless the first came from a <cluster-default>: the cluster's own replaces it.
func (l *loader) addHost(cl *Cluster, h *builtHost, own bool) {
	for i, o := range cl.Hosts {
		if o.ID != h.ID {
			continue
		}
		if !own || o.Pos == h.Pos {
			return
		}
		if l.hostFromDefault[o] {
			cl.Hosts[i] = h.Host
			l.hosts[h.Host] = h
			return
		}
		l.errorf(h.Pos, "<host id=%q>: duplicate host id in cluster %q (first at %s)", h.ID, cl.ID, o.Pos)
		return
	}
	if !own {
		l.hostFromDefault[h.Host] = true
	}
	cl.Hosts = append(cl.Hosts, h.Host)
	l.hosts[h.Host] = h
}

// addWebApp adds app to h, applying the same rule as addHost.
func (l *loader) addWebApp(h *builtHost, app *WebApp, rawRoot string, fromDefault bool) {
	for i, o := range h.WebApps {
		if o.ID != app.ID {
			continue
		}
		if h.fromDefault[o] && !fromDefault {
			h.WebApps[i] = app
			h.apps[i] = builtApp{app, rawRoot}
			return
		}
		if o.Pos == app.Pos {
			return
		}
		l.errorf(app.Pos, "<web-app id=%q>: duplicate web-app id in host %q (first at %s)", showID(app.ID), h.ID, o.Pos)
		return
	}
	h.fromDefault[app] = fromDefault
	h.WebApps = append(h.WebApps, app)
	h.apps = append(h.apps, builtApp{app, rawRoot})
}

func showID(id string) string {
	if id == "" {
		return "/"
	}
	return id
}

// resolveRoots makes the directories of a host and its web-apps absolute:
// a host's against the cluster root (the main file's directory unless the
// cluster sets one), a web-app's against its host's; a web-app without one
// is its host's root plus its id.
func (l *loader) resolveRoots(sc *clusterScope, h *Host) {
	if b := l.hosts[h]; b != nil {
		l.resolveHost(sc, b)
	}
}

func (l *loader) resolveHost(sc *clusterScope, b *builtHost) {
	b.RootDirectory = sc.root
	if b.rawRoot != "" {
		b.RootDirectory = l.resolve(sc.root, b.rawRoot)
	}
	for _, a := range b.apps {
		switch {
		case a.rawRoot != "":
			a.app.RootDirectory = l.resolve(b.RootDirectory, a.rawRoot)
		case a.app.ID == "":
			a.app.RootDirectory = b.RootDirectory
		default:
			a.app.RootDirectory = l.resolve(b.RootDirectory, strings.TrimPrefix(a.app.ID, "/"))
		}
	}
}

// webApp builds a <web-app> from the <web-app-default>s before it and its
// own element, and returns it with its root-directory as written.
func (l *loader) webApp(hs *hostScope, defaults []*node, own *node) (*WebApp, string) {
	app := &WebApp{}
	cookie, raw := hs.cookie, ""
	if own != nil {
		app.Pos = own.pos
		for _, name := range []string{"id", "url-prefix"} {
			if id, ok := own.attr(name); ok {
				app.ID, _ = l.str(prop{name: name, raw: id, owner: own, pos: own.pos})
				break
			}
		}
		app.ID = normaliseAppID(app.ID)
	}
	for _, src := range append(slices.Clip(defaults), own) {
		if src == nil {
			continue
		}
		for _, p := range props(src) {
			if l.ruleProp(&app.Rules, p) {
				continue
			}
			switch p.name {
			case "id", "url-prefix":
				if src != own {
					l.unknown(p)
				}
			case "root-directory", "document-directory", "app-dir":
				if v, _ := l.str(p); v != "" {
					raw = v
				}
			case "session-config":
				if p.child == nil {
					l.unknown(p)
					continue
				}
				if app.Session == nil {
					app.Session = &SessionConfig{Pos: p.pos, Timeout: 30 * time.Minute}
				}
				l.sessionConfig(app.Session, p.child, &cookie)
			case "session-cookie":
				if v, _ := l.str(p); v != "" {
					cookie = v
				}
			case "servlet", "servlet-mapping":
				l.servletProp(app, p)
			case "ClusterCache":
				if c := l.clusterCache(p); c != nil {
					app.Caches = append(app.Caches, c)
				}
			default:
				l.unknown(p)
			}
		}
	}
	if app.Session != nil {
		app.Session.CookieName = cookie
		if app.Session.CookieName == "" {
			app.Session.CookieName = "JSESSIONID"
		}
	}
	return app, raw
}

// normaliseAppID gives a context path its leading slash and drops a
// trailing one; "/" becomes "".
func normaliseAppID(id string) string {
	id = strings.TrimSpace(id)
	id = strings.TrimRight(id, "/")
	if id != "" && !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return id
}

// sessionConfig applies <session-config>.
func (l *loader) sessionConfig(sc *SessionConfig, n *node, cookie *string) {
	for _, p := range props(n) {
		switch p.name {
		case "session-timeout":
			v, ok := l.str(p)
			if !ok || v == "" {
				continue
			}
			d, err := parseSessionTimeout(v)
			if err != nil {
				l.errorf(p.pos, "%s: session-timeout %v", l.desc(n), err)
				continue
			}
			sc.Timeout = d
		case "use-persistent-store":
			sc.UsePersistentStore = l.boolean(p, sc.UsePersistentStore)
		case "always-save-session":
			sc.AlwaysSaveSession = l.boolean(p, sc.AlwaysSaveSession)
		case "cookie-name", "session-cookie":
			if v, _ := l.str(p); v != "" {
				*cookie = v
			}
		default:
			l.unknown(p)
		}
	}
}

// parseSessionTimeout reads session-timeout: a plain number is minutes, as
// in the servlet specification; a value with a unit is a Resin period; -1
// (never) is 0.
func parseSessionTimeout(v string) (time.Duration, error) {
	if n, unit := splitNumber(v); n != "" && unit == "" {
		m, err := strconv.ParseFloat(n, 64)
		switch {
		case err != nil:
			return 0, fmt.Errorf("%q is not a number of minutes", v)
		case m < 0:
			return 0, nil
		case m > 1e8:
			return 0, fmt.Errorf("%q is too long", v)
		}
		return time.Duration(m * float64(time.Minute)), nil
	}
	d, err := parseDuration(v)
	if d == forever {
		return 0, err
	}
	return d, err
}
