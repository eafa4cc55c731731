package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cclient "resind/cluster/client"
)

// netnsTiers is clusterTiers with the app tier on the two ends of a veth
// link: app-a, app-b and web-a's cluster port on the host's end, app-c in
// a network namespace on the other end. Cluster traffic crosses a real
// link, so it is signed with the system key.
const netnsTiers = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <resin-system-auth-key>veth-secret</resin-system-auth-key>
  <cluster id="app">
    <server-default>
      <load-balance-connect-timeout>1s</load-balance-connect-timeout>
      <load-balance-recover-time>1s</load-balance-recover-time>
    </server-default>
    <server id="app-a" address="{{.Host}}" port="{{.A}}"/>
    <server id="app-b" address="{{.Host}}" port="{{.B}}"/>
    <server id="app-c" address="{{.Peer}}" port="{{.C}}"/>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/app"/>
    </host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="{{.Host}}" port="{{.Web}}">
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

// vethLink is a network namespace joined to the host by a veth pair.
type vethLink struct {
	t          *testing.T
	ns, hostIf string
	host, peer string // the addresses of the host's end and the namespace's
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// newVethLink makes the namespace and the link, or skips the test where
// that is not allowed (not root, no ip, a container without CAP_NET_ADMIN).
func newVethLink(t *testing.T) *vethLink {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	n := rand.IntN(200) + 20
	tag := strconv.Itoa(os.Getpid()%10000) + "x" + strconv.Itoa(n)
	v := &vethLink{t: t, ns: "rsd" + tag, hostIf: "rsdh" + tag,
		host: fmt.Sprintf("10.213.%d.1", n), peer: fmt.Sprintf("10.213.%d.2", n)}
	if err := ipCmd("netns", "add", v.ns); err != nil {
		t.Skipf("cannot make a network namespace here: %v", err)
	}
	t.Cleanup(func() {
		ipCmd("link", "del", v.hostIf)
		ipCmd("netns", "del", v.ns)
	})
	nsIf := "rsdn" + tag
	for _, args := range [][]string{
		{"link", "add", v.hostIf, "type", "veth", "peer", "name", nsIf},
		{"link", "set", nsIf, "netns", v.ns},
		{"addr", "add", v.host + "/30", "dev", v.hostIf},
		{"link", "set", v.hostIf, "up"},
		{"-n", v.ns, "addr", "add", v.peer + "/30", "dev", nsIf},
		{"-n", v.ns, "link", "set", nsIf, "up"},
		{"-n", v.ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Skipf("cannot set up the veth link here: %v", err)
		}
	}
	return v
}

// set brings the host's end of the link up or down.
func (v *vethLink) set(up bool) {
	v.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	if err := ipCmd("link", "set", v.hostIf, state); err != nil {
		v.t.Fatal(err)
	}
}

// startIn starts server id inside the namespace.
func (s *site) startIn(ns, id string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, resindBin, "-conf", s.conf,
		"-data-directory", filepath.Join(s.dir, "data"), "-log-directory", filepath.Join(s.dir, "log"), "-server", id, "start")
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), timingEnv+"=fast")
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("resind -server %s start in %s: %v\n%s", id, ns, err, out)
	}
	s.started[id] = true
}

func TestServerBehindALinkThatGoesDownIsMarkedDeadAndRejoins(t *testing.T) {
	t.Parallel()
	v := newVethLink(t) // before the site: its cleanup runs after the servers stop
	s := newSite(t)
	d := struct {
		Host, Peer         string
		A, B, C, Web, HTTP int
	}{v.host, v.peer, freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)}
	s.write("resin.xml", netnsTiers, d)
	os.Chmod(s.conf, 0o600)
	s.writeRaw("app/app/page.html", "app page")
	for _, id := range []string{"app-a", "app-b", "web-a"} {
		s.startFast(id)
	}
	s.startIn(v.ns, "app-c")
	webAdmin := "127.0.0.1:" + strconv.Itoa(d.HTTP)
	addrC := v.peer + ":" + strconv.Itoa(d.C)
	eventually(t, 30*time.Second, "web-a to see app-c alive across the link", func() bool {
		view, ok := clusterAPI(webAdmin)
		return ok && view.member("app-c").State == "alive" && view.Signed
	})

	v.set(false)
	cut := time.Now()
	eventually(t, 20*time.Second, "web-a to see app-c dead and out of rotation", func() bool {
		view, ok := clusterAPI(webAdmin)
		state, _ := backendState(t, d.HTTP, addrC)
		return ok && view.member("app-c").State == "dead" && state == "down"
	})
	t.Logf("app-c seen dead %s after its link went down", time.Since(cut).Round(10*time.Millisecond))
	for range 6 {
		if resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", d.HTTP)); resp.StatusCode != 200 || body != "app page" {
			t.Fatalf("with app-c cut off: %d %q", resp.StatusCode, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hostA := "http://" + v.host + ":" + strconv.Itoa(d.A)
	if _, err := cclient.New(hostA, "veth-secret").Cache("c").Put(ctx, "while-cut", []byte("1"), 0); err != nil {
		t.Fatalf("write while app-c is cut off: %v", err)
	}

	v.set(true)
	eventually(t, 30*time.Second, "app-c to rejoin and be routed to again", func() bool {
		view, ok := clusterAPI(webAdmin)
		state, _ := backendState(t, d.HTTP, addrC)
		return ok && view.member("app-c").State == "alive" && state != "down"
	})
	// Through its own cluster port, with a signed request from off its
	// loopback, app-c serves what was written while it was away.
	got, _, err := cclient.New("http://"+addrC, "veth-secret").Cache("c").Get(ctx, "while-cut")
	if err != nil || string(got) != "1" {
		t.Fatalf("app-c reads %q %v", got, err)
	}
	// Unsigned, the same request from off loopback is refused.
	if _, _, err := cclient.New("http://"+addrC, "").Cache("c").Get(ctx, "while-cut"); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("an unsigned request from off loopback: %v", err)
	}
}
