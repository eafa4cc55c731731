package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const reloadConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/root">
        {{.Rule}}
      </web-app>
    </host>
  </cluster>
</resin>
`

type reloadData struct {
	ports
	Rule string
}

func TestEditsAreAppliedLiveAndBadEditsRefused(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	d := reloadData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)}}
	s.write("resin.xml", reloadConf, d)
	s.writeRaw("root/index.html", "home")
	s.start("web-a")
	url := fmt.Sprintf("http://127.0.0.1:%d/moved", d.HTTP)
	status := func() int { resp, _ := get(t, url); return resp.StatusCode }
	if c := status(); c != 404 {
		t.Fatalf("before the edit GET /moved = %d", c)
	}

	// An editor that writes a new file and renames it over the old one.
	d.Rule = `<resin:Redirect regexp="^/moved" target="/index.html"/>`
	s.write("resin.xml", reloadConf, d)
	eventually(t, 10*time.Second, "the new Redirect rule to take effect", func() bool { return status() == 302 })

	// A broken edit, in place: the running configuration stays.
	d.Rule = `<resin:Redirect regexp="^/moved(" target="/index.html"/>`
	s.write("resin.xml", reloadConf, d)
	eventually(t, 10*time.Second, "the refusal to be logged with file:line", func() bool {
		return strings.Contains(s.log("web-a"), "resin.xml:8: <resin:Redirect>")
	})
	if c := status(); c != 302 {
		t.Fatalf("after a refused edit GET /moved = %d, want the old rule's 302", c)
	}

	// Fixing the file is picked up again, this time replaced by rename.
	d.Rule = `<resin:Forbidden regexp="^/moved"/>`
	s.replace("resin.xml", render(t, reloadConf, d))
	eventually(t, 10*time.Second, "the rule edited by rename to take effect", func() bool { return status() == 403 })
}

func TestStopDrainsASlowRequest(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "slow answer")
	}))
	defer backend.Close()

	s := newSite(t)
	d := reloadData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)},
		Rule: fmt.Sprintf(`<resin:HttpProxy regexp="^/slow" addresses="%s"/>`, backend.Listener.Addr())}
	s.write("resin.xml", reloadConf, d)
	s.start("web-a")

	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/slow", d.HTTP))
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp.StatusCode, string(b), err}
	}()
	<-arrived

	stopped := make(chan result, 1)
	go func() { stopped <- s.resind("-server", "web-a", "stop") }()
	// The server stops accepting, but the request in flight goes on.
	eventually(t, 10*time.Second, "the listener to close", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.HTTP))
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
	a := <-got
	if a.err != nil || a.code != 200 || a.body != "slow answer" {
		t.Fatalf("the request in flight during stop: %d %q %v", a.code, a.body, a.err)
	}
	if r := <-stopped; r.code != 0 {
		t.Fatalf("stop: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	delete(s.started, "web-a")
}
