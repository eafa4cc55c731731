package core

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"resind/internal/proctest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"resind/conf"
)

// fcgiResponder serves h over FastCGI (Go's net/http/fcgi) on a loopback
// port until the test ends.
func fcgiResponder(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fcgi.Serve(ln, h)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestFastCgiProxyPassesScriptSessionAndClient(t *testing.T) {
	t.Parallel()
	addr := fcgiResponder(t, func(w http.ResponseWriter, r *http.Request) {
		env := fcgi.ProcessEnv(r)
		w.Header().Set("X-Script-Filename", env["SCRIPT_FILENAME"])
		w.Header().Set("X-Document-Root", env["DOCUMENT_ROOT"])
		w.Header().Set("X-Session", r.Header.Get("X-Resin-Session-Id"))
		w.Header().Set("X-Forwarded", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("X-Remote", r.RemoteAddr)
		io.WriteString(w, "php says hi")
	})
	root := t.TempDir()
	fc := testRule(conf.FastCgiProxy, `\.php$`, "")
	fc.Backends = []conf.Backend{{Address: addr}}
	shop := testApp("/shop", root, fc)
	shop.Session = &conf.SessionConfig{CookieName: "JSESSIONID", Timeout: time.Hour}
	s := newServer(t, testConfig(testHost("", nil, shop)))
	w := serve(s, "GET", "/shop/cart/index.php?x=1", "X-Resin-Session-Id", "forged", "X-Forwarded-For", "198.51.100.1")
	h := w.Header()
	if w.Code != 200 || w.Body.String() != "php says hi" {
		t.Fatalf("GET = %d %q", w.Code, w.Body.String())
	}
	if h.Get("X-Script-Filename") != filepath.Join(root, "cart/index.php") || h.Get("X-Document-Root") != root {
		t.Errorf("script %q, document root %q", h.Get("X-Script-Filename"), h.Get("X-Document-Root"))
	}
	if id := h.Get("X-Session"); !strings.HasPrefix(id, "aaa") || len(w.Result().Cookies()) != 1 || w.Result().Cookies()[0].Value != id {
		t.Errorf("session %q, cookies %v: want the id issued to the client", id, w.Result().Cookies())
	}
	if h.Get("X-Forwarded") != "198.51.100.1, 192.0.2.7" || !strings.HasPrefix(h.Get("X-Remote"), "192.0.2.7:") {
		t.Errorf("client %q %q", h.Get("X-Forwarded"), h.Get("X-Remote"))
	}
}

func TestFastCgiProxyToNothingAnswers502(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	fc := testRule(conf.FastCgiProxy, `\.php$`, "")
	fc.Backends = []conf.Backend{{Address: addr}}
	s := newServer(t, testConfig(testHost("", nil, testApp("", t.TempDir(), fc))))
	if w := serve(s, "GET", "/index.php"); w.Code != 502 || !strings.Contains(w.Body.String(), addr) {
		t.Errorf("GET = %d %q, want a 502 page naming %s", w.Code, w.Body.String(), addr)
	}
	if len(s.Status().Warnings) != 0 {
		t.Errorf("warnings %q", s.Status().Warnings)
	}
}

// cgiRule maps pattern ("*.cgi" or "/cgi-bin/*") to CGI as conf does.
func cgiRule(pattern string, timeout time.Duration, maxOutput int64) *conf.Rule {
	a := &conf.App{Timeout: timeout, MaxOutput: maxOutput}
	re := `\.cgi$`
	if strings.HasSuffix(pattern, "/*") {
		a.Prefix = strings.TrimSuffix(pattern, "/*")
		re = "^" + a.Prefix + "/"
	}
	r := testRule(conf.CGI, re, "")
	r.App = a
	return r
}

func writeScript(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCGIScriptsRunWithTheirLimits(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	pidFile := filepath.Join(root, "child.pid")
	writeScript(t, root, "hello.cgi", `printf 'Content-Type: text/plain\r\n\r\n'
echo "hello $REMOTE_ADDR $HTTP_X_RESIN_SESSION_ID $SCRIPT_NAME $QUERY_STRING"
echo "to the log" >&2
`)
	writeScript(t, root, "cgi-bin/info", `printf 'Content-Type: text/plain\r\nStatus: 201 Created\r\n\r\n'
echo "path_info=$PATH_INFO script=$SCRIPT_NAME"
`)
	writeScript(t, root, "slow.cgi", `sleep 300 &
echo $! > `+pidFile+`
sleep 300
`)
	writeScript(t, root, "big.cgi", `printf 'Content-Type: text/plain\r\n\r\n'
head -c 100000 /dev/zero
`)
	writeScript(t, root, "broken.cgi", "echo no header at all; exit 1\n")
	os.WriteFile(filepath.Join(root, "plain.cgi"), []byte("#!/bin/sh\n"), 0o644)
	s := newServer(t, testConfig(testHost("", nil, testApp("/app", root,
		cgiRule("*.cgi", 2*time.Second, 10000), cgiRule("/cgi-bin/*", time.Minute, 0)))))

	w := serve(s, "GET", "/app/hello.cgi?q=1", "Cookie", "JSESSIONID=aaaSess")
	if w.Code != 200 || w.Body.String() != "hello 192.0.2.7 aaaSess /app/hello.cgi q=1\n" {
		t.Errorf("hello.cgi = %d %q", w.Code, w.Body.String())
	}
	w = serve(s, "GET", "/app/cgi-bin/info/extra/path")
	if w.Code != 201 || w.Body.String() != "path_info=/extra/path script=/app/cgi-bin/info\n" {
		t.Errorf("cgi-bin/info = %d %q", w.Code, w.Body.String())
	}
	if w = serve(s, "GET", "/app/missing.cgi"); w.Code != 404 {
		t.Errorf("missing script: %d", w.Code)
	}
	if w = serve(s, "GET", "/app/plain.cgi"); w.Code != 403 {
		t.Errorf("script without x bit: %d", w.Code)
	}
	if w = serve(s, "GET", "/app/broken.cgi"); w.Code != 502 || !strings.Contains(w.Body.String(), "broken.cgi") {
		t.Errorf("broken.cgi = %d %q, want 502 naming it", w.Code, w.Body.String())
	}

	start := time.Now()
	w = serve(s, "GET", "/app/slow.cgi")
	if w.Code != 504 || time.Since(start) > 10*time.Second {
		t.Errorf("slow.cgi = %d after %v, want 504 after its 2s", w.Code, time.Since(start))
	}
	b, _ := os.ReadFile(pidFile)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		t.Errorf("child pid %q", b)
	} else if !proctest.Exits(pid, 10*time.Second) {
		t.Errorf("the script's child %d outlived the timeout", pid)
	}

	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("big.cgi: %v, want the answer cut off (ErrAbortHandler)", v)
			}
		}()
		w = serve(s, "GET", "/app/big.cgi")
	}()
	if w.Body.Len() > 10000 {
		t.Errorf("big.cgi sent %d bytes past max-output 10000", w.Body.Len())
	}
}

var (
	helloOnce sync.Once
	helloBin  string
	helloErr  error
)

// hello builds app/testdata/hello once for the package's tests.
func hello(t *testing.T) string {
	t.Helper()
	helloOnce.Do(func() {
		dir, err := os.MkdirTemp("", "resind-core-hello-")
		if err != nil {
			helloErr = err
			return
		}
		helloBin = filepath.Join(dir, "hello")
		out, err := exec.Command("go", "build", "-o", helloBin, "../app/testdata/hello").CombinedOutput()
		if err != nil {
			helloErr = err
			t.Logf("%s", out)
		}
	})
	if helloErr != nil {
		t.Fatal(helloErr)
	}
	return helloBin
}

func TestSupervisedAppsStopWhenDroppedByAReloadAndAtShutdown(t *testing.T) {
	t.Parallel()
	bin := hello(t)
	fc := testRule(conf.FastCgiProxy, `^/f/`, "")
	fc.App = &conf.App{Command: []string{bin, "-fcgi"}, MinProcesses: 1, MaxProcesses: 2, IdleTimeout: time.Minute, StopTimeout: time.Second}
	hp := testRule(conf.HttpProxy, `^/h/`, "")
	hp.App = &conf.App{Command: []string{bin}, HealthPath: "/", StopTimeout: time.Second}
	root := t.TempDir()
	s := newServer(t, testConfig(testHost("", nil, testApp("", root, fc, hp))))
	pid := func(path string) int {
		w := serve(s, "GET", path)
		n, err := strconv.Atoi(strings.TrimSpace(w.Body.String()))
		if w.Code != 200 || err != nil {
			t.Fatalf("GET %s = %d %q", path, w.Code, w.Body.String())
		}
		return n
	}
	fpid, hpid := pid("/f/pid"), pid("/h/pid")
	if w := serve(s, "GET", "/h/env", "Cookie", "JSESSIONID=aaaS"); !strings.Contains(w.Body.String(), "session=aaaS\nforwarded-for=192.0.2.7\n") {
		t.Errorf("HTTP app saw %q", w.Body.String())
	}

	// A reload that keeps the FastCGI command (with a new maximum) keeps
	// its process; the HTTP app is gone from it and stops.
	fc2 := testRule(conf.FastCgiProxy, `^/f/`, "")
	fc2.App = &conf.App{Command: []string{bin, "-fcgi"}, MinProcesses: 1, MaxProcesses: 3, IdleTimeout: time.Minute, StopTimeout: time.Second}
	if err := s.Apply(testConfig(testHost("", nil, testApp("", root, fc2)))); err != nil {
		t.Fatal(err)
	}
	if again := pid("/f/pid"); again != fpid {
		t.Errorf("reload restarted the FastCGI process: %d then %d", fpid, again)
	}
	if !proctest.Exits(hpid, 10*time.Second) {
		t.Fatalf("HTTP app %d still runs after the reload dropped it", hpid)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Shutdown(ctx)
	if !proctest.Exits(fpid, 10*time.Second) {
		t.Errorf("FastCGI process %d survived Shutdown", fpid)
	}
}

func TestFastCgiProxyOverAUnixSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "fpm.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go fcgi.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "over unix") }))
	fc := testRule(conf.FastCgiProxy, `\.php$`, "")
	fc.Backends = []conf.Backend{{Address: "unix:" + sock}}
	s := newServer(t, testConfig(testHost("", nil, testApp("", t.TempDir(), fc))))
	if w := serve(s, "GET", "/index.php"); w.Code != 200 || w.Body.String() != "over unix" {
		t.Errorf("GET = %d %q", w.Code, w.Body.String())
	}
}

func TestCGIScriptReadsThePostBody(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeScript(t, root, "echo.cgi", `printf 'Content-Type: text/plain\r\n\r\n'
echo "$REQUEST_METHOD $CONTENT_LENGTH"
cat
`)
	s := newServer(t, testConfig(testHost("", nil, testApp("", root, cgiRule("*.cgi", 10*time.Second, 0)))))
	r := httptest.NewRequest("POST", "/echo.cgi", strings.NewReader("name=resind"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "POST 11\nname=resind" {
		t.Errorf("POST = %d %q", w.Code, w.Body.String())
	}
}
