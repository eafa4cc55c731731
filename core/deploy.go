package core

import (
	"cmp"
	"slices"
	"strings"

	"resind/proxy"
)

// Versions is a web-app whose files come from the deployment repository
// (package deploy): it chooses, per request, the directory that serves it,
// so that a new version can be switched in atomically while sessions
// started on the old one finish there.
type Versions interface {
	// Root is the directory serving a request with the session id session
	// ("" when it has none).
	Root(session string) string
	// Issued records that the session id session was just issued on a
	// request served from root.
	Issued(session, root string)
}

// deployedApp is a web-app served from Versions, keyed by host id ("" is
// the default host) and context path.
type deployedApp struct {
	host, ctx string
	v         Versions
}

// SetDeployed makes the web-app at context path ctx ("" for the root
// web-app, else "/name") of the host whose id is host ("" for the default
// host) serve its files from v, or, with v nil, returns it to what
// resin.xml says. A web-app resin.xml declares keeps its rules and
// <session-config>; one it does not declare is added. The change applies
// from the next request and survives configuration reloads.
func (s *Server) SetDeployed(host, ctx string, v Versions) {
	s.mountMu.Lock()
	defer s.mountMu.Unlock()
	var apps []deployedApp
	if old := s.deployed.Load(); old != nil {
		apps = slices.DeleteFunc(slices.Clone(*old), func(a deployedApp) bool {
			return a.host == host && a.ctx == ctx
		})
	}
	if v != nil {
		apps = append(apps, deployedApp{host: host, ctx: ctx, v: v})
	}
	// Longest context first, like a host's web-apps.
	slices.SortStableFunc(apps, func(x, y deployedApp) int { return cmp.Compare(len(y.ctx), len(x.ctx)) })
	s.deployed.Store(&apps)
}

// app returns the web-app serving uri on host h: the configured one with
// the longest context path, unless a deployed web-app's context path is as
// long or longer; then a copy of the configured web-app (or a new one)
// whose root is the deployed version for the request's session.
func (x *exchange) appFor(h *host, uri string) *webApp {
	a := h.app(uri)
	ds := x.s.deployed.Load()
	if ds == nil {
		return a
	}
	for _, d := range *ds {
		if !strings.EqualFold(d.host, h.id) || !hasPathPrefix(uri, d.ctx) {
			continue
		}
		if a != nil && len(a.ctx) > len(d.ctx) {
			return a
		}
		cp := webApp{ctx: d.ctx}
		if a != nil && a.ctx == d.ctx {
			cp = *a
		}
		cookie := proxy.DefaultSessionCookie
		if cp.session != nil && cp.session.CookieName != "" {
			cookie = cp.session.CookieName
		}
		cp.versions = d.v
		cp.root = d.v.Root(proxy.SessionID(x.r, cookie))
		return &cp
	}
	return a
}
