package core

import (
	"net/http"
	"strings"
	"testing"

	"resind/conf"
)

func TestHostIsChosenByHostHeaderAliasOrDefault(t *testing.T) {
	t.Parallel()
	dirs := map[string]string{}
	for _, n := range []string{"default", "example", "other"} {
		dirs[n] = t.TempDir()
		writeFiles(t, dirs[n], map[string]string{"index.html": "site " + n})
	}
	example := testHost("www.example.com", nil, testApp("", dirs["example"]))
	example.Aliases = []string{"example.com", "Example.ORG"}
	cfg := testConfig(
		example,
		testHost("", nil, testApp("/", dirs["default"])),
		testHost("other.test", nil, testApp("", dirs["other"])),
	)
	s := newServer(t, cfg)

	tests := []struct{ host, want string }{
		{"www.example.com", "site example"},
		{"WWW.Example.COM", "site example"},
		{"www.example.com:8080", "site example"},
		{"example.com", "site example"},
		{"example.org:80", "site example"},
		{"other.test", "site other"},
		{"unknown.test", "site default"},
		{"127.0.0.1:8080", "site default"},
		{"[::1]:8080", "site default"},
		{"", "site default"},
	}
	for _, tc := range tests {
		w := serve(s, "GET", "/", "Host", tc.host)
		if w.Code != 200 || w.Body.String() != tc.want {
			t.Errorf("Host %q: %d %q, want %q", tc.host, w.Code, w.Body.String(), tc.want)
		}
	}
}

func TestUnknownHostWithoutDefaultIsNotFound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "x"})
	s := newServer(t, testConfig(testHost("only.test", nil, testApp("", dir))))
	if w := serve(s, "GET", "/", "Host", "else.test"); w.Code != 404 {
		t.Fatalf("unknown host: %d, want 404", w.Code)
	}
	if w := serve(s, "GET", "/", "Host", "only.test"); w.Code != 200 {
		t.Fatalf("known host: %d, want 200", w.Code)
	}
}

func TestLongestWebAppPrefixOnASegmentBoundaryWins(t *testing.T) {
	t.Parallel()
	root, shop, shopAdmin := t.TempDir(), t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"shopping/a.txt": "root shopping", "b.txt": "root b"})
	writeFiles(t, shop, map[string]string{"a.txt": "shop a", "index.html": "shop index"})
	writeFiles(t, shopAdmin, map[string]string{"a.txt": "admin a"})
	s := newServer(t, testConfig(testHost("", nil,
		testApp("", root), testApp("/shop", shop), testApp("/shop/admin", shopAdmin))))

	tests := []struct {
		path string
		code int
		body string
	}{
		{"/b.txt", 200, "root b"},
		{"/shop/a.txt", 200, "shop a"},
		{"/shop/admin/a.txt", 200, "admin a"},
		{"/shopping/a.txt", 200, "root shopping"},
		{"/shop/", 200, "shop index"},
		{"/shop", 301, ""},
	}
	for _, tc := range tests {
		w := serve(s, "GET", tc.path)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, w.Code, w.Body.String(), tc.code, tc.body)
		}
	}
	if loc := serve(s, "GET", "/shop?q=1").Header().Get("Location"); loc != "/shop/?q=1" {
		t.Errorf("GET /shop redirects to %q, want /shop/?q=1", loc)
	}
}

func TestNoWebAppMatchingIsNotFound(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("", nil, testApp("/app", t.TempDir()))))
	if w := serve(s, "GET", "/other"); w.Code != 404 {
		t.Fatalf("GET /other = %d, want 404", w.Code)
	}
}

func TestResponsesCarryServerHeaderAndShortErrorPages(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("", nil, testApp("", t.TempDir()))))
	w := serve(s, "GET", "/missing")
	if w.Code != 404 || w.Header().Get("Server") != "resind" {
		t.Fatalf("%d Server=%q", w.Code, w.Header().Get("Server"))
	}
	if !strings.Contains(w.Body.String(), "404 Not Found") || w.Body.Len() > 1024 {
		t.Errorf("404 page: %q", w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("404 Content-Type %q", ct)
	}
}

func TestMountIsServedBeforeHostRouting(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("only.test", nil, testApp("", t.TempDir()))))
	s.Mount("/resin-admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("admin " + r.URL.Path))
	}))
	for _, p := range []string{"/resin-admin", "/resin-admin/x", "/resin-admin;jsessionid=abc/x"} {
		w := serve(s, "GET", p, "Host", "unknown.test")
		if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "admin ") {
			t.Errorf("GET %s: %d %q, want the mounted handler", p, w.Code, w.Body.String())
		}
	}
	if w := serve(s, "GET", "/resin-administrator", "Host", "unknown.test"); w.Code != 404 {
		t.Errorf("GET /resin-administrator: %d, want 404 (not below the mount)", w.Code)
	}
}

func TestSessionPathParameterIsStrippedForMatching(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"docs/a.txt": "doc a"})
	s := newServer(t, testConfig(testHost("", nil, testApp("", dir,
		testRule(conf.Forbidden, `^/private$`, "")))))
	if w := serve(s, "GET", "/private;jsessionid=aaaXYZ"); w.Code != 403 {
		t.Errorf("rule did not see the path without ;jsessionid: %d", w.Code)
	}
	if w := serve(s, "GET", "/docs/a.txt;jsessionid=aaaXYZ"); w.Code != 200 || w.Body.String() != "doc a" {
		t.Errorf("file with ;jsessionid: %d %q", w.Code, w.Body.String())
	}
}
