package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secretConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <resin-system-auth-key>{{.Key}}</resin-system-auth-key>
  <resin:AdminAuthenticator password-digest="none">
    <resin:user name="admin" password="{{.Password}}"/>
  </resin:AdminAuthenticator>
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

type secretData struct {
	ports
	Key, Password string
}

// TestSecretsAreNeverLoggedOrShown runs a server whose resin.xml holds a
// system key and a plain admin password, and looks for them everywhere a
// user or another local account could read: the logs, check, status, the
// admin page, its API and metrics, after failed logins and a refused edit
// that breaks the very line holding the key.
func TestSecretsAreNeverLoggedOrShown(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	d := secretData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)}, Key: "SYSKEY-5f1b0c", Password: "ADMINPW-77aa"}
	s.write("resin.xml", secretConf, d) // written 0644: readable by others
	s.writeRaw("root/index.html", "home")

	chk := s.resind("check")
	if chk.code != 0 || !strings.Contains(chk.stdout, "resin.xml:2: this file holds secrets and is readable by other users (mode 0644)") {
		t.Errorf("check does not warn about a world-readable file holding secrets: exit %d\n%s%s", chk.code, chk.stdout, chk.stderr)
	}
	s.start("web-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", d.HTTP)

	var shown []string
	fetch := func(path, user, pass string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		shown = append(shown, fmt.Sprintf("GET %s as %q: %d\n%s", path, user, resp.StatusCode, b))
	}
	for _, p := range []string{"/resin-admin/", "/resin-admin/api/status", "/resin-admin/metrics"} {
		fetch(p, "admin", d.Password)
	}
	fetch("/resin-admin/api/status", "admin", "WRONGPW-31c")
	fetch("/resin-admin/api/status", "nobody", d.Password)

	// A refused edit that breaks the line holding the key.
	bad := d
	bad.Key = "${" + d.Key
	s.replace("resin.xml", render(t, secretConf, bad))
	eventually(t, 10*time.Second, "the broken edit to be refused", func() bool {
		return strings.Contains(s.log("web-a"), "configuration refused")
	})
	fetch("/resin-admin/api/status", "admin", d.Password)
	chk = s.resind("check")
	shown = append(shown, "check: "+chk.stdout+chk.stderr)
	st := s.resind("-server", "web-a", "status")
	shown = append(shown, "status: "+st.stdout+st.stderr)
	s.stop("web-a")

	logs, _ := filepath.Glob(filepath.Join(s.dir, "log", "*"))
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		shown = append(shown, f+": "+string(b))
	}
	for _, text := range shown {
		for _, secret := range []string{d.Key, d.Password, "WRONGPW-31c"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q is shown in:\n%.2000s", secret, text)
			}
		}
	}
	if !strings.Contains(strings.Join(shown, "\n"), "authentication failed") {
		t.Errorf("the failed logins were not logged at all")
	}
}
