// These tests load a real resin.xml with conf.Load, so the routing tests
// that build configurations by hand are known to match what the loader makes.

package core

import (
	"strings"
	"testing"

	"resind/conf"
)

func TestRealResinXMLRoutesLikeHandBuiltConfig(t *testing.T) {
	cfg, err := conf.Load("testdata/site/resin.xml")
	if err != nil {
		t.Fatalf("conf.Load: %v", err)
	}
	s := newServer(t, cfg)
	tests := []struct {
		path     string
		code     int
		location string
		body     string
	}{
		{"/docs/intro.html", 200, "", "intro page"},
		{"/go/intro", 302, "/docs/intro.html", ""},
		{"/old-site/a/b", 301, "/new-site/a/b", ""},
		{"/private/x", 403, "", ""},
		{"/alias/intro.html", 200, "", "intro page"},
		{"/admin-only/x", 403, "", ""}, // serve() comes from 192.0.2.7
		{"/shop/", 200, "", "the shop"},
	}
	for _, tc := range tests {
		w := serve(s, "GET", tc.path)
		if w.Code != tc.code || !strings.HasSuffix(w.Header().Get("Location"), tc.location) ||
			!strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("GET %s = %d %q Location %q", tc.path, w.Code, w.Body.String(), w.Header().Get("Location"))
		}
		// SetHeader is a rule of web-app "/": host rules before it (the
		// MovedPermanently) and the other web-app (/shop) do not run it.
		want := "resind"
		if tc.path == "/old-site/a/b" || strings.HasPrefix(tc.path, "/shop/") {
			want = ""
		}
		if got := w.Header().Get("X-Served-By"); got != want {
			t.Errorf("GET %s: X-Served-By %q, want %q", tc.path, got, want)
		}
	}
	if c := serve(s, "GET", "/shop/").Result().Cookies(); len(c) != 1 || !strings.HasPrefix(c[0].Value, "aaa") {
		t.Errorf("session cookie %v", c)
	}
}
