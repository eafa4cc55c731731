package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	cclient "resind/cluster/client"
)

// sessionTiers is a web tier balancing /app/ over three app-tier servers
// that proxy it to an application; the app tier owns the sessions and
// keeps them in the cluster.
const sessionTiers = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server-default>
      <load-balance-connect-timeout>1s</load-balance-connect-timeout>
    </server-default>
    <server id="app-a" address="127.0.0.2" port="{{.A}}"/>
    <server id="app-b" address="127.0.0.3" port="{{.B}}"/>
    <server id="app-c" address="127.0.0.4" port="{{.C}}"/>
    <host id="">
      <web-app id="/">
        <session-config use-persistent-store="true" always-save-session="true"/>
        <resin:HttpProxy regexp="^/app/"><addresses>{{.App}}</addresses></resin:HttpProxy>
      </web-app>
    </host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Web}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/">
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

// counterApp is the application behind the app tier: it counts the
// requests of a session in the session's attributes, through the session
// API of the app-tier servers (the first that answers).
func counterApp(clusterPorts func() []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Resin-Session-Id")
		if id == "" {
			http.Error(w, "no X-Resin-Session-Id", http.StatusInternalServerError)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		var last error
		for _, base := range clusterPorts() {
			c := cclient.New(base, "")
			attrs, err := c.Session(ctx, id)
			if errors.Is(err, cclient.ErrNotFound) {
				attrs, err = map[string]any{}, nil
			}
			if err != nil {
				last = err
				continue // that app-tier server is down: the next one
			}
			n, _ := attrs["n"].(float64)
			attrs["n"] = n + 1
			if err := c.SaveSession(ctx, id, attrs); err != nil {
				last = err
				continue
			}
			fmt.Fprintf(w, "%s %d", id, int(n+1))
			return
		}
		http.Error(w, fmt.Sprint(last), http.StatusBadGateway)
	})
}

func TestSessionOfADeadOwnerContinuesOnItsBackup(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	d := struct {
		A, B, C, Web, HTTP int
		App                string
	}{A: freePort(t), B: freePort(t), C: freePort(t), Web: freePort(t), HTTP: freePort(t)}
	bases := []string{"http://127.0.0.2:" + strconv.Itoa(d.A), "http://127.0.0.3:" + strconv.Itoa(d.B), "http://127.0.0.4:" + strconv.Itoa(d.C)}
	app := httptest.NewServer(counterApp(func() []string { return bases }))
	defer app.Close()
	d.App = app.Listener.Addr().String()
	s.write("resin.xml", sessionTiers, d)
	for _, id := range []string{"app-a", "app-b", "app-c", "web-a"} {
		s.startFast(id)
	}
	eventually(t, 30*time.Second, "the app tier to elect a leader", func() bool {
		v, ok := clusterAPI(bases[0][len("http://"):])
		return ok && v.Leader != ""
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/app/count", d.HTTP)
	resp, body := get(t, url)
	var sid string
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			sid = c.Value
		}
	}
	if resp.StatusCode != 200 || sid == "" || body != sid+" 1" {
		t.Fatalf("first request: %d %q, cookie %q", resp.StatusCode, body, sid)
	}
	if _, body := get(t, url, "Cookie", "JSESSIONID="+sid); body != sid+" 2" {
		t.Fatalf("second request: %q", body)
	}
	owner := []string{"app-a", "app-b", "app-c"}[strings.IndexByte("abc", sid[0])]
	s.kill(owner)
	// The web tier sends the session to its backup, whose application
	// finds the session's attributes in the cluster.
	resp, body = get(t, url, "Cookie", "JSESSIONID="+sid)
	if resp.StatusCode != 200 || body != sid+" 3" {
		t.Fatalf("after %s was killed: %d %q", owner, resp.StatusCode, body)
	}
}
