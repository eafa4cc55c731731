package core

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"resind/conf"
)

func TestRuleActionsExpandGroupsLikeResin(t *testing.T) {
	t.Parallel()
	root, shop := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"docs/intro.html": "intro page", "index.html": "home"})
	writeFiles(t, shop, map[string]string{"items/7.html": "item seven"})
	cfg := testConfig(testHost("",
		[]*conf.Rule{testRule(conf.MovedPermanently, `^/old-site/(.*)`, "/new-site/$1")},
		testApp("", root,
			testRule(conf.Redirect, `^/go/(\w+)`, "/docs/$1.html"),
			testRule(conf.Redirect, `^/away`, "http://elsewhere.test/x"),
			testRule(conf.Redirect, `\.htm$`, ".html"),
			testRule(conf.Forbidden, `^/private/`, ""),
			testRule(conf.NotFound, `\.bak$`, ""),
			testRule(conf.Forward, `^/alias/(.*)`, "/docs/$1"),
			testRule(conf.Dispatch, `^/d/(.*)`, "/docs/$1"),
			testRule(conf.Dispatch, `^/plain`, ""),
		),
		testApp("/shop", shop,
			testRule(conf.Redirect, `^/item/(\d+)$`, "/items/$1.html"),
			testRule(conf.Forward, `^/i(\d+)`, "/items/$1.html"),
		),
	))
	s := newServer(t, cfg)

	tests := []struct {
		name, path string
		code       int
		location   string
		body       string
	}{
		{"redirect expands $1", "/go/intro", 302, "http://example.com/docs/intro.html", ""},
		{"redirect keeps the query string", "/go/intro?a=1&b=2", 302, "http://example.com/docs/intro.html?a=1&b=2", ""},
		{"redirect to a full URL", "/away", 302, "http://elsewhere.test/x", ""},
		{"unanchored match replaces only the match", "/docs/intro.htm", 302, "http://example.com/docs/intro.html", ""},
		{"moved permanently in host", "/old-site/a/b", 301, "http://example.com/new-site/a/b", ""},
		{"forbidden", "/private/secret.txt", 403, "", "403 Forbidden"},
		{"not found", "/notes.bak", 404, "", "404 Not Found"},
		{"forward is internal", "/alias/intro.html", 200, "", "intro page"},
		{"dispatch rewrites", "/d/intro.html", 200, "", "intro page"},
		{"dispatch without target serves the path", "/plain", 404, "", ""},
		{"web-app redirect is inside its context", "/shop/item/7", 302, "http://example.com/shop/items/7.html", ""},
		{"web-app rules see the path after the context", "/shop/i7", 200, "", "item seven"},
		{"no rule: static file", "/", 200, "", "home"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(s, "GET", tc.path)
			if w.Code != tc.code {
				t.Fatalf("GET %s = %d, want %d (%q)", tc.path, w.Code, tc.code, w.Body.String())
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			if !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("body %q lacks %q", w.Body.String(), tc.body)
			}
		})
	}
}

func TestFirstMatchingRuleWins(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("", nil, testApp("", t.TempDir(),
		testRule(conf.Redirect, `^/a.*`, "/first"),
		testRule(conf.Forbidden, `^/a`, ""),
		testRule(conf.Redirect, `^/.*`, "/catch-all"),
	))))
	if loc := serve(s, "GET", "/abc").Header().Get("Location"); !strings.HasSuffix(loc, "/first") {
		t.Errorf("/abc went to %q, want the first rule's /first", loc)
	}
	if loc := serve(s, "GET", "/zzz").Header().Get("Location"); !strings.HasSuffix(loc, "/catch-all") {
		t.Errorf("/zzz went to %q, want /catch-all", loc)
	}
}

func TestHostRulesRunBeforeWebAppRules(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("",
		[]*conf.Rule{testRule(conf.Forbidden, `^/app/secret`, "")},
		testApp("/app", t.TempDir(), testRule(conf.Redirect, `^/secret`, "/public")),
	)))
	if w := serve(s, "GET", "/app/secret"); w.Code != 403 {
		t.Errorf("host rule did not win: %d", w.Code)
	}
}

func TestSetHeaderContinuesMatching(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "a"})
	setHost := testRule(conf.SetHeader, `^/`, "")
	setHost.HeaderName, setHost.HeaderValue = "X-Host", "h"
	setApp := testRule(conf.SetHeader, `^/`, "")
	setApp.HeaderName, setApp.HeaderValue = "X-Served-By", "resind"
	setLate := testRule(conf.SetHeader, `^/`, "")
	setLate.HeaderName, setLate.HeaderValue = "X-Late", "never"
	s := newServer(t, testConfig(testHost("", []*conf.Rule{setHost}, testApp("", dir,
		setApp,
		testRule(conf.Forbidden, `^/deny`, ""),
		setLate,
	))))
	w := serve(s, "GET", "/a.txt")
	if w.Code != 200 || w.Header().Get("X-Served-By") != "resind" || w.Header().Get("X-Host") != "h" {
		t.Errorf("file: %d %v", w.Code, w.Header())
	}
	w = serve(s, "GET", "/deny")
	if w.Code != 403 || w.Header().Get("X-Served-By") != "resind" {
		t.Errorf("SetHeader before a terminal rule: %d %v", w.Code, w.Header())
	}
	if w.Header().Get("X-Late") != "" {
		t.Errorf("SetHeader after the terminal rule applied: %v", w.Header())
	}
}

func cond(kind conf.CondKind, kids ...*conf.Condition) *conf.Condition {
	return &conf.Condition{Kind: kind, Children: kids, Value: true}
}

func header(name, re string) *conf.Condition {
	c := &conf.Condition{Kind: conf.IfHeader, Name: name}
	if re != "" {
		c.Match = regexp.MustCompile(re)
	}
	return c
}

func TestConditionsDecideWhetherARuleMatches(t *testing.T) {
	t.Parallel()
	cookie := &conf.Condition{Kind: conf.IfCookie, Name: "role", Match: regexp.MustCompile(`^admin$`)}
	method := &conf.Condition{Kind: conf.IfMethod, Method: "DELETE"}
	lan := &conf.Condition{Kind: conf.IfNetwork, Networks: []string{"10.0.0.0/8", "192.0.2.7"}}
	secure := &conf.Condition{Kind: conf.IfSecure, Value: true}
	tests := []struct {
		name   string
		cond   *conf.Condition
		remote string
		hdr    []string
		method string
		want   bool
	}{
		{"header present", header("X-Token", ""), "", []string{"X-Token", "x"}, "", true},
		{"header absent", header("X-Token", ""), "", nil, "", false},
		{"header value matches", header("X-Token", `^secret$`), "", []string{"X-Token", "secret"}, "", true},
		{"header value differs", header("X-Token", `^secret$`), "", []string{"X-Token", "secret2"}, "", false},
		{"cookie matches", cookie, "", []string{"Cookie", "a=b; role=admin"}, "", true},
		{"cookie differs", cookie, "", []string{"Cookie", "role=user"}, "", false},
		{"method", method, "", nil, "DELETE", true},
		{"other method", method, "", nil, "GET", false},
		{"network cidr", lan, "10.1.2.3:4", nil, "", true},
		{"network bare address", lan, "192.0.2.7:4", nil, "", true},
		{"network mapped v4", lan, "[::ffff:10.9.9.9]:4", nil, "", true},
		{"network outside", lan, "203.0.113.9:4", nil, "", false},
		{"not secure on plain http", secure, "", nil, "", false},
		{"not", cond(conf.Not, header("X-Token", "")), "", nil, "", true},
		{"not of present", cond(conf.Not, header("X-Token", "")), "", []string{"X-Token", "x"}, "", false},
		{"or one", cond(conf.Or, header("X-A", ""), header("X-B", "")), "", []string{"X-B", "1"}, "", true},
		{"or none", cond(conf.Or, header("X-A", ""), header("X-B", "")), "", nil, "", false},
		{"and both", cond(conf.And, header("X-A", ""), header("X-B", "")), "", []string{"X-A", "1", "X-B", "1"}, "", true},
		{"and one", cond(conf.And, header("X-A", ""), header("X-B", "")), "", []string{"X-A", "1"}, "", false},
		{"not of or nested", cond(conf.Not, cond(conf.Or, header("X-A", ""), cond(conf.Not, header("X-B", "")))),
			"", []string{"X-B", "1"}, "", true},
		{"not of or nested fails", cond(conf.Not, cond(conf.Or, header("X-A", ""), cond(conf.Not, header("X-B", "")))),
			"", nil, "", false},
		{"not negates the conjunction", cond(conf.Not, header("X-A", ""), header("X-B", "")), "", []string{"X-A", "1"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, testConfig(testHost("", nil, testApp("", t.TempDir(),
				testRule(conf.Forbidden, `^/x`, "", tc.cond)))))
			r := httptest.NewRequest(cmpOr(tc.method, "GET"), "/x", nil)
			r.RemoteAddr = cmpOr(tc.remote, "192.0.2.200:1")
			for i := 0; i < len(tc.hdr); i += 2 {
				r.Header.Add(tc.hdr[i], tc.hdr[i+1])
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if got := w.Code == 403; got != tc.want {
				t.Errorf("rule matched = %v (status %d), want %v", got, w.Code, tc.want)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestConditionsWithBadNetworksRefuseTheConfig(t *testing.T) {
	t.Parallel()
	bad := &conf.Condition{Kind: conf.IfNetwork, Pos: conf.Pos{File: "/test/resin.xml", Line: 77}, Networks: []string{"10.0.0.0/99"}}
	_, err := New(testConfig(testHost("", nil, testApp("", t.TempDir(), testRule(conf.Forbidden, "", "", bad)))),
		Options{ServerID: "web-a"})
	if err == nil || !strings.Contains(err.Error(), "resin.xml:77") {
		t.Fatalf("New = %v, want an error naming resin.xml:77", err)
	}
}

// backendAddr starts an HTTP backend that echoes what it received.
func echoBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("X-Got-Session", r.Header.Get("X-Resin-Session-Id"))
		io.WriteString(w, name+" "+r.URL.RequestURI())
	}))
	t.Cleanup(b.Close)
	return b
}

func TestLoadBalanceSendsTheOriginalRequestToTheCluster(t *testing.T) {
	t.Parallel()
	be := echoBackend(t, "app-a")
	host, port, _ := net.SplitHostPort(be.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	cfg := testConfig(testHost("", nil, testApp("", t.TempDir(),
		func() *conf.Rule {
			r := testRule(conf.LoadBalance, `^/app/`, "")
			r.Cluster = "app"
			return r
		}())))
	cfg.Clusters = append(cfg.Clusters, &conf.Cluster{ID: "app", Servers: []*conf.Server{
		{ID: "app-a", ClusterID: "app", Index: 0, Address: host, Port: p, Weight: 100, Timeout: conf.DefaultTimeouts},
	}})
	s := newServer(t, cfg)
	base := startServer(t, s)

	resp, body := get(t, base+"/app/x;jsessionid=aaaZ?q=1")
	if resp.StatusCode != 200 || body != "app-a /app/x;jsessionid=aaaZ?q=1" {
		t.Fatalf("GET = %d %q, want app-a with the original URI", resp.StatusCode, body)
	}
	st := s.Status()
	if len(st.Backends) != 1 || st.Backends[0].ID != "app-a" || st.Backends[0].Target != "app" {
		t.Errorf("Status().Backends = %+v", st.Backends)
	}
}

func TestHttpProxyPassesTheSessionIdToTheBackend(t *testing.T) {
	t.Parallel()
	be := echoBackend(t, "php")
	hp := testRule(conf.HttpProxy, `^/dyn/`, "")
	hp.Backends = []conf.Backend{{Address: be.Listener.Addr().String(), Weight: 100}}
	app := testApp("", t.TempDir(), hp)
	app.Session = &conf.SessionConfig{CookieName: "JSESSIONID"}
	s := newServer(t, testConfig(testHost("", nil, app)))
	base := startServer(t, s)

	resp, body := get(t, base+"/dyn/page", "X-Resin-Session-Id", "forged")
	if resp.StatusCode != 200 || body != "php /dyn/page" {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	got := resp.Header.Get("X-Got-Session")
	if !strings.HasPrefix(got, "aaa") || got == "forged" {
		t.Errorf("backend saw session %q, want the issued aaa… id", got)
	}
	if c := resp.Cookies(); len(c) != 1 || c[0].Value != got {
		t.Errorf("cookies %v, want the id the backend saw", c)
	}
	resp, _ = get(t, base+"/dyn/page", "Cookie", "JSESSIONID=baaExisting")
	if got := resp.Header.Get("X-Got-Session"); got != "baaExisting" || len(resp.Cookies()) != 0 {
		t.Errorf("existing session: backend saw %q, cookies %v", got, resp.Cookies())
	}
}

func TestExpandFollowsJavaReplaceAll(t *testing.T) {
	t.Parallel()
	tests := []struct{ re, src, target, want string }{
		{`^/old/(.*)`, "/old/a/b", "/new/$1", "/new/a/b"},
		{`\.bak$`, "/notes.bak", ".txt", "/notes.txt"},
		{`^/(\w+)/(\w+)`, "/a/b/c", "/$2/$1", "/b/a/c"},
		{`^/(a)`, "/abc", "/$12", "/a2bc"}, // $12 is group 1 then "2" with one group
		{`^/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)`, "/abcdefghijkl", "$12", "l"},
		{`^/(?P<name>\w+)`, "/joe", "/user/${name}", "/user/joe"},
		{`^/x`, "/x", `/\$1`, "/$1"},
		{`^/x`, "/x", "/$9", "/$9"}, // no such group: kept as written
		{`^/(a)?b`, "/b", "/[$1]", "/[]"},
		{`o`, "/foo", "0", "/f00"}, // every match is replaced
		{`^/x`, "/x", "/cost$", "/cost$"},
		{`^/x`, "/x", "/${nope}", "/${nope}"},
	}
	for _, tc := range tests {
		if got := replaceAll(regexp.MustCompile(tc.re), tc.src, tc.target); got != tc.want {
			t.Errorf("replaceAll(%q, %q, %q) = %q, want %q", tc.re, tc.src, tc.target, got, tc.want)
		}
	}
}

func FuzzExpandTarget(f *testing.F) {
	for _, s := range []string{"/new/$1", "$12", "${name}", `\$`, "$", "${", "/$1$2$3"} {
		f.Add(s, "/old/abc/def")
	}
	re := regexp.MustCompile(`^/old/(?P<name>\w+)/(\w*)`)
	f.Fuzz(func(t *testing.T, target, src string) {
		out := replaceAll(re, src, target)
		if !re.MatchString(src) && out != src {
			t.Fatalf("no match but %q became %q", src, out)
		}
		// Without references or escapes, the target is copied as is.
		if re.MatchString(src) && !strings.ContainsAny(target, `$\`) {
			loc := re.FindStringIndex(src)
			if want := src[:loc[0]] + target + src[loc[1]:]; out != want {
				t.Fatalf("plain target: got %q want %q", out, want)
			}
		}
	})
}
