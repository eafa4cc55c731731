package admin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"resind/conf"
	"resind/core"
	"resind/proxy"
)

// fakeSource serves a fixed core.Status that a test may swap.
type fakeSource struct{ st atomic.Pointer[core.Status] }

func newFakeSource(s core.Status) *fakeSource {
	f := &fakeSource{}
	f.set(s)
	return f
}

func (f *fakeSource) set(s core.Status)   { f.st.Store(&s) }
func (f *fakeSource) Status() core.Status { return *f.st.Load() }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sampleStatus is a web-tier server balancing over two app servers, one down,
// with a proxy cache.
func sampleStatus() core.Status {
	return core.Status{
		ServerID: "web-a", ClusterID: "web", Version: "0.1.0-test", PID: 4242,
		Started: t0.Add(-90 * time.Minute), ConfigFile: "/etc/resin/resin.xml",
		LastReload: core.ReloadStatus{Time: t0.Add(-time.Minute), OK: false,
			Error: "resin.xml:42: <server id=\"app-a\">: port \"68o0\" is not a number"},
		Listeners: []string{"http 0.0.0.0:8080", "cluster 127.0.0.1:6800"},
		Requests:  1000, Errors: 7,
		Latency: core.Histogram{Bounds: core.LatencyBuckets[:],
			Counts: []uint64{600, 200, 100, 50, 30, 10, 5, 3, 1, 1, 0, 0}, Sum: 20 * time.Second},
		Reloads: 3, Refusals: 1,
		Warnings: []string{"resin.xml:12: <foo>: unknown element, ignored"},
		Backends: []proxy.BackendStatus{
			{ID: "app-a", Address: "127.0.0.1:6801", Target: "app", State: "up", Active: 2, Idle: 3,
				Requests: 600, Failures: 1, LastFailure: t0.Add(-time.Hour), Latency: 12 * time.Millisecond, Weight: 100},
			{ID: "app-b", Address: "127.0.0.1:6802", Target: "app", State: "down",
				Requests: 390, Failures: 17, LastFailure: t0.Add(-5 * time.Second), Latency: 0, Weight: 100},
		},
		Caches: []core.CacheStatus{{Cluster: "app", Hits: 300, Misses: 100, Stores: 90, Evictions: 4,
			Bytes: 1 << 20, MemorySize: 64 << 20, Entries: 85}},
	}
}

// md5 "s3cret" for admin, computed with Python's hashlib:
// base64(md5(b"admin:resin:s3cret")).
const adminMD5 = "kG33t909i7dX0+dx0sUqcw=="

func adminUsers() []conf.AdminUser {
	return []conf.AdminUser{
		{Name: "admin", Password: adminMD5},
		{Name: "ops", Password: "plain-pw", PasswordDigest: "none"},
		{Name: "gone", Password: "plain-pw", PasswordDigest: "none", Disabled: true},
	}
}

type purgeRecorder struct {
	mu   sync.Mutex
	urls []string
}

func (p *purgeRecorder) purge(u string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls = append(p.urls, u)
	return 3, nil
}

func (p *purgeRecorder) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.urls...)
}

func newTestHandler(t *testing.T, src Source, opts Options) *Handler {
	t.Helper()
	h, err := New(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return t0 }
	return h
}

const remote = "203.0.113.9:50000"
const loopback = "127.0.0.1:50000"

func request(method, target, from string, body url.Values) *http.Request {
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	r.RemoteAddr = from
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// browser keeps cookies between requests like a browser does for one site.
type browser struct {
	t       *testing.T
	h       http.Handler
	from    string
	cookies map[string]*http.Cookie
}

func newBrowser(t *testing.T, h http.Handler, from string) *browser {
	return &browser{t: t, h: h, from: from, cookies: map[string]*http.Cookie{}}
}

func (b *browser) do(r *http.Request) *httptest.ResponseRecorder {
	r.RemoteAddr = b.from
	if r.Header.Get("Accept") == "" {
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := serve(b.h, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

func (b *browser) get(path string) *httptest.ResponseRecorder {
	return b.do(httptest.NewRequest("GET", path, nil))
}

func (b *browser) post(path string, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(r)
}

// csrf reads the token of the form on page.
func (b *browser) csrf(page string) string {
	b.t.Helper()
	w := b.get(page)
	m := csrfInput.FindStringSubmatch(w.Body.String())
	if m == nil {
		b.t.Fatalf("GET %s: no csrf field in %d %s", page, w.Code, w.Body.String())
	}
	return m[1]
}

// login logs in through the form and fails the test if that does not work.
func (b *browser) login(user, password string) {
	b.t.Helper()
	tok := b.csrf(Prefix + "/login")
	w := b.post(Prefix+"/login", url.Values{"csrf": {tok}, "user": {user}, "password": {password}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != Prefix+"/" {
		b.t.Fatalf("login as %s: %d %s", user, w.Code, w.Body.String())
	}
}
