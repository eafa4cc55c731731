package conf

import (
	"path/filepath"
	"testing"
	"time"
)

func TestDefaultsApplyLikeTemplatesInDocumentOrder(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`
  <cluster-default>
    <server-default>
      <http port="8080"/>
      <load-balance-weight>10</load-balance-weight>
    </server-default>
    <host-default>
      <web-app-default>
        <session-config><session-timeout>10</session-timeout></session-config>
      </web-app-default>
      <resin:SetHeader name="X-From" value="host-default"/>
    </host-default>
  </cluster-default>
  <cluster id="c">
    <server id="early" port="6800"/>
    <server-default>
      <load-balance-connect-timeout>3s</load-balance-connect-timeout>
      <load-balance-weight>20</load-balance-weight>
    </server-default>
    <server id="late" port="6801">
      <load-balance-weight>30</load-balance-weight>
    </server>
    <server id="plain" port="6802"/>
    <host id="example.com">
      <resin:Forbidden regexp="^/private"/>
      <web-app id="/a">
        <session-config><use-persistent-store/></session-config>
      </web-app>
      <web-app id="/b"/>
    </host>
  </cluster>`))
	s := cfg.Clusters[0].Servers
	// early: cluster-default only; late: then the cluster's server-default,
	// then its own; plain: both defaults.
	if s[0].Weight != 10 || s[0].Timeout.LoadBalanceConnectTimeout != 5*time.Second || len(s[0].HTTP) != 1 {
		t.Errorf("early %+v", s[0])
	}
	if s[1].Weight != 30 || s[1].Timeout.LoadBalanceConnectTimeout != 3*time.Second || len(s[1].HTTP) != 1 || s[1].HTTP[0].Port != 8080 {
		t.Errorf("late %+v", s[1])
	}
	if s[2].Weight != 20 {
		t.Errorf("plain %+v", s[2])
	}
	h := cfg.Clusters[0].Hosts[0]
	if len(h.Rules) != 2 || h.Rules[0].Kind != SetHeader || h.Rules[1].Kind != Forbidden {
		t.Errorf("host rules: defaults first, then the host's own: %+v", h.Rules)
	}
	a, b := h.WebApps[0].Session, h.WebApps[1].Session
	if a == nil || a.Timeout != 10*time.Minute || !a.UsePersistentStore || a.CookieName != "JSESSIONID" {
		t.Errorf("/a session %+v", a)
	}
	if b == nil || b.Timeout != 10*time.Minute || b.UsePersistentStore {
		t.Errorf("/b session %+v", b)
	}
}

func TestWebAppWithoutSessionConfigHasNoSession(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c"><host id=""><web-app id="/"/>
    <web-app id="/s"><session-config/></web-app>
    <web-app id="/t" session-cookie="TSESSION"><session-config><session-timeout>-1</session-timeout></session-config></web-app>
  </host></cluster>`))
	apps := cfg.Clusters[0].Hosts[0].WebApps
	if apps[0].Session != nil {
		t.Errorf("/ has a session %+v", apps[0].Session)
	}
	if s := apps[1].Session; s == nil || s.CookieName != "JSESSIONID" || s.Timeout != 30*time.Minute {
		t.Errorf("/s session %+v", s)
	}
	if s := apps[2].Session; s == nil || s.CookieName != "TSESSION" || s.Timeout != 0 {
		t.Errorf("/t session %+v", s)
	}
}

func TestSessionCookieInheritsFromClusterAndServerDefault(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c">
    <server-default><session-cookie>CSESSION</session-cookie></server-default>
    <host id=""><web-app id="/"><session-config/></web-app></host>
  </cluster>`))
	if s := cfg.Clusters[0].Hosts[0].WebApps[0].Session; s.CookieName != "CSESSION" {
		t.Errorf("cookie %q", s.CookieName)
	}
}

func TestRootDirectoriesResolve(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{"resin.xml": resinXML(`<cluster id="c">
    <host id="">
      <web-app id="/"/>
      <web-app id="/shop"/>
      <web-app id="docs" root-directory="documents"/>
      <web-app id="/abs" root-directory="/srv/abs"/>
    </host>
    <host id="a.example" root-directory="sites/a">
      <web-app id="/" root-directory="${__DIR__}/www"/>
    </host>
    <host id="b.example" root-directory="/srv/b"/>
  </cluster>`)})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	h := cfg.Clusters[0].Hosts
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("default host root", h[0].RootDirectory, dir)
	check("root web-app", h[0].WebApps[0].RootDirectory, dir)
	check("root web-app id", h[0].WebApps[0].ID, "")
	check("/shop", h[0].WebApps[1].RootDirectory, filepath.Join(dir, "shop"))
	check("docs id", h[0].WebApps[2].ID, "/docs")
	check("docs", h[0].WebApps[2].RootDirectory, filepath.Join(dir, "documents"))
	check("/abs", h[0].WebApps[3].RootDirectory, "/srv/abs")
	check("a.example", h[1].RootDirectory, filepath.Join(dir, "sites/a"))
	check("a.example /", h[1].WebApps[0].RootDirectory, filepath.Join(dir, "www"))
	check("b.example", h[2].RootDirectory, "/srv/b")
}

func TestClusterRootDirectoryIsTheBaseOfHostRoots(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{"resin.xml": resinXML(`<cluster id="c">
    <root-directory>tier</root-directory>
    <host id="" root-directory="www"/>
  </cluster>`)})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Clusters[0].Hosts[0].RootDirectory, filepath.Join(filepath.Dir(path), "tier", "www"); got != want {
		t.Errorf("host root %q, want %q", got, want)
	}
}

func TestHostNamesAndAliases(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c">
    <host id="example.com"><host-alias>www.example.com</host-alias><host-alias>a.example.com, b.example.com</host-alias></host>
    <host host-name="named.example"/>
  </cluster>`))
	h := cfg.Clusters[0].Hosts
	if h[0].ID != "example.com" || len(h[0].Aliases) != 3 || h[0].Aliases[2] != "b.example.com" {
		t.Errorf("host 0 %+v", h[0])
	}
	if h[1].ID != "named.example" {
		t.Errorf("host 1 %+v", h[1])
	}
}

func TestWebAppInHostDefaultIsReplacedByTheHostsOwn(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c">
    <host-default><web-app id="/admin" root-directory="/srv/default-admin"/></host-default>
    <host id=""><web-app id="/admin" root-directory="/srv/admin"/></host>
    <host id="other"/>
  </cluster>`))
	h := cfg.Clusters[0].Hosts
	if len(h[0].WebApps) != 1 || h[0].WebApps[0].RootDirectory != "/srv/admin" {
		t.Errorf("host '' web-apps %+v", h[0].WebApps)
	}
	if len(h[1].WebApps) != 1 || h[1].WebApps[0].RootDirectory != "/srv/default-admin" {
		t.Errorf("host other web-apps %+v", h[1].WebApps)
	}
}

func TestServerMultiExpandsAddresses(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c">
    <server-default><load-balance-weight>5</load-balance-weight></server-default>
    <server id="first" port="6700"/>
    <server-multi id-prefix="app-" address-list="10.0.0.1, 10.0.0.2:6900 [::1]:7000" port="6800">
      <backup/>
    </server-multi>
  </cluster>`))
	s := cfg.Clusters[0].Servers
	if len(s) != 4 {
		t.Fatalf("%d servers", len(s))
	}
	want := []struct {
		id, addr string
		port     int
	}{{"first", "127.0.0.1", 6700}, {"app-0", "10.0.0.1", 6800}, {"app-1", "10.0.0.2", 6900}, {"app-2", "::1", 7000}}
	for i, w := range want {
		if s[i].ID != w.id || s[i].Address != w.addr || s[i].Port != w.port || s[i].Index != i || s[i].Weight != 5 {
			t.Errorf("server %d = %+v, want %+v", i, s[i], w)
		}
	}
	if s[0].Backup || !s[1].Backup || !s[3].Backup {
		t.Error("backup not applied to the multi servers only")
	}
}

func TestServerWithoutPortUsesResinDefault(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id=""><server id=""><http port="8080"/></server></cluster>`))
	if s, err := cfg.Server(""); err != nil || s.Port != 6800 || s.HTTP[0].Port != 8080 {
		t.Errorf("Server('') = %+v, %v", s, err)
	}
}

func TestTLSListenerIsLeftOutWithWarning(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c"><server id="a">
    <http port="8080"/>
    <http port="8443"><jsse-ssl self-signed-certificate-name="x"/></http>
  </server></cluster>`))
	if l := cfg.Clusters[0].Servers[0].HTTP; len(l) != 1 || l[0].Port != 8080 {
		t.Errorf("listeners %+v", l)
	}
	if !hasWarning(cfg, "resin.xml:4: <http>: TLS (<jsse-ssl>) is not supported") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}
