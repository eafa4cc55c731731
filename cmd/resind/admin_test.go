package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// cachedTiers is an app tier (app-a, and app-b when its port is set) whose
// pages are fresh for a minute, and a web tier balancing round-robin to it
// with a proxy cache in front and admin users.
const cachedTiers = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server-default>
      <load-balance-recover-time>60s</load-balance-recover-time>
    </server-default>
    <server id="app-a" address="127.0.0.1" port="{{.AppA}}"/>
    {{if .AppB}}<server id="app-b" address="127.0.0.1" port="{{.AppB}}"/>{{end}}
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/app">
        <resin:SetHeader regexp="^/app/" name="Cache-Control" value="max-age=60"/>
      </web-app>
    </host>
  </cluster>
  <cluster id="web">
    <resin:AdminAuthenticator>
      {{.Users}}
    </resin:AdminAuthenticator>
    <proxy-cache memory-size="1M"/>
    <server id="web-a" address="127.0.0.1" port="{{.WebCluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app" strategy="round-robin"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

type cachedPorts struct {
	AppA, AppB, WebCluster, HTTP int
	Users                        string
}

// passwd runs `resind passwd` as an operator would and returns its line.
// Tests that log in often use ssha: bcrypt costs a second a check under -race.
func (s *site) passwd(digest, user, password string) string {
	s.t.Helper()
	r := s.resind("passwd", "-digest", digest, user, password)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "<resin:user name=\""+user+"\" password=\"") {
		s.t.Fatalf("resind passwd: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// adminCall sends an admin request with HTTP Basic credentials user:pw
// (none when user is "").
func adminCall(t *testing.T, method, u, user, pw string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

type adminStatus struct {
	ServerID string `json:"server_id"`
	Backends []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"backends"`
	Caches []struct {
		Hits    uint64 `json:"hits"`
		Entries int64  `json:"entries"`
	} `json:"caches"`
	LastReload struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"last_reload"`
}

func TestAdminPageAndProxyCacheOnARunningWebTier(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := cachedPorts{AppA: freePort(t), WebCluster: freePort(t), HTTP: freePort(t)}
	p.Users = s.passwd("ssha", "admin", "s3cret pass")
	s.write("resin.xml", cachedTiers, p)
	s.writeRaw("app/app/page.html", "app page")
	s.writeRaw("web/index.html", "web page")
	s.start("app-a")
	s.start("web-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", p.HTTP)

	// The cache answers the second GET; the app tier sees one.
	if resp, body := get(t, base+"/app/page.html"); body != "app page" || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first GET = %q X-Cache %q", body, resp.Header.Get("X-Cache"))
	}
	if resp, body := get(t, base+"/app/page.html"); body != "app page" || resp.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("second GET = %q X-Cache %q", body, resp.Header.Get("X-Cache"))
	}
	eventually(t, 5*time.Second, "the app tier's access log to show one request", func() bool {
		return s.served("app-a", "/app/page.html") == 1
	})

	// Users are configured: no credentials or wrong ones are refused.
	api := base + "/resin-admin/api/status"
	if resp, _ := adminCall(t, "GET", api, "", "", nil); resp.StatusCode != 401 {
		t.Errorf("API without credentials = %d, want 401", resp.StatusCode)
	}
	if resp, _ := adminCall(t, "GET", api, "admin", "wrong", nil); resp.StatusCode != 401 {
		t.Errorf("API with a wrong password = %d, want 401", resp.StatusCode)
	}
	status := func(user, pw string) adminStatus {
		t.Helper()
		resp, body := adminCall(t, "GET", api, user, pw, nil)
		var st adminStatus
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &st) != nil {
			t.Fatalf("API status = %d %q", resp.StatusCode, body)
		}
		return st
	}
	st := status("admin", "s3cret pass")
	if st.ServerID != "web-a" || len(st.Backends) != 1 || st.Backends[0].ID != "app-a" || st.Backends[0].State != "up" {
		t.Errorf("status: %+v", st)
	}
	if len(st.Caches) != 1 || st.Caches[0].Hits != 1 || st.Caches[0].Entries != 1 {
		t.Errorf("status caches: %+v", st.Caches)
	}
	if resp, body := adminCall(t, "GET", base+"/resin-admin/metrics", "admin", "s3cret pass", nil); resp.StatusCode != 200 ||
		!strings.Contains(body, "resind_") {
		t.Errorf("metrics = %d, %.200q", resp.StatusCode, body)
	}

	// Purge through the API: the next GET goes to the app tier again.
	resp, body := adminCall(t, "POST", base+"/resin-admin/api/purge", "admin", "s3cret pass", url.Values{"url": {"/app/page.html"}})
	var purged struct{ Purged int }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &purged) != nil || purged.Purged != 1 {
		t.Fatalf("purge = %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/app/page.html"); resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after purge X-Cache = %q, want MISS", resp.Header.Get("X-Cache"))
	}

	// A reload that adds a user: the new user gets in, the cache and the
	// backend's state are kept.
	get(t, base+"/app/page.html")
	p.Users += "\n" + s.passwd("bcrypt", "ops", "other pass")
	s.write("resin.xml", cachedTiers, p)
	// (Not polled with the new user: failed logins are rate-limited.)
	eventually(t, 10*time.Second, "the reload to be logged", func() bool {
		return strings.Contains(s.log("web-a"), "configuration reloaded")
	})
	if resp, _ := adminCall(t, "GET", api, "ops", "other pass", nil); resp.StatusCode != 200 {
		t.Errorf("the user added by the reload: %d", resp.StatusCode)
	}
	st = status("admin", "s3cret pass")
	if !st.LastReload.OK || len(st.Caches) != 1 || st.Caches[0].Entries != 1 || st.Backends[0].State != "up" {
		t.Errorf("after the reload: %+v", st)
	}
	if strings.Contains(s.log("web-a"), "s3cret") || strings.Contains(s.log("web-a"), "other pass") {
		t.Error("a password reached the log")
	}
}

func TestAdminPageWithoutUsersIsLoopbackOnly(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	d := reloadData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)}}
	s.write("resin.xml", reloadConf, d)
	s.writeRaw("root/index.html", "home")
	s.start("web-a")
	resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/resin-admin/", d.HTTP))
	if resp.StatusCode != 200 || !strings.Contains(body, "<title>resin-admin</title>") {
		t.Errorf("admin page from loopback without users = %d %.300q", resp.StatusCode, body)
	}
	if !strings.Contains(s.log("web-a"), "loopback clients only") {
		t.Error("the log does not say the admin page is loopback-only")
	}
}
