package core

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func staticServer(t *testing.T) (*Server, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	writeFiles(t, base, map[string]string{
		"root/hello.txt":            "hello, world",
		"root/index.html":           "<p>home</p>",
		"root/dir/index.html":       "dir index",
		"root/empty/keep.txt":       "x",
		"root/.git/config":          "secret git config",
		"root/.well-known/security": "contact",
		"root/WEB-INF/web.xml":      "private",
		"secret.txt":                "outside the root",
	})
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(root, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(root, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hello.txt", filepath.Join(root, "inside.txt")); err != nil {
		t.Fatal(err)
	}
	return newServer(t, testConfig(testHost("", nil, testApp("", root)))), base
}

func TestStaticFilesAreServedWithValidators(t *testing.T) {
	t.Parallel()
	s, _ := staticServer(t)
	w := serve(s, "GET", "/hello.txt")
	if w.Code != 200 || w.Body.String() != "hello, world" {
		t.Fatalf("GET = %d %q", w.Code, w.Body.String())
	}
	etag, lm := w.Header().Get("Etag"), w.Header().Get("Last-Modified")
	if etag == "" || lm == "" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("headers %v lack ETag, Last-Modified or Content-Type", w.Header())
	}
	if w := serve(s, "GET", "/hello.txt", "If-None-Match", etag); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("If-None-Match = %d, want 304 without body", w.Code)
	}
	if w := serve(s, "GET", "/hello.txt", "If-Modified-Since", lm); w.Code != 304 {
		t.Errorf("If-Modified-Since = %d, want 304", w.Code)
	}
	if w := serve(s, "GET", "/hello.txt", "If-None-Match", `"other"`); w.Code != 200 {
		t.Errorf("stale If-None-Match = %d, want 200", w.Code)
	}
	w = serve(s, "GET", "/hello.txt", "Range", "bytes=7-11")
	if w.Code != 206 || w.Body.String() != "world" || w.Header().Get("Content-Range") != "bytes 7-11/12" {
		t.Errorf("Range = %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Range"))
	}
	w = serve(s, "HEAD", "/hello.txt")
	if w.Code != 200 || w.Header().Get("Content-Length") != "12" {
		t.Errorf("HEAD = %d, Content-Length %q", w.Code, w.Header().Get("Content-Length"))
	}
	w = serve(s, "POST", "/hello.txt")
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d Allow %q, want 405", w.Code, w.Header().Get("Allow"))
	}
}

func TestDirectoriesServeIndexHTMLAndAreNeverListed(t *testing.T) {
	t.Parallel()
	s, _ := staticServer(t)
	tests := []struct {
		path     string
		code     int
		body     string
		location string
	}{
		{"/", 200, "<p>home</p>", ""},
		{"/dir/", 200, "dir index", ""},
		{"/dir", 301, "", "/dir/"},
		{"/empty/", 404, "", ""},
		{"/empty", 301, "", "/empty/"},
	}
	for _, tc := range tests {
		w := serve(s, "GET", tc.path)
		if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) || w.Header().Get("Location") != tc.location {
			t.Errorf("GET %s = %d %q Location %q, want %d %q %q", tc.path, w.Code, w.Body.String(),
				w.Header().Get("Location"), tc.code, tc.body, tc.location)
		}
		if strings.Contains(w.Body.String(), "keep.txt") {
			t.Errorf("GET %s listed a directory", tc.path)
		}
	}
}

func TestNothingOutsideTheRootOrPrivateIsServed(t *testing.T) {
	t.Parallel()
	s, _ := staticServer(t)
	for _, p := range []string{
		"/../secret.txt",
		"/%2e%2e/secret.txt",
		"/%2E%2E%2fsecret.txt",
		"/dir/../../secret.txt",
		"/..%5csecret.txt",
		"/hello.txt%00.png",
		"/escape.txt",      // symlink to a file outside the root
		"/up/secret.txt",   // symlink to a directory outside the root
		"/.git/config",     // dotfiles
		"/dir/%2egit",      // encoded dot
		"/WEB-INF/web.xml", // servlet private directory
		"/web-inf/web.xml",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path, r.URL.RawPath = "", ""
		r.RequestURI = p
		if u, err := r.URL.Parse(p); err == nil {
			r.URL = u
		} else {
			t.Fatalf("%s: %v", p, err)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != 404 && w.Code != 403 {
			t.Errorf("GET %s = %d %q, want 404", p, w.Code, w.Body.String())
		}
		if strings.Contains(w.Body.String(), "outside") || strings.Contains(w.Body.String(), "secret git") ||
			strings.Contains(w.Body.String(), "private") {
			t.Errorf("GET %s served a protected file", p)
		}
	}
	if w := serve(s, "GET", "/inside.txt"); w.Code != 200 || w.Body.String() != "hello, world" {
		t.Errorf("symlink inside the root = %d, want it served", w.Code)
	}
	if w := serve(s, "GET", "/.well-known/security"); w.Code != 200 {
		t.Errorf(".well-known = %d, want served", w.Code)
	}
}

func TestStaticFilesOverARealConnection(t *testing.T) {
	t.Parallel()
	s, _ := staticServer(t)
	base := startServer(t, s)
	resp, body := get(t, base+"/hello.txt")
	if resp.StatusCode != http.StatusOK || body != "hello, world" || resp.Header.Get("Server") != "resind" {
		t.Fatalf("GET = %d %q Server %q", resp.StatusCode, body, resp.Header.Get("Server"))
	}
	resp, _ = get(t, base+"/%2e%2e/secret.txt")
	if resp.StatusCode != 404 {
		t.Errorf("encoded traversal over the wire = %d", resp.StatusCode)
	}
}

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/", "/", true},
		{"/a/b", "/a/b", true},
		{"/a/b/", "/a/b/", true},
		{"//a//b", "/a/b", true},
		{"/a/./b", "/a/b", true},
		{"/a/../b", "/b", true},
		{"/a/..", "/", true},
		{"/a/b/..", "/a/", true},
		{"/a/.", "/a/", true},
		{"/..", "", false},
		{"/../a", "", false},
		{"/a/../../b", "", false},
		{"a", "", false},
		{"", "", false},
		{"/a\\..\\b", "", false},
		{"/a\x00b", "", false},
		{"/.well-known/x", "/.well-known/x", true},
		{"/...", "/...", true},
	}
	for _, tc := range tests {
		got, ok := cleanPath(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x/./y/", "/..", "/a/b/../../..", "/.%2e/", "/a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := cleanPath(in)
		if !ok {
			return
		}
		if !strings.HasPrefix(out, "/") || strings.Contains(out, "//") || strings.ContainsAny(out, "\x00\\") {
			t.Fatalf("cleanPath(%q) = %q", in, out)
		}
		for _, seg := range strings.Split(out, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("cleanPath(%q) = %q keeps a dot segment", in, out)
			}
		}
		if again, ok := cleanPath(out); !ok || again != out {
			t.Fatalf("cleanPath not idempotent: %q → %q → %q", in, out, again)
		}
	})
}
