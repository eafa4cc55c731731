// Package admin serves /resin-admin: the operator's view of one resind
// server (its configuration reloads, listeners, traffic, load-balanced
// backends and proxy caches), the same data as JSON under /resin-admin/api/
// and in Prometheus text format under /resin-admin/metrics.
//
// Access follows Resin's <resin:AdminAuthenticator>: with users configured
// every path needs one of them, by HTTP Basic (scripts) or the login form
// (people, who get a signed session cookie); without users only loopback
// clients are served.
package admin

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"resind/conf"
	"resind/core"
)

// Prefix is the path everything of this package lives under.
const Prefix = "/resin-admin"

//go:embed assets
var assets embed.FS

// Source is what the admin pages watch; *core.Server satisfies it. Status is
// called for every page refresh, API call and scrape, from any goroutine.
type Source interface {
	Status() core.Status
}

// Options configure a Handler.
type Options struct {
	// Users are the <resin:user>s of <resin:AdminAuthenticator>; none means
	// loopback clients only. UserWarnings tells what to warn about them.
	Users []conf.AdminUser
	// Log receives authentication failures; nil logs nothing.
	Log *zap.Logger
	// Purge removes the proxy cache entries of url and says how many; nil
	// when the server runs no cache (the purge form is then not shown).
	Purge func(url string) (int, error)
}

// Handler serves every path under Prefix; it expects full request paths
// (/resin-admin/, /resin-admin/api/status, ...). It lives as long as the
// server: SetUsers swaps the users on a reload, and the per-process key that
// signs its cookies is made once in New, so sessions end with the process.
type Handler struct {
	src   Source
	log   *zap.Logger
	purge func(string) (int, error)
	users atomic.Pointer[map[string]conf.AdminUser]

	now   func() time.Time
	sign  *signer
	limit *limiter
	cross *http.CrossOriginProtection
	pages *template.Template
	mux   *http.ServeMux
}

// New returns the handler of /resin-admin for src.
func New(src Source, opts Options) (*Handler, error) {
	if src == nil {
		return nil, errors.New("admin: nil Source")
	}
	h := &Handler{src: src, log: opts.Log, purge: opts.Purge, now: time.Now}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	var err error
	if h.sign, err = newSigner(func() time.Time { return h.now() }); err != nil {
		return nil, err
	}
	h.limit = newLimiter(func() time.Time { return h.now() })
	h.cross = http.NewCrossOriginProtection()
	h.cross.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	if h.pages, err = template.ParseFS(assets, "assets/*.html"); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(newCollector(src)); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	files := http.StripPrefix(Prefix+"/", http.FileServerFS(static))

	m := http.NewServeMux()
	m.Handle("GET "+Prefix+"/{$}", http.HandlerFunc(h.index))
	m.Handle("GET "+Prefix, http.RedirectHandler(Prefix+"/", http.StatusMovedPermanently))
	m.Handle("GET "+Prefix+"/admin.css", files)
	m.Handle("GET "+Prefix+"/admin.js", files)
	m.Handle("GET "+Prefix+"/login", http.HandlerFunc(h.loginForm))
	m.Handle("POST "+Prefix+"/login", http.HandlerFunc(h.login))
	m.Handle("POST "+Prefix+"/logout", http.HandlerFunc(h.logout))
	m.Handle("POST "+Prefix+"/purge", http.HandlerFunc(h.purgeForm))
	m.Handle("GET "+Prefix+"/api/status", http.HandlerFunc(h.apiStatus))
	m.Handle("GET "+Prefix+"/api/cluster", http.HandlerFunc(h.apiCluster))
	m.Handle("POST "+Prefix+"/api/purge", http.HandlerFunc(h.apiPurge))
	m.Handle("GET "+Prefix+"/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	h.mux = m

	h.SetUsers(opts.Users)
	return h, nil
}

// SetUsers replaces the users, e.g. after a configuration reload. Sessions of
// users that are gone or disabled stop working at their next request.
func (h *Handler) SetUsers(users []conf.AdminUser) {
	m := make(map[string]conf.AdminUser, len(users))
	for _, u := range users {
		m[u.Name] = u
	}
	h.users.Store(&m)
}

// ServeHTTP sets the security headers every response carries, checks access
// (auth.go) and serves the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")

	r, ok := h.authorize(w, r)
	if !ok {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// indexData is what assets/index.html renders; the figures themselves are
// filled in by admin.js from /resin-admin/api/status.
type indexData struct {
	CSRF    string
	User    string // "" on loopback without users
	Purge   bool
	Message string
	Error   string
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	token, err := h.csrfFor(w, r)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	d := indexData{CSRF: token, User: principalOf(r).user, Purge: h.purge != nil}
	q := r.URL.Query()
	if n := q.Get("purged"); n != "" {
		d.Message = "Purged " + n + " cache entries for " + q.Get("url") + "."
	}
	d.Error = q.Get("purge_error")
	h.render(w, "index.html", http.StatusOK, d)
}

func (h *Handler) render(w http.ResponseWriter, name string, code int, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := h.pages.ExecuteTemplate(w, name, data); err != nil {
		h.log.Warn("admin page", zap.String("template", name), zap.Error(err))
	}
}

// purgeForm handles the purge form of the summary page; the CSRF token was
// checked by authorize.
func (h *Handler) purgeForm(w http.ResponseWriter, r *http.Request) {
	if h.purge == nil {
		http.NotFound(w, r)
		return
	}
	target := r.PostFormValue("url")
	n, err := h.doPurge(r, target)
	q := url.Values{}
	if err != nil {
		q.Set("purge_error", err.Error())
	} else {
		q.Set("purged", strconv.Itoa(n))
		q.Set("url", target)
	}
	http.Redirect(w, r, Prefix+"/?"+q.Encode(), http.StatusSeeOther)
}
