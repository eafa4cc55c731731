package core

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"resind/conf"
)

// testConfig is a configuration with one cluster "web" of two servers,
// "web-a" (index 0) and "web-b" (index 1), each with an <http> listener and
// a cluster port on ephemeral loopback ports, serving hosts.
func testConfig(hosts ...*conf.Host) *conf.Config {
	pos := conf.Pos{File: "/test/resin.xml", Line: 1}
	cl := &conf.Cluster{ID: "web", Pos: pos, Hosts: hosts}
	for i, id := range []string{"web-a", "web-b"} {
		cl.Servers = append(cl.Servers, &conf.Server{ID: id, Pos: conf.Pos{File: pos.File, Line: 2 + i},
			ClusterID: "web", Index: i, Address: "127.0.0.1", Port: 0,
			HTTP:   []conf.Listener{{Pos: pos, Address: "127.0.0.1", Port: 0}},
			Weight: 100, Timeout: conf.DefaultTimeouts})
	}
	return &conf.Config{File: pos.File, Files: []string{pos.File}, Clusters: []*conf.Cluster{cl}}
}

func testHost(id string, rules []*conf.Rule, apps ...*conf.WebApp) *conf.Host {
	return &conf.Host{ID: id, Pos: conf.Pos{File: "/test/resin.xml", Line: 10}, Rules: rules, WebApps: apps}
}

func testApp(id, root string, rules ...*conf.Rule) *conf.WebApp {
	return &conf.WebApp{ID: id, Pos: conf.Pos{File: "/test/resin.xml", Line: 20}, RootDirectory: root, Rules: rules}
}

var ruleLine atomic.Int64

// testRule is a rule of kind matching re, with target.
func testRule(kind conf.RuleKind, re, target string, conds ...*conf.Condition) *conf.Rule {
	r := &conf.Rule{Kind: kind, Pos: conf.Pos{File: "/test/resin.xml", Line: 30 + int(ruleLine.Add(1))}, Regexp: re,
		Match: regexp.MustCompile(re), Target: target, Conditions: conds, StickySessions: true}
	return r
}

// newServer builds a Server for web-a of cfg without listening.
func newServer(t *testing.T, cfg *conf.Config) *Server {
	t.Helper()
	return newServerOn(t, cfg, "")
}

// newServerOn is newServer with the data plane dp (Options.Dataplane).
func newServerOn(t *testing.T, cfg *conf.Config, dp string) *Server {
	t.Helper()
	s, err := New(cfg, Options{ServerID: "web-a", DataDir: t.TempDir(), Log: zaptest.NewLogger(t), Dataplane: dp})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// startServer runs s on its listeners until the test ends and returns the
// base URL of its first <http> listener.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	runServer(t, s)
	return "http://" + addrOf(t, s, "http")
}

// runServer binds s's listeners and serves them until the test ends, when
// it shuts s down and checks that Shutdown and Serve returned cleanly.
func runServer(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// addrOf is the address of s's first listener of kind.
func addrOf(t *testing.T, s *Server, kind string) string {
	t.Helper()
	for _, a := range s.Addrs() {
		if strings.HasPrefix(a, kind+" ") {
			return strings.TrimPrefix(a, kind+" ")
		}
	}
	t.Fatalf("no %s listener in %v", kind, s.Addrs())
	return ""
}

// serve runs one request through s without a socket. hdr are header name,
// value pairs; "Host" sets the Host.
func serve(s *Server, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.7:5555"
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			r.Host = hdr[i+1]
			continue
		}
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// writeFiles creates files (name → content) below dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// get fetches url with a fresh connection and returns the response and its
// body.
func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// eventually waits until cond holds, failing the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// syncBuffer is a bytes.Buffer safe for the access log's flushing goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
