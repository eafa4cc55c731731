package admin

import (
	"context"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// How a request proved who it is.
const (
	viaLoopback = "loopback" // no users configured, client on 127.0.0.0/8 or ::1
	viaBasic    = "basic"
	viaSession  = "session"
	viaNone     = "" // only the login page and the stylesheet
)

type principal struct {
	user string
	via  string
}

type principalKey struct{}

func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// public paths are served without credentials when users are configured:
// the login form needs them.
func public(r *http.Request) bool {
	switch r.URL.Path {
	case Prefix + "/login", Prefix + "/admin.css":
		return true
	}
	return false
}

// authorize decides whether r may be served; when not, it has answered. The
// returned request carries the principal.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	users := *h.users.Load()
	var p principal
	switch {
	case len(users) == 0:
		if ip := clientIP(r); !ip.IsLoopback() {
			http.Error(w, "resin-admin: no <resin:user> is configured, so only loopback clients are served", http.StatusForbidden)
			return r, false
		}
		p = principal{via: viaLoopback}
	case r.Header.Get("Authorization") != "":
		user, ok := h.basic(w, r, users)
		if !ok {
			return r, false
		}
		p = principal{user: user, via: viaBasic}
	default:
		user, ok := h.sessionUser(r)
		if u, known := users[user]; ok && known && !u.Disabled {
			p = principal{user: user, via: viaSession}
		} else if !public(r) {
			h.challenge(w, r)
			return r, false
		}
	}

	if r.Method == http.MethodPost {
		// Browsers announce cross-site requests (Sec-Fetch-Site, Origin);
		// refuse those whatever credentials they carry.
		if err := h.cross.Check(r); err != nil {
			http.Error(w, "resin-admin: cross-origin request refused", http.StatusForbidden)
			return r, false
		}
		// Forms need the CSRF token. Scripts that authenticate with Basic
		// (which a browser here never caches: it is sent to the login form)
		// and, without users, loopback scripts calling the API do not.
		script := p.via == viaBasic ||
			(p.via == viaLoopback && strings.HasPrefix(r.URL.Path, Prefix+"/api/"))
		if !script && !h.csrfOK(r) {
			http.Error(w, "resin-admin: missing or stale form token; reload the page and try again", http.StatusForbidden)
			return r, false
		}
	}
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), true
}

// basic checks HTTP Basic credentials, rate-limiting failures per client.
func (h *Handler) basic(w http.ResponseWriter, r *http.Request, users map[string]conf.AdminUser) (string, bool) {
	ip := clientIP(r)
	if h.limited(w, ip) {
		return "", false
	}
	user, pass, ok := r.BasicAuth()
	if ok && h.check(users, user, pass) {
		return user, true
	}
	h.limit.fail(ip)
	h.log.Warn("resin-admin: authentication failed", zap.String("user", user), zap.Stringer("client", ip), zap.String("via", viaBasic))
	unauthorized(w)
	return "", false
}

// check reports whether user exists, is enabled and password is theirs. An
// unknown user costs about as much as a known one.
func (h *Handler) check(users map[string]conf.AdminUser, user, password string) bool {
	u, ok := users[user]
	if !ok {
		checkPassword(conf.AdminUser{Name: user, Password: "AAAAAAAAAAAAAAAAAAAAAA=="}, password)
		return false
	}
	return checkPassword(u, password)
}

// limited answers 429 when ip failed too often lately.
func (h *Handler) limited(w http.ResponseWriter, ip netip.Addr) bool {
	wait := h.limit.retryAfter(ip)
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	http.Error(w, "resin-admin: too many failed logins from your address; try again later", http.StatusTooManyRequests)
	return true
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="resin", charset="UTF-8"`)
	http.Error(w, "resin-admin: authentication required", http.StatusUnauthorized)
}

// challenge answers a request without credentials: people (browsers asking
// for a page) go to the login form, scripts get 401.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) {
	machine := strings.HasPrefix(r.URL.Path, Prefix+"/api/") || r.URL.Path == Prefix+"/metrics" ||
		strings.Contains(r.Header.Get("Accept"), "application/json")
	if r.Method == http.MethodGet && !machine && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
		return
	}
	unauthorized(w)
}

type loginData struct {
	CSRF  string
	User  string
	Error string
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	if len(*h.users.Load()) == 0 {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, "", "")
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, code int, user, msg string) {
	token, err := h.csrfFor(w, r)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.render(w, "login.html", code, loginData{CSRF: token, User: user, Error: msg})
}

// login checks the form (its CSRF token was checked by authorize) and starts
// a session.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	users := *h.users.Load()
	if len(users) == 0 {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	ip := clientIP(r)
	if h.limited(w, ip) {
		return
	}
	user, pass := r.PostFormValue("user"), r.PostFormValue("password")
	if !h.check(users, user, pass) {
		h.limit.fail(ip)
		h.log.Warn("resin-admin: authentication failed", zap.String("user", user), zap.Stringer("client", ip), zap.String("via", "form"))
		h.renderLogin(w, r, http.StatusUnauthorized, user, "Wrong user name or password.")
		return
	}
	v, err := h.sign.seal(sessionCookie, user, sessionTTL)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, h.cookie(r, sessionCookie, v, sessionTTL))
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, h.cookie(r, sessionCookie, "", -time.Second))
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}
