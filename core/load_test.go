//go:build confload

// These tests load real resin.xml files with conf.Load. They are behind the
// "confload" build tag until package conf has Load; then the tag goes.
// Run: go test -tags confload ./core/

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
		if w.Header().Get("X-Served-By") != "resind" && tc.path != "/old-site/a/b" {
			t.Errorf("GET %s: SetHeader missing", tc.path)
		}
	}
	if c := serve(s, "GET", "/shop/").Result().Cookies(); len(c) != 1 || !strings.HasPrefix(c[0].Value, "aaa") {
		t.Errorf("session cookie %v", c)
	}
}
