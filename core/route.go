package core

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"resind/conf"
	"resind/proxy"
)

// sessionHeader carries the session id to HttpProxy backends.
const sessionHeader = "X-Resin-Session-Id"

// sessionFieldChanges reports whether an HttpProxy request r, whose
// session is id, goes to its backend with another sessionHeader than it
// came with: one from the client is never trusted.
func sessionFieldChanges(r *http.Request, id string) bool {
	_, forged := r.Header[sessionHeader]
	return id != "" || forged
}

// setSessionField makes h's sessionHeader id, or none when id is empty.
func setSessionField(h http.Header, id string) {
	delete(h, sessionHeader)
	if id != "" {
		h[sessionHeader] = []string{id}
	}
}

// serverField is the Server header of every response, shared read-only
// (cap == len: a handler's Add copies it) so that no request allocates it.
var serverField = []string{"resind"}

// ServeHTTP is the flow of a request on every listener: mounts, then the
// host by Host header, the host's rules, the web-app with the longest
// context path, its rules, and static files when no rule ended the
// request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, nil) }

// serve counts, times and logs the request r around inner, or around the
// routing of r when inner is nil.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	start := time.Now()
	rw := &recorder{ResponseWriter: w}
	rw.Header()["Server"] = serverField
	s.requests.Add(1)
	finished := false
	defer func() {
		code := rw.code()
		if !finished {
			code = http.StatusInternalServerError // the handler panicked
		}
		if code >= 500 {
			s.errors.Add(1)
		}
		s.latency.observe(time.Since(start))
		if s.access != nil {
			s.access.log(r, code, rw.bytes, start)
		}
	}()
	if inner != nil {
		inner.ServeHTTP(rw, r)
	} else {
		s.route(s.rt.Load(), rw, r)
	}
	finished = true
}

// route serves r on the snapshot rt.
func (s *Server) route(rt *runtime, w http.ResponseWriter, r *http.Request) {
	uri, mount, ok := s.routePath(r)
	if !ok {
		notFound(w)
		return
	}
	if mount != nil {
		mount.ServeHTTP(w, r)
		return
	}
	h := rt.host(r.Host)
	if h == nil {
		notFound(w)
		return
	}
	x := &exchange{s: s, rt: rt, w: w, r: r}

	ru, target := runRules(h.rules, w, r, uri)
	if ru != nil {
		switch ru.kind {
		case conf.Dispatch:
			// A host-level Dispatch rewrites the URI the web-apps see.
			if ru.target != "" {
				if uri, ok = cleanPath(targetPath(target)); !ok {
					notFound(w)
					return
				}
			}
		case conf.Forward:
			if uri, ok = cleanPath(targetPath(target)); !ok {
				notFound(w)
				return
			}
			if a := x.appFor(h, uri); a != nil {
				x.app = a
				x.serveLocal(uri[len(a.ctx):])
				return
			}
			notFound(w)
			return
		default:
			x.act(ru, target, "")
			return
		}
	}

	a := x.appFor(h, uri)
	if a == nil {
		notFound(w)
		return
	}
	x.app = a
	rel := uri[len(a.ctx):]
	if ru, target := runRules(a.rules, w, r, rel); ru != nil {
		switch ru.kind {
		case conf.Dispatch, conf.Forward:
			// Resin's rewrite rules apply to requests, not forwards, so
			// the target is served without running the rules again: a
			// Forward cannot loop.
			if ru.target != "" {
				if rel, ok = cleanPath(targetPath(target)); !ok {
					notFound(w)
					return
				}
			}
			x.serveLocal(rel)
		default:
			x.act(ru, target, a.ctx)
		}
		return
	}
	x.serveLocal(rel)
}

// routePath is the cleaned path rules and web-apps match r by, and the
// mount that serves r, if any; ok is false for a path that climbs above
// the root (404).
func (s *Server) routePath(r *http.Request) (uri string, mount http.Handler, ok bool) {
	p := r.URL.Path
	if strings.IndexByte(p, ';') >= 0 {
		// ;jsessionid= is not part of the path for matching; the
		// original request, with it, is what is forwarded.
		p, _ = proxy.StripSessionParam(p)
	}
	if uri, ok = cleanPath(p); !ok {
		return "", nil, false
	}
	if ms := s.mounts.Load(); ms != nil {
		for _, m := range *ms {
			if hasPathPrefix(uri, m.prefix) {
				return uri, m.h, true
			}
		}
	}
	return uri, nil, true
}

// exchange is one request being served on one snapshot.
type exchange struct {
	s   *Server
	rt  *runtime
	w   http.ResponseWriter
	r   *http.Request
	app *webApp // nil while still at host level
}

// act performs a terminal rule other than Dispatch and Forward. ctx is the
// context path of the web-app whose rule matched ("" for a host rule).
func (x *exchange) act(ru *rule, target, ctx string) {
	w, r := x.w, x.r
	if ru.app != nil {
		x.serveApp(ru)
		return
	}
	switch ru.kind {
	case conf.Redirect:
		redirect(w, r, http.StatusFound, location(r, ctx, target))
	case conf.MovedPermanently:
		redirect(w, r, http.StatusMovedPermanently, location(r, ctx, target))
	case conf.Forbidden:
		forbidden(w)
	case conf.NotFound:
		notFound(w)
	case conf.LoadBalance:
		if ru.ownCluster && viaResind(r) {
			writePage(w, http.StatusLoopDetected, "This request was load-balanced back to the cluster it came from.")
			return
		}
		// The app tier issues session ids; the request goes as received.
		ru.handler.ServeHTTP(w, r)
	case conf.HttpProxy:
		id := x.session()
		if !sessionFieldChanges(r, id) {
			ru.handler.ServeHTTP(w, r) // nothing to change: no copy
			return
		}
		out := r.Clone(r.Context())
		setSessionField(out.Header, id)
		ru.handler.ServeHTTP(w, out)
	default:
		x.s.log.Error("rule kind without an action", zap.String("kind", string(ru.kind)), zap.Stringer("at", ru.pos))
		writePage(w, http.StatusInternalServerError, "The server is misconfigured.")
	}
}

// serveLocal serves rel, a cleaned path inside x.app, from the web-app's
// root directory, issuing a session id first when the web-app has a
// <session-config>.
func (x *exchange) serveLocal(rel string) {
	if _, issue := requestSession(x.r, x.app); issue {
		x.issueSession()
	}
	x.s.serveStatic(x.w, x.r, x.app, rel)
}

// targetPath is the path of a rewritten target, without its query.
func targetPath(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	return target
}

// location is the absolute URL a Redirect or MovedPermanently target
// points to. A target starting with "/" is inside the web-app at ctx, as in
// Resin; a full URL is kept; anything else is relative to the request.
func location(r *http.Request, ctx, target string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.HasPrefix(target, "/") && !strings.HasPrefix(target, "//") {
		target = ctx + target
	}
	base := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path}
	if base.Host == "" {
		base.Host = "localhost"
	}
	// A rule's $1 may carry a decoded %0d%0a from the request path: it
	// goes out encoded, never as a header break (response splitting).
	ref, err := url.Parse(escapeControls(target))
	if err != nil {
		// Not a valid URL reference: send it as written rather than fail.
		return escapeControls(target)
	}
	return base.ResolveReference(ref).String()
}

// viaResind reports whether r was forwarded by a resind proxy, which adds
// "1.1 resind" to Via.
func viaResind(r *http.Request) bool {
	for _, v := range r.Header["Via"] {
		if strings.Contains(v, "resind") {
			return true
		}
	}
	return false
}
