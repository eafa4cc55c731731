package core

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"resind/conf"
)

// fixedVersions serves one directory and records the sessions issued on it.
type fixedVersions struct {
	mu     sync.Mutex
	root   string
	issued map[string]string
}

func (v *fixedVersions) Root(session string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.issued[session]; ok {
		return r
	}
	return v.root
}

func (v *fixedVersions) Issued(session, root string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.issued[session] = root
}

func TestDeployedWebAppsServeFromTheirVersionAndSurviveReloads(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"conf/index.html": "configured", "v1/index.html": "deployed v1", "v2/index.html": "deployed v2",
		"new/index.html": "brand new", "conf/deep/index.html": "deep",
	})
	shop := testApp("/shop", filepath.Join(dir, "conf"))
	shop.Session = &conf.SessionConfig{CookieName: "JSESSIONID", Timeout: time.Minute}
	deep := testApp("/shop/deep", filepath.Join(dir, "conf", "deep"))
	cfg := testConfig(testHost("", nil, shop, deep))
	s := newServer(t, cfg)

	if w := serve(s, "GET", "/shop/"); w.Body.String() != "configured" {
		t.Fatalf("before deploying: %q", w.Body.String())
	}
	v := &fixedVersions{root: filepath.Join(dir, "v1"), issued: map[string]string{}}
	s.SetDeployed("", "/shop", v)
	s.SetDeployed("", "/new", &fixedVersions{root: filepath.Join(dir, "new"), issued: map[string]string{}})

	// The configured web-app keeps its <session-config>: the session is
	// issued and recorded on the version that served it.
	w := serve(s, "GET", "/shop/")
	if w.Body.String() != "deployed v1" {
		t.Errorf("deployed /shop serves %q", w.Body.String())
	}
	cookie := w.Header().Get("Set-Cookie")
	id, _, _ := strings.Cut(strings.TrimPrefix(cookie, "JSESSIONID="), ";")
	if id == "" || v.issued[id] != filepath.Join(dir, "v1") {
		t.Fatalf("session %q issued on %v", cookie, v.issued)
	}
	// A longer configured context path still wins.
	if w := serve(s, "GET", "/shop/deep/"); w.Body.String() != "deep" {
		t.Errorf("/shop/deep/ serves %q", w.Body.String())
	}
	// A web-app resin.xml does not declare is added.
	if w := serve(s, "GET", "/new/"); w.Body.String() != "brand new" {
		t.Errorf("/new/ serves %q", w.Body.String())
	}

	// A new version: new visitors get it, the old session stays.
	v.mu.Lock()
	v.root = filepath.Join(dir, "v2")
	v.mu.Unlock()
	if w := serve(s, "GET", "/shop/"); w.Body.String() != "deployed v2" {
		t.Errorf("a new visitor gets %q", w.Body.String())
	}
	if w := serve(s, "GET", "/shop/", "Cookie", "JSESSIONID="+id); w.Body.String() != "deployed v1" {
		t.Errorf("the old session gets %q", w.Body.String())
	}

	// A reload keeps deployed web-apps; removing one returns to resin.xml.
	if err := s.Apply(testConfig(testHost("", nil, shop, deep))); err != nil {
		t.Fatal(err)
	}
	if w := serve(s, "GET", "/new/"); w.Body.String() != "brand new" {
		t.Errorf("after a reload /new/ serves %q", w.Body.String())
	}
	s.SetDeployed("", "/shop", nil)
	if w := serve(s, "GET", "/shop/"); w.Body.String() != "configured" {
		t.Errorf("after undeploying /shop serves %q", w.Body.String())
	}
	if w := serve(s, "GET", "/other/"); w.Code != 404 {
		t.Errorf("/other/ answers %d", w.Code)
	}
}
