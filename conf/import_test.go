package conf

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestImportSplicesTheChildrenOfAnyRoot(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{
		"resin.xml": resinXML(`<cluster id="c">
    <resin:import path="servers.xml"/>
    <host id="">
      <web-app id="/"><resin:import path="${__DIR__}/conf.d/rules.xml"/></web-app>
    </host>
  </cluster>`),
		"servers.xml":       `<cluster xmlns="http://caucho.com/ns/resin"><server id="a" port="6800"/><server id="b" port="6801"/></cluster>`,
		"conf.d/rules.xml":  `<web-app xmlns:resin="urn:java:com.caucho.resin"><resin:import path="more.xml"/><resin:Forbidden regexp="^/x"/></web-app>`,
		"conf.d/more.xml":   `<resin xmlns:resin="urn:java:com.caucho.resin"><resin:NotFound regexp="^/y"/></resin>`,
		"conf.d/unused.xml": `<resin/>`,
	})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Clusters[0].Servers; len(s) != 2 || s[1].ID != "b" || filepath.Base(s[1].Pos.File) != "servers.xml" {
		t.Errorf("servers %+v", s)
	}
	r := cfg.Clusters[0].Hosts[0].WebApps[0].Rules
	if len(r) != 2 || r[0].Kind != NotFound || r[1].Kind != Forbidden || r[0].Pos.Line != 1 {
		t.Errorf("rules %+v", r)
	}
	var names []string
	for _, f := range cfg.Files {
		names = append(names, strings.TrimPrefix(f, filepath.Dir(path)+"/"))
	}
	if !slices.Equal(names, []string{"resin.xml", "servers.xml", "conf.d/rules.xml", "conf.d/more.xml"}) {
		t.Errorf("Files %v", names)
	}
}

func TestOptionalImportMayBeMissing(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<resin:import path="admin-users.xml" optional="true"/><cluster id="c"/>`))
	if len(cfg.Clusters) != 1 || len(cfg.Files) != 1 {
		t.Errorf("clusters %d files %v", len(cfg.Clusters), cfg.Files)
	}
}

func TestMissingImportIsAnErrorAtTheImport(t *testing.T) {
	t.Parallel()
	got := refused(t, resinXML(`<cluster id="c">
  <resin:import path="missing.xml"/>
</cluster>`))
	if len(got) != 1 || !strings.HasPrefix(got[0], "resin.xml:3: <resin:import>: cannot import /") ||
		!strings.HasSuffix(got[0], "/missing.xml: no such file or directory") {
		t.Errorf("errors %q", got)
	}
}

func TestImportCycleIsAnError(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{
		"resin.xml": resinXML(`<resin:import path="a.xml"/>`),
		"a.xml":     `<resin xmlns:resin="urn:java:com.caucho.resin">` + "\n" + `<resin:import path="b.xml"/></resin>`,
		"b.xml":     `<resin xmlns:resin="urn:java:com.caucho.resin"><resin:import path="a.xml"/></resin>`,
	})
	_, err := Load(path)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Diags) != 1 {
		t.Fatalf("err %v", err)
	}
	d := ce.Diags[0]
	if filepath.Base(d.Pos.File) != "b.xml" || d.Pos.Line != 1 || !strings.Contains(d.Msg, "import cycle") ||
		!strings.HasSuffix(d.Msg, "a.xml -> "+filepath.Join(filepath.Dir(path), "b.xml")+" -> "+filepath.Join(filepath.Dir(path), "a.xml")) {
		t.Errorf("diag %v", d)
	}
}

func TestSyntaxErrorInImportNamesTheImportedFile(t *testing.T) {
	t.Parallel()
	path := writeFiles(t, "resin.xml", map[string]string{
		"resin.xml": resinXML(`<resin:import path="bad.xml"/>`),
		"bad.xml":   "<resin>\n\n<cluster>\n</resin>",
	})
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), "bad.xml:4: XML syntax error:") {
		t.Errorf("err %v", err)
	}
}

func TestFilesetAndClasspathImportsAreWarnings(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<resin:import fileset="conf.d/*.xml"/>
<resin:import path="classpath:META-INF/caucho/app-default.xml"/>`))
	if !hasWarning(cfg, "resin.xml:2: <resin:import>: fileset imports are not supported") ||
		!hasWarning(cfg, "resin.xml:3: <resin:import>: classpath imports are not supported") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestVariablesInConfiguration(t *testing.T) {
	t.Setenv("RESIND_TEST_PORT", "7001")
	path := writeFiles(t, "conf/resin.xml", map[string]string{
		"conf/resin.xml": resinXML(`<resin:properties path="${__DIR__}/resin.properties"/>
  <resin:properties path="missing.properties" optional="true"/>
  <resin:set var="tier" value="app"/>
  <cluster id="${tier}">
    <server id="a" port="${env.RESIND_TEST_PORT}"/>
    <server id="b" port="${env['RESIND_TEST_PORT'] + 1}"/>
    <server id="c" port="${missing_port?:6900}" address="${app_address}"/>
    <host id="${host_name ?: 'fallback'}" root-directory="${resin.root}/www"/>
    <host id="${undefined_var}"/>
  </cluster>`),
		"conf/resin.properties": "app_address : 10.1.1.1\n",
	})
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cl := cfg.Cluster("app")
	if cl == nil {
		t.Fatalf("no cluster app: %+v", cfg.Clusters)
	}
	if s := cl.Servers; s[0].Port != 7001 || s[1].Port != 7002 || s[2].Port != 6900 || s[2].Address != "10.1.1.1" {
		t.Errorf("servers %+v %+v %+v", s[0], s[1], s[2])
	}
	if h := cl.Hosts[0]; h.ID != "fallback" || h.RootDirectory != filepath.Join(filepath.Dir(path), "www") {
		t.Errorf("host %+v", h)
	}
	if cl.Hosts[1].ID != "" || !hasWarning(cfg, "${undefined_var} is not defined; it is empty") {
		t.Errorf("undefined variable: host %q, warnings %v", cl.Hosts[1].ID, cfg.Warnings)
	}
}

func TestIfAndChooseSelectElements(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<resin:set var="mode" value="prod"/>
  <resin:if test="${mode == 'prod'}"><cluster id="prod"/></resin:if>
  <resin:if test="${mode eq 'dev'}"><cluster id="dev"/></resin:if>
  <resin:if test="${undefined_flag}"><cluster id="never"/></resin:if>
  <resin:choose>
    <resin:when test="${mode == 'dev'}"><cluster id="when-dev"/></resin:when>
    <resin:when test="${mode != null &amp;&amp; !(mode == 'dev')}"><cluster id="when-prod"/></resin:when>
    <resin:otherwise><cluster id="otherwise"/></resin:otherwise>
  </resin:choose>
  <resin:choose>
    <resin:when test="${class_exists('x')}"><cluster id="function"/></resin:when>
    <resin:otherwise><cluster id="otherwise"/></resin:otherwise>
  </resin:choose>`))
	var ids []string
	for _, cl := range cfg.Clusters {
		ids = append(ids, cl.ID)
	}
	if !slices.Equal(ids, []string{"prod", "when-prod", "otherwise"}) {
		t.Errorf("clusters %v", ids)
	}
	if !hasWarning(cfg, "function class_exists() is not supported") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestMalformedExpressionIsAnError(t *testing.T) {
	t.Parallel()
	got := refused(t, resinXML(`<cluster id="c">
  <server id="a" port="${port ==}"/>
</cluster>`))
	if len(got) != 1 || !strings.HasPrefix(got[0], `resin.xml:3: <server id="a">: expression "${port ==}": `) {
		t.Errorf("errors %q", got)
	}
}

func TestImportOfDirectoryOrDeviceIsRefused(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/dev/zero", "."} {
		got := refused(t, resinXML(`<resin:import path="`+path+`"/>`))
		if len(got) != 1 || !strings.HasSuffix(got[0], "is not a regular file") {
			t.Errorf("import %s: %q", path, got)
		}
	}
	got := refused(t, resinXML(`<resin:properties path="/dev/zero"/>`))
	if len(got) != 1 || !strings.HasSuffix(got[0], "/dev/zero is not a regular file") {
		t.Errorf("properties: %q", got)
	}
}
