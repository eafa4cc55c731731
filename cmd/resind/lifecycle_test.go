package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// oneServer is a single web server serving files from ./root.
const oneServer = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/root"/>
    </host>
  </cluster>
</resin>
`

type ports struct{ HTTP, Cluster int }

func newOneServer(t *testing.T) (*site, ports) {
	s := newSite(t)
	p := ports{HTTP: freePort(t), Cluster: freePort(t)}
	s.write("resin.xml", oneServer, p)
	s.writeRaw("root/index.html", "<h1>hello from resind</h1>\n")
	return s, p
}

func TestStartServesFilesAndStopStops(t *testing.T) {
	t.Parallel()
	s, p := newOneServer(t)
	s.start("web-a")

	// start returned 0: the server must already listen.
	resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", p.HTTP))
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from resind") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("static file without ETag/Last-Modified: %v", resp.Header)
	}

	st := s.resind("-server", "web-a", "status")
	if st.code != 0 || !strings.Contains(st.stdout, "running") || !strings.Contains(st.stdout, fmt.Sprint(p.HTTP)) {
		t.Errorf("status while running: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}

	s.stop("web-a")
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.HTTP)); err == nil {
		t.Errorf("port %d still accepts after stop", p.HTTP)
	}
	st = s.resind("-server", "web-a", "status")
	if st.code != 3 || !strings.Contains(st.stdout, "stopped") {
		t.Errorf("status after stop: exit %d %q", st.code, st.stdout)
	}
	if !strings.Contains(s.log("web-a"), `"server stopped"`) {
		t.Errorf("log does not say the server stopped")
	}
}

func TestSecondStartIsRefusedNamingThePid(t *testing.T) {
	t.Parallel()
	s, _ := newOneServer(t)
	s.start("web-a")
	pid, err := os.ReadFile(filepath.Join(s.dir, "data", "web-a", "resind.pid"))
	if err != nil {
		t.Fatal(err)
	}
	r := s.resind("-server", "web-a", "start")
	if r.code == 0 {
		t.Fatalf("second start succeeded")
	}
	if !strings.Contains(r.stderr, "already running") || !strings.Contains(r.stderr, strings.TrimSpace(string(pid))) {
		t.Errorf("second start: %q, want 'already running' and pid %s", r.stderr, pid)
	}
}

func TestStalePidFileFromACrashIsReplaced(t *testing.T) {
	t.Parallel()
	s, p := newOneServer(t)
	// A crashed server leaves its pid file (and lock file) behind.
	dir := filepath.Join(s.dir, "data", "web-a")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "resind.pid"), []byte("999999\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "resind.lock"), nil, 0o600)

	st := s.resind("-server", "web-a", "status")
	if st.code != 3 {
		t.Errorf("status with a stale pid file: exit %d %q, want 3 (stopped)", st.code, st.stdout)
	}
	s.start("web-a")
	pid, _ := os.ReadFile(filepath.Join(dir, "resind.pid"))
	if strings.TrimSpace(string(pid)) == "999999" {
		t.Errorf("stale pid file was not replaced")
	}
	if resp, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/", p.HTTP)); resp.StatusCode != 200 {
		t.Errorf("GET / = %d", resp.StatusCode)
	}
}

func TestUnknownServerIsRefusedListingTheIDs(t *testing.T) {
	t.Parallel()
	s, _ := newOneServer(t)
	r := s.resind("-server", "nope", "start")
	if r.code == 0 || !strings.Contains(r.stderr, `"nope"`) || !strings.Contains(r.stderr, `"web-a"`) {
		t.Errorf("start -server nope: exit %d %q", r.code, r.stderr)
	}
}

func TestDuplicateServerIDsAreRefusedWithFileAndLine(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.writeRaw("resin.xml", `<resin xmlns="http://caucho.com/ns/resin">
  <cluster id="a">
    <server id="x" port="6800"/>
  </cluster>
  <cluster id="b">
    <server id="x" port="6801"/>
  </cluster>
</resin>
`)
	r := s.resind("-server", "x", "start")
	if r.code == 0 {
		t.Fatal("a config with two servers named x was accepted")
	}
	if !regexp.MustCompile(`resin\.xml:6:.*x`).MatchString(r.stderr) {
		t.Errorf("want resin.xml:6: naming the duplicate id, got %q", r.stderr)
	}
}

func TestCheckPrintsFileLineForEachProblem(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.writeRaw("resin.xml", `<resin xmlns="http://caucho.com/ns/resin">
  <cluster id="web">
    <server id="web-a" port="68o0"/>
    <host id="">
      <web-app id="/">
        <resin:Redirect xmlns:resin="urn:java:com.caucho.resin" regexp="(" target="/x"/>
      </web-app>
    </host>
  </cluster>
</resin>
`)
	r := s.resind("check")
	if r.code == 0 {
		t.Fatalf("check accepted a bad config: %s", r.stdout)
	}
	for _, want := range []string{"resin.xml:3:", "68o0", "resin.xml:6:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.stdout)
		}
	}

	s.write("resin.xml", oneServer, ports{HTTP: 1, Cluster: 2})
	if r := s.resind("check"); r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Errorf("check of a good config: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
}

func TestStartFailsWithTheReasonWhenThePortIsTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newSite(t)
	p := ports{HTTP: l.Addr().(*net.TCPAddr).Port, Cluster: freePort(t)}
	s.write("resin.xml", oneServer, p)
	r := s.resind("-server", "web-a", "start")
	if r.code == 0 {
		s.started["web-a"] = true
		t.Fatal("start succeeded although the HTTP port is taken")
	}
	if !strings.Contains(r.stderr, fmt.Sprint(p.HTTP)) {
		t.Errorf("start's error does not name the port: %q", r.stderr)
	}
	if st := s.resind("-server", "web-a", "status"); st.code != 3 {
		t.Errorf("a failed start left a running server: %s", st.stdout)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	if r := s.resind("version"); r.code != 0 || !strings.HasPrefix(r.stdout, "resind ") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
}
