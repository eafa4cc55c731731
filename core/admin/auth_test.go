package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestWithoutUsersLoopbackClientsAreServed(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{})
	for _, from := range []string{"127.0.0.1:1234", "127.8.9.10:1", "[::1]:1234", "[::ffff:127.0.0.1]:80"} {
		for _, path := range []string{Prefix + "/", Prefix + "/api/status", Prefix + "/metrics"} {
			if w := serve(h, request("GET", path, from, nil)); w.Code != http.StatusOK {
				t.Errorf("GET %s from %s: %d, want 200", path, from, w.Code)
			}
		}
	}
}

func TestWithoutUsersRemoteClientsAreForbidden(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{})
	for _, from := range []string{remote, "[2001:db8::1]:80", "10.0.0.1:5"} {
		for _, path := range []string{Prefix + "/", Prefix + "/api/status", Prefix + "/metrics", Prefix + "/login"} {
			w := serve(h, request("GET", path, from, nil))
			if w.Code != http.StatusForbidden {
				t.Errorf("GET %s from %s: %d, want 403", path, from, w.Code)
			}
		}
	}
}

func TestBasicAuthMatrix(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	cases := []struct {
		name, user, pass, from string
		want                   int
	}{
		{"md5 digest, right password", "admin", "s3cret", remote, 200},
		{"md5 digest, right password, loopback", "admin", "s3cret", loopback, 200},
		{"md5 digest, wrong password", "admin", "S3cret", remote, 401},
		{"plain password", "ops", "plain-pw", remote, 200},
		{"plain password, wrong", "ops", "plain-pw ", remote, 401},
		{"disabled user", "gone", "plain-pw", remote, 401},
		{"unknown user", "nobody", "s3cret", remote, 401},
		{"empty", "", "", remote, 401},
	}
	for _, c := range cases {
		r := request("GET", Prefix+"/api/status", c.from, nil)
		r.SetBasicAuth(c.user, c.pass)
		w := serve(h, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
		if c.want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, w.Header().Get("WWW-Authenticate"))
		}
	}
}

func TestUsersConfiguredLoopbackStillNeedsCredentials(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	if w := serve(h, request("GET", Prefix+"/api/status", loopback, nil)); w.Code != http.StatusUnauthorized {
		t.Fatalf("loopback without credentials: %d, want 401", w.Code)
	}
}

func TestBrowserWithoutCredentialsIsSentToLoginForm(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	w := b.get(Prefix + "/")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != Prefix+"/login" {
		t.Fatalf("GET / in a browser: %d Location %q, want 303 to the login form", w.Code, w.Header().Get("Location"))
	}
	// A script asking for JSON gets a challenge instead.
	r := request("GET", Prefix+"/", remote, nil)
	r.Header.Set("Accept", "application/json")
	if w := serve(h, r); w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Fatalf("GET / asking for JSON: %d, want 401 with WWW-Authenticate", w.Code)
	}
}

func TestLoginFormGivesSessionCookieThatOpensThePage(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	b.login("admin", "s3cret")

	c := b.cookies[sessionCookie]
	if c == nil {
		t.Fatal("no session cookie after login")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != Prefix || c.MaxAge <= 0 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=%s, an expiry", c, Prefix)
	}
	w := b.get(Prefix + "/")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "admin.js") {
		t.Fatalf("summary after login: %d %s", w.Code, w.Body.String())
	}
	if w := b.get(Prefix + "/api/status"); w.Code != http.StatusOK {
		t.Fatalf("api with session: %d", w.Code)
	}
}

func TestLoginFormRejectsWrongPasswordAndDisabledUser(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	for _, u := range [][2]string{{"admin", "nope"}, {"gone", "plain-pw"}} {
		b := newBrowser(t, h, "198.51.100.1:1")
		tok := b.csrf(Prefix + "/login")
		w := b.post(Prefix+"/login", url.Values{"csrf": {tok}, "user": {u[0]}, "password": {u[1]}})
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "Wrong user name or password") {
			t.Errorf("login %s/%s: %d, want 401 and the form again", u[0], u[1], w.Code)
		}
		if b.cookies[sessionCookie] != nil {
			t.Errorf("login %s/%s set a session cookie", u[0], u[1])
		}
	}
}

func TestLoginWithoutCSRFTokenIsRefused(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	b.csrf(Prefix + "/login") // has the nonce cookie, but sends no token
	for _, tok := range []string{"", "forged"} {
		w := b.post(Prefix+"/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"s3cret"}})
		if w.Code != http.StatusForbidden || b.cookies[sessionCookie] != nil {
			t.Errorf("login with csrf %q: %d, want 403 and no session", tok, w.Code)
		}
	}
}

func TestPostWithSessionButWithoutCSRFIsRefused(t *testing.T) {
	t.Parallel()
	rec := &purgeRecorder{}
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers(), Purge: rec.purge})
	b := newBrowser(t, h, remote)
	b.login("admin", "s3cret")
	for _, path := range []string{Prefix + "/purge", Prefix + "/api/purge", Prefix + "/logout"} {
		if w := b.post(path, url.Values{"url": {"/x"}}); w.Code != http.StatusForbidden {
			t.Errorf("POST %s without csrf: %d, want 403", path, w.Code)
		}
	}
	if got := rec.got(); len(got) != 0 {
		t.Fatalf("purged %v without a CSRF token", got)
	}
}

func TestCrossSiteBrowserPostIsRefusedEvenWithBasicAuth(t *testing.T) {
	t.Parallel()
	rec := &purgeRecorder{}
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers(), Purge: rec.purge})
	r := request("POST", Prefix+"/api/purge", remote, url.Values{"url": {"/x"}})
	r.SetBasicAuth("admin", "s3cret")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if w := serve(h, r); w.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", w.Code)
	}
	if len(rec.got()) != 0 {
		t.Fatal("cross-site POST purged")
	}
}

func TestTamperedSessionCookieIsRefused(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	b.login("ops", "plain-pw")
	good := b.cookies[sessionCookie].Value
	payload, mac, _ := strings.Cut(good, ".")
	forged, err := (&signer{key: []byte("another key"), now: func() time.Time { return t0 }}).seal(sessionCookie, "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(payload)
	flip[len(flip)/2] ^= 1
	for name, v := range map[string]string{
		"flipped payload bit": string(flip) + "." + mac,
		"no mac":              payload,
		"other key":           forged,
		"garbage":             "x.y",
	} {
		r := request("GET", Prefix+"/api/status", remote, nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		if w := serve(h, r); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, w.Code)
		}
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	b.login("admin", "s3cret")
	h.now = func() time.Time { return t0.Add(sessionTTL + time.Second) }
	if w := b.get(Prefix + "/"); w.Code != http.StatusSeeOther {
		t.Fatalf("page after the session expired: %d, want 303 to login", w.Code)
	}
}

func TestSessionEndsWhenReloadDisablesTheUser(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	b.login("ops", "plain-pw")
	users := adminUsers()
	users[1].Disabled = true
	h.SetUsers(users)
	if w := b.get(Prefix + "/api/status"); w.Code != http.StatusUnauthorized {
		t.Fatalf("session of a user disabled by reload: %d, want 401", w.Code)
	}
}

func TestLogoutEndsTheSession(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	b := newBrowser(t, h, remote)
	b.login("admin", "s3cret")
	tok := b.csrf(Prefix + "/")
	if w := b.post(Prefix+"/logout", url.Values{"csrf": {tok}}); w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := b.get(Prefix + "/"); w.Code != http.StatusSeeOther {
		t.Fatalf("page after logout: %d, want 303 to login", w.Code)
	}
}

func TestRepeatedWrongPasswordsAreRateLimited(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	now := t0
	h.now = func() time.Time { return now }
	basic := func(from, pass string) int {
		r := request("GET", Prefix+"/api/status", from, nil)
		r.SetBasicAuth("admin", pass)
		return serve(h, r).Code
	}
	for i := 0; i < 5; i++ {
		if c := basic(remote, "wrong"); c != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, c)
		}
		now = now.Add(time.Second)
	}
	r := request("GET", Prefix+"/api/status", remote, nil)
	r.SetBasicAuth("admin", "s3cret")
	w := serve(h, r)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("6th try, right password: %d Retry-After %q, want 429", w.Code, w.Header().Get("Retry-After"))
	}
	// The login form is limited too, for the same address.
	b := newBrowser(t, h, remote)
	tok := b.csrf(Prefix + "/login")
	if w := b.post(Prefix+"/login", url.Values{"csrf": {tok}, "user": {"admin"}, "password": {"s3cret"}}); w.Code != http.StatusTooManyRequests {
		t.Fatalf("login form while limited: %d, want 429", w.Code)
	}
	// Other clients are not affected.
	if c := basic("198.51.100.7:9", "s3cret"); c != http.StatusOK {
		t.Fatalf("another client: %d, want 200", c)
	}
	// A minute after the first failure, one more try is allowed.
	now = t0.Add(time.Minute + time.Second)
	if c := basic(remote, "s3cret"); c != http.StatusOK {
		t.Fatalf("after the window slid: %d, want 200", c)
	}
}

func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	for _, path := range []string{Prefix + "/", Prefix + "/login", Prefix + "/admin.css", Prefix + "/api/status"} {
		w := serve(h, request("GET", path, remote, nil))
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if w.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", path, w.Header().Get("X-Frame-Options"))
		}
	}
}

func TestPagesHaveNoInlineScript(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{})
	for _, path := range []string{Prefix + "/", Prefix + "/login"} {
		w := serve(h, request("GET", path, loopback, nil))
		body := w.Body.String()
		for _, bad := range []string{"<script>", " onclick=", " onload=", "style="} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q, which the CSP blocks", path, bad)
			}
		}
	}
}
