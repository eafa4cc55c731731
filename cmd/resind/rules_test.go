package main

import (
	"fmt"
	"strings"
	"testing"
)

const rulesConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <resin:MovedPermanently regexp="^/old-site/(.*)" target="/new-site/$1"/>
      <web-app id="/" root-directory="${__DIR__}/root">
        <resin:SetHeader regexp="^/" name="X-Served-By" value="resind"/>
        <resin:Redirect regexp="^/go/(\w+)" target="/docs/$1.html"/>
        <resin:Forbidden regexp="^/private/"/>
        <resin:NotFound regexp="\.bak$"/>
        <resin:Forward regexp="^/alias/(.*)" target="/docs/$1"/>
        <resin:Forbidden regexp="^/admin-only/">
          <resin:Not>
            <resin:IfNetwork value="127.0.0.0/8"/>
          </resin:Not>
        </resin:Forbidden>
        <resin:Forbidden regexp="^/method/">
          <resin:IfMethod method="DELETE"/>
        </resin:Forbidden>
        <resin:Forbidden regexp="^/needs-header/">
          <resin:Not><resin:IfHeader name="X-Token" regexp="^secret$"/></resin:Not>
        </resin:Forbidden>
      </web-app>
      <web-app id="/shop" root-directory="${__DIR__}/shop"/>
    </host>
    <host id="other.example">
      <host-alias>alias.example</host-alias>
      <web-app id="/" root-directory="${__DIR__}/other"/>
    </host>
  </cluster>
</resin>
`

func TestRewriteRulesAsAUserSeesThem(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	p := ports{HTTP: freePort(t), Cluster: freePort(t)}
	s.write("resin.xml", rulesConf, p)
	s.writeRaw("root/docs/intro.html", "intro page")
	s.writeRaw("root/private/secret.txt", "secret")
	s.writeRaw("root/notes.bak", "backup")
	s.writeRaw("root/admin-only/x.txt", "admin")
	s.writeRaw("root/method/m.txt", "method")
	s.writeRaw("root/needs-header/h.txt", "header ok")
	s.writeRaw("shop/index.html", "the shop")
	s.writeRaw("other/index.html", "other host")
	s.start("web-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", p.HTTP)

	tests := []struct {
		name     string
		path     string
		hdr      []string
		code     int
		location string
		body     string
	}{
		{"file", "/docs/intro.html", nil, 200, "", "intro page"},
		{"redirect with group", "/go/intro", nil, 302, "/docs/intro.html", ""},
		{"moved permanently in host", "/old-site/a/b", nil, 301, "/new-site/a/b", ""},
		{"forbidden", "/private/secret.txt", nil, 403, "", ""},
		{"not found", "/notes.bak", nil, 404, "", ""},
		{"forward is internal", "/alias/intro.html", nil, 200, "", "intro page"},
		{"not ifnetwork from loopback passes", "/admin-only/x.txt", nil, 200, "", "admin"},
		{"ifmethod does not match GET", "/method/m.txt", nil, 200, "", "method"},
		{"missing header forbidden", "/needs-header/h.txt", nil, 403, "", ""},
		{"right header passes", "/needs-header/h.txt", []string{"X-Token", "secret"}, 200, "", "header ok"},
		{"longest web-app prefix", "/shop/", nil, 200, "", "the shop"},
		{"host by name", "/", []string{"Host", "other.example:80"}, 200, "", "other host"},
		{"host alias", "/", []string{"Host", "ALIAS.example"}, 200, "", "other host"},
		{"traversal", "/../resin.xml", nil, 404, "", ""},
		{"encoded traversal", "/%2e%2e/resin.xml", nil, 404, "", ""},
		{"missing file", "/nothing-here", nil, 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, base+tc.path, tc.hdr...)
			if resp.StatusCode != tc.code && !(tc.code == 404 && resp.StatusCode == 403 && strings.Contains(tc.name, "traversal")) {
				t.Fatalf("GET %s = %d, want %d (body %q)", tc.path, resp.StatusCode, tc.code, body)
			}
			if tc.location != "" && !strings.HasSuffix(resp.Header.Get("Location"), tc.location) {
				t.Errorf("Location = %q, want …%s", resp.Header.Get("Location"), tc.location)
			}
			if tc.body != "" && !strings.Contains(body, tc.body) {
				t.Errorf("body %q lacks %q", body, tc.body)
			}
			if strings.Contains(body, "<resin") {
				t.Errorf("served the configuration file")
			}
		})
	}
	// SetHeader does not end rule matching, and applies to what follows.
	resp, _ := get(t, base+"/docs/intro.html")
	if resp.Header.Get("X-Served-By") != "resind" {
		t.Errorf("SetHeader missing: %v", resp.Header)
	}
}
