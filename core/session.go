package core

import (
	"net/http"

	"resind/proxy"
)

// cookieName is the session cookie of the request's web-app.
func (x *exchange) cookieName() string { return cookieName(x.app) }

// cookieName is the session cookie of web-app a (nil: none).
func cookieName(a *webApp) string {
	if a != nil && a.session != nil && a.session.CookieName != "" {
		return a.session.CookieName
	}
	return proxy.DefaultSessionCookie
}

// requestSession is r's session for web-app a (nil for a host's rule):
// the client's, from its cookie or ;jsessionid=, "" for none; issue says
// a's <session-config> wants one issued first.
func requestSession(r *http.Request, a *webApp) (id string, issue bool) {
	id = proxy.SessionID(r, cookieName(a))
	return id, id == "" && a != nil && a.session != nil
}

// session is the request's session id, issued first when its web-app
// wants one and the client has none.
func (x *exchange) session() string {
	id, issue := requestSession(x.r, x.app)
	if issue {
		id = x.issueSession()
	}
	return id
}

// issueSession gives the client a new session id owned by this server (its
// index in the cluster is the id's first character, so a web tier sends the
// session back here) and returns it. The cookie is scoped to the web-app's
// context path, HttpOnly, and Secure on TLS.
//
// Only requests this server answers itself get one: a load-balanced request
// leaves that to the app tier, which owns the session.
func (x *exchange) issueSession() string {
	id := proxy.NewSessionID(x.rt.server.Index)
	path := x.app.ctx
	if path == "" {
		path = "/"
	}
	http.SetCookie(x.w, &http.Cookie{
		Name:     x.cookieName(),
		Value:    id,
		Path:     path,
		HttpOnly: true,
		Secure:   x.r.TLS != nil,
	})
	if x.app.versions != nil {
		x.app.versions.Issued(id, x.app.root)
	}
	return id
}
