package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cclient "resind/cluster/client"
)

// clusterTiers is an app tier of three servers (its triad) on distinct
// loopback addresses and a web tier balancing /app/ to it with sticky
// sessions.
const clusterTiers = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  {{if .Key}}<resin-system-auth-key>{{.Key}}</resin-system-auth-key>{{end}}
  <cluster id="app">
    <server-default>
      <load-balance-connect-timeout>1s</load-balance-connect-timeout>
      <load-balance-recover-time>1s</load-balance-recover-time>
    </server-default>
    <server id="app-a" address="127.0.0.2" port="{{.A}}"/>
    <server id="app-b" address="127.0.0.3" port="{{.B}}"/>
    <server id="app-c" address="127.0.0.4" port="{{.C}}"/>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/app">
        <session-config use-persistent-store="true" always-save-session="true">
          <session-timeout>10</session-timeout>
        </session-config>
      </web-app>
    </host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Web}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

type clusterPorts struct {
	Key                string
	A, B, C, Web, HTTP int
}

// appAddr is the cluster address of an app server of clusterTiers.
func (p clusterPorts) appAddr(id string) string {
	switch id {
	case "app-a":
		return "127.0.0.2:" + strconv.Itoa(p.A)
	case "app-b":
		return "127.0.0.3:" + strconv.Itoa(p.B)
	}
	return "127.0.0.4:" + strconv.Itoa(p.C)
}

// startFast starts server id with failure detection tuned for one
// machine, so a dead server is seen in about a second.
func (s *site) startFast(id string) { s.startFastWith(s.conf, id) }

// startFastWith is startFast with another configuration file.
func (s *site) startFastWith(conf, id string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, resindBin, "-conf", conf, "-data-directory", filepath.Join(s.dir, "data"),
		"-log-directory", filepath.Join(s.dir, "log"), "-server", id, "start")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), timingEnv+"=fast")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("resind -server %s start: %v\n%s", id, err, out)
	}
	s.started[id] = true
}

// kill ends server id with SIGKILL, as a crash would, and waits until it
// is gone.
func (s *site) kill(id string) time.Time {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "data", id, "resind.pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	at := time.Now()
	delete(s.started, id)
	eventually(s.t, 10*time.Second, id+" to be gone", func() bool {
		return s.resind("-server", id, "status").code == 3
	})
	return at
}

type memberView struct {
	ID            string     `json:"id"`
	State         string     `json:"state"`
	LastHeartbeat *time.Time `json:"last_heartbeat"`
}

type clusterView struct {
	Cluster string       `json:"cluster"`
	Signed  bool         `json:"signed"`
	Triad   []string     `json:"triad"`
	Leader  string       `json:"leader"`
	Applied uint64       `json:"applied_index"`
	Members []memberView `json:"members"`
}

func (v clusterView) member(id string) memberView {
	for _, m := range v.Members {
		if m.ID == id {
			return m
		}
	}
	return memberView{}
}

// clusterAPI reads /resin-admin/api/cluster from the server listening at
// addr; ok is false when it does not answer.
func clusterAPI(addr string) (clusterView, bool) {
	var v clusterView
	resp, err := client.Get("http://" + addr + "/resin-admin/api/cluster")
	if err != nil {
		return v, false
	}
	defer resp.Body.Close()
	return v, resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&v) == nil
}

// backendState is the state of the backend at addr on the web tier's
// /resin-admin/api/status, and its failures.
func backendState(t *testing.T, httpPort int, addr string) (string, uint64) {
	t.Helper()
	_, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/resin-admin/api/status", httpPort))
	var st struct {
		Backends []struct {
			Address  string `json:"address"`
			State    string `json:"state"`
			Failures uint64 `json:"failures"`
		} `json:"backends"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	for _, b := range st.Backends {
		if b.Address == addr {
			return b.State, b.Failures
		}
	}
	t.Fatalf("no backend %s in %s", addr, body)
	return "", 0
}

func TestClusterSeesACrashStopsRoutingToItAndKeepsItsSessions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := clusterPorts{Key: "cluster-secret", A: freePort(t), B: freePort(t), C: freePort(t), Web: freePort(t), HTTP: freePort(t)}
	s.write("resin.xml", clusterTiers, p)
	s.writeRaw("app/app/page.html", "app page")
	s.writeRaw("web/index.html", "web page")
	apps := []string{"app-a", "app-b", "app-c"}
	for _, id := range append(apps, "web-a") {
		s.startFast(id)
	}
	webAdmin := "127.0.0.1:" + strconv.Itoa(p.HTTP)
	eventually(t, 20*time.Second, "the triad to elect a leader and web-a to see every server alive", func() bool {
		app, ok := clusterAPI(p.appAddr("app-a"))
		if !ok || app.Leader == "" || strings.Join(app.Triad, ",") != "app-a,app-b,app-c" || !app.Signed {
			return false
		}
		web, ok := clusterAPI(webAdmin)
		if !ok {
			return false
		}
		for _, id := range append(apps, "web-a") {
			if web.member(id).State != "alive" {
				return false
			}
		}
		return true
	})

	// A session issued through the web tier, its data saved on its owner.
	resp, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", p.HTTP))
	var sid string
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			sid = c.Value
		}
	}
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("no session from the app tier: %d %v", resp.StatusCode, resp.Header)
	}
	owner := apps[strings.IndexByte("abc", sid[0])]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cclient.New("http://"+p.appAddr(owner), "").SaveSession(ctx, sid, map[string]any{"cart": "3 apples"}); err != nil {
		t.Fatal(err)
	}
	cache := cclient.New("http://"+p.appAddr(owner), "").Cache("stock")
	if _, err := cache.Put(ctx, "apples", []byte("40"), 0); err != nil {
		t.Fatal(err)
	}

	killed := s.kill(owner)
	ownerAddr := p.appAddr(owner)
	eventually(t, 15*time.Second, "web-a to see "+owner+" dead and take it out of rotation", func() bool {
		v, ok := clusterAPI(webAdmin)
		state, _ := backendState(t, p.HTTP, ownerAddr)
		return ok && v.member(owner).State == "dead" && state == "down"
	})
	t.Logf("%s seen dead %s after SIGKILL", owner, time.Since(killed).Round(10*time.Millisecond))
	v, _ := clusterAPI(webAdmin)
	if hb := v.member(owner).LastHeartbeat; hb == nil || hb.After(killed) {
		t.Errorf("last heartbeat of the dead server: %v (killed at %v)", hb, killed)
	}

	// The web tier sends the session to a backup without trying the dead
	// owner, and every other app server reads the session's data.
	for range 10 {
		resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", p.HTTP), "Cookie", "JSESSIONID="+sid)
		if resp.StatusCode != 200 || body != "app page" {
			t.Fatalf("after the owner died: %d %q", resp.StatusCode, body)
		}
	}
	if _, failures := backendState(t, p.HTTP, ownerAddr); failures != 0 {
		t.Errorf("the web tier tried the dead server %d times", failures)
	}
	var written uint64
	for _, id := range apps {
		if id == owner {
			continue
		}
		c := cclient.New("http://"+p.appAddr(id), "")
		attrs, err := c.Session(ctx, sid)
		if err != nil || attrs["cart"] != "3 apples" {
			t.Fatalf("session on %s after %s died: %v %v", id, owner, attrs, err)
		}
		if written, err = c.Cache("stock").Put(ctx, "pears", []byte("7"), 0); err != nil {
			t.Fatalf("cache write on %s while %s is down: %v", id, owner, err)
		}
	}

	// Restarted, the owner rejoins, is routed to again, and its copy of
	// the store catches up with what it missed.
	s.startFast(owner)
	eventually(t, 20*time.Second, owner+" to rejoin and catch up", func() bool {
		web, ok := clusterAPI(webAdmin)
		own, ok2 := clusterAPI(ownerAddr)
		state, _ := backendState(t, p.HTTP, ownerAddr)
		return ok && ok2 && web.member(owner).State == "alive" && own.Applied >= written && state != "down"
	})
	got, _, err := cclient.New("http://"+ownerAddr, "").Cache("stock").Get(ctx, "pears")
	if err != nil || string(got) != "7" {
		t.Fatalf("restarted %s reads %q %v", owner, got, err)
	}
}

func TestUnsignedClusterRequestIsRefusedAndLogged(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := clusterPorts{Key: "k3y", A: freePort(t), B: freePort(t), C: freePort(t), Web: freePort(t), HTTP: freePort(t)}
	s.write("resin.xml", clusterTiers, p)
	s.startFast("app-a")
	addr := p.appAddr("app-a")
	for _, req := range []*http.Request{
		mustRequest(t, "POST", "http://"+addr+"/resin/cluster/kv", `{"cmd":{"op":"put","key":"x"}}`),
		mustRequest(t, "GET", "http://"+addr+"/resin/cluster/stream?kind=raft", ""),
	} {
		req.Header.Set("X-Resin-Cluster-Signature", strings.Repeat("0", 64))
		req.Header.Set("X-Resin-Cluster-Time", strconv.FormatInt(time.Now().Unix(), 10))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged %s %s: %d, want 403", req.Method, req.URL.Path, resp.StatusCode)
		}
	}
	eventually(t, 5*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(s.log("app-a"), "cluster request refused") // once per peer per 10 s
	})
	if r := s.resind("-server", "app-a", "status"); r.code != 0 {
		t.Fatalf("app-a is not running after forged requests: %d %s", r.code, r.stderr)
	}
	if v, ok := clusterAPI(addr); !ok || !v.Signed {
		t.Fatalf("app-a's cluster view after forged requests: %+v %v", v, ok)
	}

	// A server configured with another key cannot join: its every attempt
	// is refused, and app-a never counts it as a member.
	other := filepath.Join(s.dir, "other.xml")
	p.Key = "not-the-key"
	os.WriteFile(other, []byte(render(t, clusterTiers, p)), 0o600)
	s.startFastWith(other, "app-b")
	eventually(t, 20*time.Second, "app-b's attempts to be refused", func() bool {
		return strings.Contains(s.log("app-a"), `"from":"app-b","error":"cluster request not authorised: bad signature"`)
	})
	if v, ok := clusterAPI(addr); !ok || v.member("app-b").State == "alive" {
		t.Fatalf("app-a counts app-b, signed with another key, as %q", v.member("app-b").State)
	}
	if r := s.resind("-server", "app-a", "status"); r.code != 0 {
		t.Fatalf("app-a is not running after app-b's attempts: %d %s", r.code, r.stderr)
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// twoServers is a cluster of two servers: its triad is those two.
const twoServers = `<resin xmlns="http://caucho.com/ns/resin">
  <cluster id="app">
    <server id="a" address="127.0.0.1" port="{{.A}}"/>
    <server id="b" address="127.0.0.1" port="{{.B}}"/>
  </cluster>
</resin>
`

func TestTwoServersAreTheTriadAndShareTheCache(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := clusterPorts{A: freePort(t), B: freePort(t)}
	s.write("resin.xml", twoServers, p)
	s.startFast("a")
	s.startFast("b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := cclient.New("http://127.0.0.1:"+strconv.Itoa(p.A), "").Cache("names")
	b := cclient.New("http://127.0.0.1:"+strconv.Itoa(p.B), "").Cache("names")
	if _, err := a.Put(ctx, "greeting", []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if got, _, err := b.Get(ctx, "greeting"); err != nil || string(got) != "hello" {
		t.Fatalf("b reads %q %v", got, err)
	}
	v, _ := clusterAPI("127.0.0.1:" + strconv.Itoa(p.B))
	if strings.Join(v.Triad, ",") != "a,b" || v.Signed {
		t.Errorf("cluster view %+v", v)
	}
	if !strings.Contains(s.log("a"), "loopback addresses only") {
		t.Error("no warning at start that cluster traffic is loopback-only without a key")
	}
}

// signal sends sig to server id.
func (s *site) signal(id string, sig syscall.Signal) {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "data", id, "resind.pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, sig); err != nil {
		s.t.Fatal(err)
	}
}

func TestServerCutOffIsMarkedDeadAndRejoins(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := clusterPorts{A: freePort(t), B: freePort(t), C: freePort(t), Web: freePort(t), HTTP: freePort(t)}
	s.write("resin.xml", clusterTiers, p)
	s.writeRaw("app/app/page.html", "app page")
	for _, id := range []string{"app-a", "app-b", "app-c", "web-a"} {
		s.startFast(id)
	}
	webAdmin := "127.0.0.1:" + strconv.Itoa(p.HTTP)
	addr := p.appAddr("app-c")
	eventually(t, 20*time.Second, "web-a to see app-c alive", func() bool {
		v, ok := clusterAPI(webAdmin)
		return ok && v.member("app-c").State == "alive"
	})
	// A stopped process answers nothing, as a server whose link is down.
	s.signal("app-c", syscall.SIGSTOP)
	t.Cleanup(func() { s.signal("app-c", syscall.SIGCONT) }) // so that the site can stop it
	eventually(t, 15*time.Second, "web-a to see app-c dead and out of rotation", func() bool {
		v, ok := clusterAPI(webAdmin)
		state, _ := backendState(t, p.HTTP, addr)
		return ok && v.member("app-c").State == "dead" && state == "down"
	})
	for range 6 {
		if resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", p.HTTP)); resp.StatusCode != 200 || body != "app page" {
			t.Fatalf("with app-c cut off: %d %q", resp.StatusCode, body)
		}
	}
	s.signal("app-c", syscall.SIGCONT)
	eventually(t, 20*time.Second, "app-c to rejoin and be routed to again", func() bool {
		v, ok := clusterAPI(webAdmin)
		state, _ := backendState(t, p.HTTP, addr)
		return ok && v.member("app-c").State == "alive" && state != "down"
	})
}
