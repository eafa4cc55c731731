package core

import (
	"net/http"
	"time"

	"resind/conf"
	"resind/core/h1"
	"resind/core/loop"
)

// What the epoll data plane (core/loop) asks of the Server: which
// requests it may proxy itself, and the accounting of those it answered.

// loopTarget returns where a request on the listener of g goes when
// nothing but a <resin:LoadBalance> rule, or an <resin:HttpProxy> to
// addresses, acts on it: no limit of the listener refuses it, no mount,
// dot segment, SetHeader, Dispatch or Forward touches it. The target is
// the rule's Balancer, and the <proxy-cache> in front of it if there is
// one (see targetOf). Otherwise it is empty, and ServeHTTP answers the
// request.
func (s *Server) loopTarget(g *guard, r *http.Request) loop.Target {
	lim, _ := g.current()
	if code, _ := overHeadLimits(lim, r); code != 0 || hasDotSegment(r.URL.Path) {
		return loop.Target{}
	}
	uri, mount, ok := s.routePath(r)
	if !ok || mount != nil {
		return loop.Target{}
	}
	rt := s.rt.Load()
	h := rt.host(r.Host)
	if h == nil {
		return loop.Target{}
	}
	if ru, matched := firstMatch(h.rules, r, uri); matched {
		return targetOf(ru, r, nil)
	}
	x := &exchange{s: s, rt: rt, r: r}
	a := x.appFor(h, uri)
	if a == nil {
		return loop.Target{}
	}
	if ru, matched := firstMatch(a.rules, r, uri[len(a.ctx):]); matched {
		return targetOf(ru, r, a)
	}
	return loop.Target{}
}

// firstMatch is the first rule of rules that matches r, SetHeader rules
// included (runRules goes past those, setting their header).
func firstMatch(rules []*rule, r *http.Request, uri string) (*rule, bool) {
	for _, ru := range rules {
		if _, ok := ru.match(r, uri); ok {
			return ru, true
		}
	}
	return nil, false
}

// targetOf is the target of a LoadBalance rule, or of an HttpProxy rule
// to addresses (of web-app a, nil for a host's rule) whose request needs
// no session issued; empty for any other rule. For HttpProxy it changes
// r's session field as act does on a copy: r is the loop's own.
func targetOf(ru *rule, r *http.Request, a *webApp) loop.Target {
	if ru.app != nil || ru.balancer == nil {
		return loop.Target{}
	}
	switch ru.kind {
	case conf.LoadBalance:
		if ru.ownCluster && viaResind(r) {
			return loop.Target{}
		}
	case conf.HttpProxy:
		id, issue := requestSession(r, a)
		if issue {
			// act issues one: a Set-Cookie the loop does not write; the
			// client's next requests carry it.
			return loop.Target{Lend: true}
		}
		if sessionFieldChanges(r, id) {
			setSessionField(r.Header, id)
		}
	default:
		return loop.Target{}
	}
	t := loop.Target{Balancer: ru.balancer}
	if ru.cache != nil {
		t.Cache = ru.cache
	}
	return t
}

// loopServed counts, times and logs a request the loop answered itself,
// as ServeHTTP does the others.
func (s *Server) loopServed(r *http.Request, code int, bytes int64, start time.Time) {
	s.requests.Add(1)
	s.fastPath.Add(1)
	if code >= 500 {
		s.errors.Add(1)
	}
	s.latency.observe(time.Since(start))
	if s.access != nil {
		s.access.log(r, code, bytes, start)
	}
}

// loopHandler wraps h, which finishes a request the loop began, in
// ServeHTTP's accounting and Server field.
func (s *Server) loopHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, h) })
}

// Hit answers p from the cache on the loop (loop.Cache): what the cache's
// Handler answers a plain fresh hit with, through ServeHTTP's Server field
// and the server's framing (h1.AppendFieldsHead).
func (pc *proxyCache) Hit(dst []byte, p *h1.Parsed, hdr http.Header, shutting bool) (out []byte, status int, body int64, closeAfter, ok bool) {
	pc.active.Add(1)
	defer pc.leave()
	if pc.closed.Load() {
		return dst, 0, 0, false, false
	}
	hdr["Server"] = serverField
	code, fields, b, ok := pc.c.Hit(p.R, hdr)
	if !ok {
		return dst, 0, 0, false, false
	}
	out, closeAfter, ok = h1.AppendFieldsHead(dst, p, code, hdr, fields, shutting)
	if !ok {
		return dst, 0, 0, false, false
	}
	if p.R.Method != http.MethodHead && h1.BodyAllowed(code) {
		out = append(out, b...)
		body = int64(len(b))
	}
	pc.c.CountHit()
	return out, code, body, closeAfter, true
}
