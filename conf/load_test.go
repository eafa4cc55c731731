package conf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryResinSampleLoads(t *testing.T) {
	t.Parallel()
	// The files that are imports of others (app-default.xml's root is
	// <cluster>) are loaded through the files that import them.
	for _, name := range []string{"resin.xml", "cluster-default.xml", "health.xml", "sample_full.xml",
		"sample_minimal.xml", "sample_resin-cloud.xml", "resin-3.0_resin.conf.xml", "resin-3.1_resin.conf.xml"} {
		cfg, err := Load(filepath.Join("testdata", "samples", name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, w := range cfg.Warnings {
			if w.Pos.File == "" || w.Pos.Line == 0 {
				t.Errorf("%s: warning without file:line: %v", name, w)
			}
		}
	}
}

func TestSampleResinXMLFollowsItsImports(t *testing.T) {
	t.Parallel()
	cfg, err := Load("testdata/samples/resin.xml")
	if err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, f := range cfg.Files {
		base = append(base, filepath.Base(f))
	}
	want := []string{"resin.xml", "cluster-default.xml", "app-default.xml", "health.xml"}
	if !slices.Equal(base, want) {
		t.Errorf("Files = %v, want %v", base, want)
	}
	if !filepath.IsAbs(cfg.File) || !filepath.IsAbs(cfg.Files[0]) {
		t.Errorf("File %q is not absolute", cfg.File)
	}
	var ids []string
	for _, cl := range cfg.Clusters {
		ids = append(ids, cl.ID)
	}
	if !slices.Equal(ids, []string{"app", "web", "memcached", "proxycache"}) {
		t.Errorf("clusters %v", ids)
	}
	// The warning about 995 <mime-mapping>s is one warning.
	n := 0
	for _, w := range cfg.Warnings {
		if strings.Contains(w.Msg, "<mime-mapping>") {
			n++
			if !strings.Contains(w.Msg, "more in this file") {
				t.Errorf("ungrouped: %v", w)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d warnings about <mime-mapping>, want 1", n)
	}
}

// The sample resin.xml takes its servers from resin.properties, as a Resin
// installation does.
func TestSampleResinXMLTakesServersFromResinProperties(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"resin.xml", "cluster-default.xml", "app-default.xml", "health.xml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "samples", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	props := "app_servers : 127.0.0.1:6800 127.0.0.2\nweb_servers=10.0.0.1:6810\nhttp : 8080\nadmin_user : admin\nadmin_password : {SSHA}xyz\nproxy_cache_enable : true\nproxy_cache_size : 64m\n"
	if err := os.WriteFile(filepath.Join(dir, "resin.properties"), []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(filepath.Join(dir, "resin.xml"))
	if err != nil {
		t.Fatal(err)
	}
	app := cfg.Cluster("app")
	if len(app.Servers) != 2 || app.Servers[0].ID != "app-0" || app.Servers[1].ID != "app-1" ||
		app.Servers[1].Address != "127.0.0.2" || app.Servers[1].Port != 6800 || app.Servers[1].Index != 1 {
		t.Fatalf("app servers %+v", app.Servers)
	}
	web := cfg.Cluster("web").Servers
	if len(web) != 1 || web[0].ID != "web-0" || web[0].Address != "10.0.0.1" || web[0].Port != 6810 {
		t.Fatalf("web servers %+v", web)
	}
	// server-default of cluster-default.xml gives every server the http port.
	if l := web[0].HTTP; len(l) != 1 || l[0].Port != 8080 || l[0].Address != "*" {
		t.Errorf("web-0 http %+v", l)
	}
	if pc := cfg.Cluster("web").ProxyCache; pc == nil || pc.MemorySize != 64<<20 {
		t.Errorf("proxy cache %+v", pc)
	}
	if len(cfg.AdminUsers) != 1 || cfg.AdminUsers[0].Name != "admin" || cfg.AdminUsers[0].Password != "{SSHA}xyz" {
		t.Errorf("admin users %+v", cfg.AdminUsers)
	}
	if cfg.Files[1] != filepath.Join(dir, "resin.properties") {
		t.Errorf("Files %v does not list resin.properties second", cfg.Files)
	}
}

func TestCoreElementsLoad(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`
  <resin-system-auth-key>s3cret</resin-system-auth-key>
  <resin:AdminAuthenticator password-digest="none">
    <resin:user name="admin" password="pw"/>
    <user name="old" password="x" disabled="true" password-digest="md5"/>
  </resin:AdminAuthenticator>
  <cluster id="app">
    <server id="a" address="10.0.0.1" port="6800">
      <http port="8080"/>
      <http address="127.0.0.1" port="8081"/>
      <load-balance-weight>50</load-balance-weight>
      <backup/>
      <load-balance-connect-timeout>2s</load-balance-connect-timeout>
      <keepalive-timeout>-1</keepalive-timeout>
    </server>
    <server id="b" port="6801" load-balance-recover-time="30s" backup="false"/>
    <proxy-cache memory-size="32M" entries="100" max-entry-size="512k"/>
  </cluster>`))
	if cfg.SystemKey != "s3cret" {
		t.Errorf("SystemKey %q", cfg.SystemKey)
	}
	want := []AdminUser{{Name: "admin", Password: "pw", PasswordDigest: "none"}, {Name: "old", Password: "x", PasswordDigest: "md5", Disabled: true}}
	for i := range cfg.AdminUsers {
		cfg.AdminUsers[i].Pos = Pos{}
	}
	if !slices.Equal(cfg.AdminUsers, want) {
		t.Errorf("AdminUsers %+v", cfg.AdminUsers)
	}
	cl := cfg.Cluster("app")
	a, b := cl.Servers[0], cl.Servers[1]
	if a.ID != "a" || a.ClusterID != "app" || a.Index != 0 || a.Address != "10.0.0.1" || a.Port != 6800 || a.Weight != 50 || !a.Backup {
		t.Errorf("server a %+v", a)
	}
	if a.Pos.Line != 9 || !strings.HasSuffix(a.Pos.File, "resin.xml") {
		t.Errorf("server a at %v, want line 9", a.Pos)
	}
	if len(a.HTTP) != 2 || a.HTTP[0].Port != 8080 || a.HTTP[0].Address != "" || a.HTTP[1].Address != "127.0.0.1" || a.HTTP[1].Pos.Line != 11 {
		t.Errorf("server a http %+v", a.HTTP)
	}
	if a.Timeout.LoadBalanceConnectTimeout != 2*time.Second || a.Timeout.KeepaliveTimeout != 0 || a.Timeout.SocketTimeout != DefaultTimeouts.SocketTimeout {
		t.Errorf("server a timeouts %+v", a.Timeout)
	}
	if b.Index != 1 || b.Address != "127.0.0.1" || b.Weight != 100 || b.Backup || b.Timeout.LoadBalanceRecoverTime != 30*time.Second {
		t.Errorf("server b %+v", b)
	}
	if pc := cl.ProxyCache; pc == nil || pc.MemorySize != 32<<20 || pc.Entries != 100 || pc.MaxEntrySize != 512<<10 {
		t.Errorf("proxy cache %+v", pc)
	}
	if s, err := cfg.Server("b"); err != nil || s != b {
		t.Errorf("Server(b) = %v, %v", s, err)
	}
}

func TestProxyCacheDefaultsAndCacheSpelling(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="web"><cache/></cluster>`))
	pc := cfg.Clusters[0].ProxyCache
	if pc == nil || pc.MemorySize != 16<<20 || pc.Entries != 8192 || pc.MaxEntrySize != 1<<20 {
		t.Errorf("cache %+v", pc)
	}
	if cfg := mustLoad(t, resinXML(`<cluster id="web"/>`)); cfg.Clusters[0].ProxyCache != nil {
		t.Error("a cluster without <proxy-cache> has one")
	}
}

func TestNamespacesAreMatchedByLocalName(t *testing.T) {
	t.Parallel()
	body := `
  <cluster id="c">
    <server id="s" port="6800"/>
    <host id=""><web-app id="/"><%[1]sForbidden regexp="^/x"/></web-app></host>
  </cluster>`
	for name, doc := range map[string]string{
		"resin 4":      `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">` + strings.ReplaceAll(body, "%[1]s", "resin:") + `</resin>`,
		"resin 3":      `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="http://caucho.com/ns/resin/core">` + strings.ReplaceAll(body, "%[1]s", "resin:") + `</resin>`,
		"none":         `<resin>` + strings.ReplaceAll(body, "%[1]s", "") + `</resin>`,
		"other prefix": `<r:resin xmlns:r="http://caucho.com/ns/resin" xmlns:x="urn:java:com.caucho.resin">` + strings.ReplaceAll(strings.ReplaceAll(body, "%[1]s", "x:"), "<", "<r:") + `</r:resin>`,
	} {
		doc = strings.ReplaceAll(doc, "<r:/", "</r:")
		doc = strings.ReplaceAll(doc, "<r:x:", "<x:")
		cfg, err := loadString(t, doc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if r := cfg.Clusters[0].Hosts[0].WebApps[0].Rules; len(r) != 1 || r[0].Kind != Forbidden {
			t.Errorf("%s: rules %+v", name, r)
		}
	}
}

func TestForeignNamespaceElementsAreWarnings(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, `<resin xmlns="http://caucho.com/ns/resin" xmlns:health="urn:java:com.caucho.health">
  <health:cluster id="x"/>
</resin>`)
	if len(cfg.Clusters) != 0 || !hasWarning(cfg, "resin.xml:2: <health:cluster>: not supported; ignored") {
		t.Errorf("clusters %d warnings %v", len(cfg.Clusters), cfg.Warnings)
	}
}

func TestAttributesAndChildElementsAreInterchangeable(t *testing.T) {
	t.Parallel()
	attrs := mustLoad(t, resinXML(`<cluster id="c"><server id="a" address="10.0.0.2" port="6800" load-balance-connect-timeout="2s" load-balance-weight="7"/></cluster>`))
	kids := mustLoad(t, resinXML(`<cluster><id>c</id><server>
    <id>a</id><address>10.0.0.2</address><port>6800</port>
    <load-balance-connect-timeout>2s</load-balance-connect-timeout>
    <load-balance-weight>7</load-balance-weight>
  </server></cluster>`))
	a, k := attrs.Clusters[0].Servers[0], kids.Clusters[0].Servers[0]
	a.Pos, k.Pos = Pos{}, Pos{}
	if a.ID != k.ID || a.Address != k.Address || a.Port != k.Port || a.Timeout != k.Timeout || a.Weight != k.Weight {
		t.Errorf("attributes %+v\nchildren %+v", a, k)
	}
}

func TestUnknownElementsAndAttributesAreWarningsWithLines(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<log-handler name="" level="all"/>
  <cluster id="c" frobnicate="yes">
    <server id="a" port="6800"><jvm-arg>-Xmx1g</jvm-arg></server>
  </cluster>`))
	for _, w := range []string{
		"resin.xml:2: <log-handler>: not supported; ignored",
		`resin.xml:3: <cluster id="c">: attribute "frobnicate" is not supported; ignored`,
		"resin.xml:4: <jvm-arg>: not supported; ignored",
	} {
		if !hasWarning(cfg, w) {
			t.Errorf("no warning %q in %v", w, cfg.Warnings)
		}
	}
}

// Configurations written for Resin Professional guard their web tier with
// ${resin.professional}; resind does what Resin Pro's clustering does.
func TestProfessionalSamplesGetTheirWebTier(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"sample_full.xml", "resin-3.1_resin.conf.xml"} {
		cfg, err := Load(filepath.Join("testdata", "samples", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		web := cfg.Cluster("web-tier")
		if web == nil || len(web.Servers) != 1 || web.Servers[0].ID != "web-a" || web.ProxyCache == nil || web.ProxyCache.MemorySize != 64<<20 {
			t.Fatalf("%s: web-tier %+v", name, web)
		}
		r := web.Hosts[0].WebApps[0].Rules
		if len(r) != 1 || r[0].Kind != LoadBalance || r[0].Cluster != "app-tier" {
			t.Errorf("%s: web-tier rules %+v", name, r)
		}
		if l := web.Servers[0].HTTP; len(l) != 1 || l[0].Port != 9080 {
			t.Errorf("%s: web-a listeners %+v", name, l)
		}
	}
}
