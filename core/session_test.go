package core

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"resind/conf"
)

func sessionServer(t *testing.T, serverID string) *Server {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "a"})
	app := testApp("/shop", dir)
	app.Session = &conf.SessionConfig{CookieName: "JSESSIONID"}
	s, err := New(testConfig(testHost("", nil, app, testApp("", t.TempDir()))), Options{ServerID: serverID})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionCookieCarriesThisServersPrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ server, prefix string }{{"web-a", "aaa"}, {"web-b", "baa"}} {
		s := sessionServer(t, tc.server)
		w := serve(s, "GET", "/shop/a.txt")
		cs := w.Result().Cookies()
		if len(cs) != 1 {
			t.Fatalf("%s: cookies %v, want one", tc.server, cs)
		}
		c := cs[0]
		if c.Name != "JSESSIONID" || !strings.HasPrefix(c.Value, tc.prefix) || len(c.Value) < 24 {
			t.Errorf("%s: cookie %s=%s, want JSESSIONID=%s…", tc.server, c.Name, c.Value, tc.prefix)
		}
		if c.Path != "/shop" || !c.HttpOnly {
			t.Errorf("%s: cookie Path=%q HttpOnly=%v, want /shop and HttpOnly", tc.server, c.Path, c.HttpOnly)
		}
	}
}

func TestSessionIsNotReissuedWhenTheRequestHasOne(t *testing.T) {
	t.Parallel()
	s := sessionServer(t, "web-a")
	if w := serve(s, "GET", "/shop/a.txt", "Cookie", "JSESSIONID=baaAlreadyHere"); len(w.Result().Cookies()) != 0 {
		t.Errorf("cookie re-issued: %v", w.Result().Cookies())
	}
	if w := serve(s, "GET", "/shop/a.txt;jsessionid=baaInThePath"); w.Code != 200 || len(w.Result().Cookies()) != 0 {
		t.Errorf("path parameter: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	if w := serve(s, "GET", "/other"); len(w.Result().Cookies()) != 0 {
		t.Errorf("web-app without <session-config> issued %v", w.Result().Cookies())
	}
}

func TestLoadBalancedRequestsLeaveSessionsToTheAppTier(t *testing.T) {
	t.Parallel()
	be := echoBackend(t, "app")
	host, port, _ := net.SplitHostPort(be.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	lb := testRule(conf.LoadBalance, `^/`, "")
	lb.Cluster = "app"
	app := testApp("", t.TempDir(), lb)
	app.Session = &conf.SessionConfig{CookieName: "JSESSIONID"}
	cfg := testConfig(testHost("", nil, app))
	cfg.Clusters = append(cfg.Clusters, &conf.Cluster{ID: "app", Servers: []*conf.Server{
		{ID: "app-a", ClusterID: "app", Address: host, Port: p}}})
	s := newServer(t, cfg)
	base := startServer(t, s)
	resp, body := get(t, base+"/x")
	if resp.StatusCode != 200 || body != "app /x" || len(resp.Cookies()) != 0 {
		t.Errorf("GET = %d %q cookies %v", resp.StatusCode, body, resp.Cookies())
	}
}
