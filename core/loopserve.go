package core

import (
	"net/http"
	"time"

	"resind/conf"
	"resind/proxy"
)

// What the epoll data plane (core/loop) asks of the Server: which
// requests it may proxy itself, and the accounting of those it answered.

// loopTarget returns the Balancer a request on the listener of g goes to
// when nothing but a <resin:LoadBalance> rule acts on it: no limit of the
// listener refuses it, no mount, dot segment, SetHeader, Dispatch or
// Forward touches it, and its rule's handler is the Balancer itself (no
// <proxy-cache> in front). Otherwise nil, and ServeHTTP answers it.
func (s *Server) loopTarget(g *guard, r *http.Request) *proxy.Balancer {
	lim, _ := g.current()
	if code, _ := overHeadLimits(lim, r); code != 0 || hasDotSegment(r.URL.Path) {
		return nil
	}
	uri, mount, ok := s.routePath(r)
	if !ok || mount != nil {
		return nil
	}
	rt := s.rt.Load()
	h := rt.host(r.Host)
	if h == nil {
		return nil
	}
	if ru, matched := firstMatch(h.rules, r, uri); matched {
		return balancerOf(ru, r)
	}
	x := &exchange{s: s, rt: rt, r: r}
	a := x.appFor(h, uri)
	if a == nil {
		return nil
	}
	if ru, matched := firstMatch(a.rules, r, uri[len(a.ctx):]); matched {
		return balancerOf(ru, r)
	}
	return nil
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

// balancerOf is the Balancer of a plain LoadBalance rule, nil for any
// other rule.
func balancerOf(ru *rule, r *http.Request) *proxy.Balancer {
	if ru.kind != conf.LoadBalance || ru.app != nil || ru.ownCluster && viaResind(r) {
		return nil
	}
	bl, _ := ru.handler.(*proxy.Balancer)
	return bl
}

// loopServed counts, times and logs a request the loop answered itself,
// as ServeHTTP does the others.
func (s *Server) loopServed(r *http.Request, code int, bytes int64, start time.Time) {
	s.requests.Add(1)
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
