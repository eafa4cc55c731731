package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"resind/internal/proctest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// appsConf runs one hello application three ways in one web-app: as a
// supervised FastCGI pool, as a supervised HTTP server and as CGI scripts.
const appsConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="app-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/root">
        <session-config/>
        <resin:FastCgiProxy regexp="^/fcgi/" command="{{.Hello}} -fcgi" min-processes="1" max-processes="2" timeout="2s" stop-timeout="2s"/>
        <resin:HttpProxy regexp="^/http/" command="{{.Hello}}" health-path="/" health-interval="250ms" timeout="2s" stop-timeout="2s"/>
        <servlet-mapping url-pattern="*.cgi" servlet-class="com.caucho.servlets.CGIServlet">
          <init timeout="2s"/>
        </servlet-mapping>
      </web-app>
    </host>
  </cluster>
</resin>
`

type appsData struct {
	ports
	Hello string
}

var (
	helloOnce sync.Once
	helloPath string
)

// helloApp builds app/testdata/hello next to the resind binary once.
func helloApp(t *testing.T) string {
	t.Helper()
	helloOnce.Do(func() {
		p := filepath.Join(filepath.Dir(resindBin), "hello")
		out, err := exec.Command("go", "build", "-o", p, "../../app/testdata/hello").CombinedOutput()
		if err != nil {
			t.Logf("building hello: %v\n%s", err, out)
			return
		}
		helloPath = p
	})
	if helloPath == "" {
		t.Fatal("no hello app")
	}
	return helloPath
}

// appsSite writes the configuration and the CGI scripts.
func appsSite(t *testing.T) (*site, appsData) {
	s := newSite(t)
	d := appsData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)}, Hello: helloApp(t)}
	s.write("resin.xml", appsConf, d)
	for name, body := range map[string]string{
		"hello.cgi": `printf 'Content-Type: text/plain\r\n\r\nhello\n'`,
		// The same answer as hello's /env, from the CGI variables.
		"env.cgi": `printf 'Content-Type: text/plain\r\n\r\n'
printf 'session=%s\nforwarded-for=%s\nremote=%s\n' "$HTTP_X_RESIN_SESSION_ID" "$HTTP_X_FORWARDED_FOR" "$REMOTE_ADDR"`,
		"die.cgi":  `kill -9 $$`,
		"slow.cgi": "sleep 30",
	} {
		p := filepath.Join(s.dir, "root", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s, d
}

func TestAppsServeThreeWaysSurviveKillsAndStopCleanly(t *testing.T) {
	t.Parallel()
	s, d := appsSite(t)
	s.start("app-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", d.HTTP)
	fetch := func(path string, hdr ...string) (int, string) {
		resp, body := get(t, base+path, hdr...)
		return resp.StatusCode, body
	}
	pid := func(path string) int {
		t.Helper()
		code, body := fetch(path)
		n, err := strconv.Atoi(strings.TrimSpace(body))
		if code != 200 || err != nil {
			t.Fatalf("GET %s = %d %q", path, code, body)
		}
		return n
	}

	for _, path := range []string{"/fcgi/", "/http/", "/hello.cgi"} {
		if code, body := fetch(path); code != 200 || body != "hello\n" {
			t.Errorf("GET %s = %d %q", path, code, body)
		}
	}
	// Each way sees the session and the client alike.
	var seen []string
	for _, path := range []string{"/fcgi/env", "/http/env", "/env.cgi"} {
		code, body := fetch(path, "Cookie", "JSESSIONID=aaaSessionForApps", "X-Forwarded-For", "198.51.100.9")
		if code != 200 || !strings.Contains(body, "session=aaaSessionForApps\nforwarded-for=198.51.100.9, 127.0.0.1\n") {
			t.Errorf("GET %s = %d %q", path, code, body)
		}
		seen = append(seen, body)
	}
	if seen[0] != seen[1] || seen[1] != seen[2] {
		t.Errorf("the three ways saw different things:\n%q\n%q\n%q", seen[0], seen[1], seen[2])
	}

	// stderr goes into resind's log.
	if code, _ := fetch("/fcgi/stderr"); code != 200 {
		t.Errorf("/fcgi/stderr = %d", code)
	}
	eventually(t, 10*time.Second, "the app's stderr in the log", func() bool {
		return strings.Contains(s.log("app-a"), "hello from stderr")
	})

	// Slow: 504 with a page naming the app; broken: 502.
	for _, path := range []string{"/fcgi/slow?ms=5000", "/http/slow?ms=5000", "/slow.cgi"} {
		if code, body := fetch(path); code != 504 || !strings.Contains(body, "No answer in time") {
			t.Errorf("GET %s = %d %q, want 504", path, code, body)
		}
	}
	if code, body := fetch("/die.cgi"); code != 502 || !strings.Contains(body, "die.cgi") {
		t.Errorf("GET /die.cgi = %d %q, want 502", code, body)
	}
	if code, _ := fetch("/hello.cgi"); code != 200 {
		t.Errorf("CGI after a script died: %d", code)
	}

	// Killed: the supervised processes come back.
	fpid, hpid := pid("/fcgi/pid"), pid("/http/pid")
	syscall.Kill(fpid, syscall.SIGKILL)
	syscall.Kill(hpid, syscall.SIGKILL)
	eventually(t, 15*time.Second, "new FastCGI and HTTP processes", func() bool {
		code1, b1 := fetch("/fcgi/pid")
		code2, b2 := fetch("/http/pid")
		return code1 == 200 && code2 == 200 && strings.TrimSpace(b1) != strconv.Itoa(fpid) && strings.TrimSpace(b2) != strconv.Itoa(hpid)
	})

	// /resin-admin lists the supervised programs with their processes.
	_, body := get(t, base+"/resin-admin/api/status")
	var st struct {
		Apps []struct {
			Kind      string
			Processes int
			Ready     bool
		}
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("admin status %q: %v", body, err)
	}
	kinds := map[string]bool{}
	for _, a := range st.Apps {
		kinds[a.Kind] = a.Processes >= 1 && (a.Kind != "http" || a.Ready)
	}
	if !kinds["fastcgi"] || !kinds["http"] {
		t.Errorf("admin status apps = %+v, want a running FastCGI pool and a ready HTTP app", st.Apps)
	}

	// Stopped: every process resind started, and their children, go.
	pids := []int{pid("/fcgi/pid"), pid("/http/pid"), pid("/fcgi/spawn"), pid("/http/spawn")}
	s.stop("app-a")
	for _, p := range pids {
		if !proctest.Exits(p, 10*time.Second) {
			t.Errorf("process %d outlived resind stop", p)
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

func TestAppsDieWithAKilledResind(t *testing.T) {
	t.Parallel()
	s, d := appsSite(t)
	s.start("app-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", d.HTTP)
	var pids []int
	for _, path := range []string{"/fcgi/pid", "/http/pid"} {
		resp, body := get(t, base+path)
		n, err := strconv.Atoi(strings.TrimSpace(body))
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET %s = %d %q", path, resp.StatusCode, body)
		}
		pids = append(pids, n)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "app-a", "resind.pid"))
	if err != nil {
		t.Fatal(err)
	}
	rpid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	syscall.Kill(rpid, syscall.SIGKILL)
	delete(s.started, "app-a")
	for _, p := range pids {
		eventually(t, 10*time.Second, fmt.Sprintf("app process %d to go with resind", p), func() bool { return !proctest.Alive(p) })
	}
}

// phpConf runs PHP the mod_fcgid way: php-cgi processes resind starts.
const phpConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="app-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/shop" root-directory="${__DIR__}/shop">
        <session-config/>
        <resin:FastCgiProxy regexp="\.php$" command="php-cgi" min-processes="1" max-processes="2"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

func TestPHPRunsThroughSupervisedPhpCgi(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("php-cgi"); err != nil {
		t.Fatal("php-cgi is not installed (make test-deps installs it)")
	}
	s := newSite(t)
	p := ports{HTTP: freePort(t), Cluster: freePort(t)}
	s.write("resin.xml", phpConf, p)
	s.writeRaw("shop/cart/index.php", `<?php
header("X-From: php");
echo "cart ", $_SERVER['SCRIPT_NAME'], " session=", $_SERVER['HTTP_X_RESIN_SESSION_ID'] ?? '', " q=", $_GET['q'] ?? '', " pid=", getmypid(), "\n";
error_log("php says hello to the log");
`)
	s.start("app-a")
	url := fmt.Sprintf("http://127.0.0.1:%d/shop/cart/index.php?q=42", p.HTTP)
	resp, body := get(t, url, "Cookie", "JSESSIONID=aaaPhpSession")
	if resp.StatusCode != 200 || resp.Header.Get("X-From") != "php" ||
		!strings.HasPrefix(body, "cart /shop/cart/index.php session=aaaPhpSession q=42 pid=") {
		t.Fatalf("GET = %d %v %q", resp.StatusCode, resp.Header, body)
	}
	eventually(t, 10*time.Second, "PHP's error_log in resind's log", func() bool {
		return strings.Contains(s.log("app-a"), "php says hello to the log")
	})
	pid, _ := strconv.Atoi(strings.TrimSpace(body[strings.LastIndex(body, "pid=")+4:]))
	s.stop("app-a")
	if pid == 0 || !proctest.Exits(pid, 10*time.Second) {
		t.Errorf("php-cgi %d outlived resind stop", pid)
	}
}

func TestAppsKeptAcrossReloadsAndStoppedWhenRemoved(t *testing.T) {
	t.Parallel()
	s, d := appsSite(t)
	s.start("app-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", d.HTTP)
	pidOf := func(path string) int {
		t.Helper()
		resp, body := get(t, base+path)
		n, err := strconv.Atoi(strings.TrimSpace(body))
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET %s = %d %q", path, resp.StatusCode, body)
		}
		return n
	}
	fpid, hpid := pidOf("/fcgi/pid"), pidOf("/http/pid")

	// New pool limits: the same processes go on.
	s.replace("resin.xml", strings.Replace(render(t, appsConf, d), `max-processes="2"`, `max-processes="3"`, 1))
	eventually(t, 10*time.Second, "the reload", func() bool { return strings.Contains(s.log("app-a"), "configuration reloaded") })
	if p := pidOf("/fcgi/pid"); p != fpid {
		t.Errorf("a new max-processes restarted the FastCGI process (%d, then %d)", fpid, p)
	}
	if p := pidOf("/http/pid"); p != hpid {
		t.Errorf("a reload restarted the HTTP app (%d, then %d)", hpid, p)
	}

	// The rules removed: their programs stop, resind goes on.
	conf := render(t, appsConf, d)
	for _, rule := range []string{"<resin:FastCgiProxy", "<resin:HttpProxy"} {
		i := strings.Index(conf, rule)
		j := i + strings.Index(conf[i:], "/>") + 2
		conf = conf[:i] + conf[j:]
	}
	s.replace("resin.xml", conf)
	for _, p := range []int{fpid, hpid} {
		eventually(t, 15*time.Second, fmt.Sprintf("process %d to stop once its rule is gone", p), func() bool { return !proctest.Alive(p) })
	}
	if resp, _ := get(t, base+"/fcgi/pid"); resp.StatusCode != 404 {
		t.Errorf("GET /fcgi/pid after the rule was removed = %d", resp.StatusCode)
	}
}
