package conf

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSupervisedCommandsAndCGIMappingsLoad(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="app">
    <host id="">
      <web-app id="/shop" root-directory="shop">
        <resin:FastCgiProxy regexp="\.php$" command="bin/php-cgi -c php.ini" min-processes="1" max-processes="8" idle-timeout="2m" timeout="30s">
          <env name="PHP_FCGI_MAX_REQUESTS" value="500"/>
        </resin:FastCgiProxy>
        <resin:FastCgiProxy regexp="^/fpm/" address="127.0.0.1:9000 unix:/run/php/fpm.sock" timeout="5s"/>
        <resin:HttpProxy regexp="^/api/" command="/usr/bin/node server.js" work-dir="api" health-path="healthz" socket="unix" start-timeout="10s"/>
        <servlet-mapping url-pattern="*.cgi" servlet-class="com.caucho.servlets.CGIServlet"/>
        <servlet servlet-name="cgi" servlet-class="com.caucho.servlets.CGIServlet">
          <init timeout="5s" max-output="1M"/>
        </servlet>
        <servlet-mapping url-pattern="/cgi-bin/*" servlet-name="cgi"/>
      </web-app>
    </host>
  </cluster>`))
	dir := filepath.Dir(cfg.File)
	r := cfg.Cluster("app").Hosts[0].WebApps[0].Rules
	if kinds := []RuleKind{r[0].Kind, r[1].Kind, r[2].Kind, r[3].Kind, r[4].Kind}; !slices.Equal(kinds, []RuleKind{FastCgiProxy, FastCgiProxy, HttpProxy, CGI, CGI}) || len(r) != 5 {
		t.Fatalf("rules %v", kinds)
	}
	fc := r[0].App
	if !slices.Equal(fc.Command, []string{filepath.Join(dir, "bin/php-cgi"), "-c", "php.ini"}) ||
		fc.MinProcesses != 1 || fc.MaxProcesses != 8 || fc.IdleTimeout != 2*time.Minute || fc.Timeout != 30*time.Second ||
		!slices.Equal(fc.Env, []string{"PHP_FCGI_MAX_REQUESTS=500"}) || len(r[0].Backends) != 0 {
		t.Errorf("FastCgiProxy command %+v", fc)
	}
	if a := r[1].App; len(r[1].Backends) != 2 || r[1].Backends[1].Address != "unix:/run/php/fpm.sock" || a == nil || len(a.Command) != 0 || a.Timeout != 5*time.Second {
		t.Errorf("FastCgiProxy address %+v %+v", r[1].Backends, a)
	}
	if a := r[2].App; a.Dir != filepath.Join(dir, "api") || a.HealthPath != "/healthz" || !a.Unix || a.StartTimeout != 10*time.Second || a.Command[0] != "/usr/bin/node" {
		t.Errorf("HttpProxy command %+v", a)
	}
	if a := r[3].App; !r[3].Match.MatchString("/x/run.cgi") || r[3].Match.MatchString("/run.cgi/x") || a.Prefix != "" || a.Timeout != 60*time.Second || a.MaxOutput != 64<<20 {
		t.Errorf("*.cgi %q %+v", r[3].Regexp, a)
	}
	if a := r[4].App; !r[4].Match.MatchString("/cgi-bin/x/y") || a.Prefix != "/cgi-bin" || a.Timeout != 5*time.Second || a.MaxOutput != 1<<20 {
		t.Errorf("/cgi-bin/* %q %+v", r[4].Regexp, a)
	}
	if hasWarning(cfg, "servlet") || hasWarning(cfg, "not supported") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestFastCgiProxyCommandDefaultsToFourProcesses(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="app"><host id=""><web-app id="/">
        <resin:FastCgiProxy regexp="\.php$" command="php-cgi"/>
      </web-app></host></cluster>`))
	a := cfg.Cluster("app").Hosts[0].WebApps[0].Rules[0].App
	if a.MinProcesses != 0 || a.MaxProcesses != 4 || a.IdleTimeout != 300*time.Second || a.Command[0] != "php-cgi" {
		t.Errorf("%+v", a)
	}
}

func TestAppSettingsThatCannotWorkAreRefusedOrWarned(t *testing.T) {
	t.Parallel()
	errs := refused(t, resinXML(`<cluster id="app"><host id=""><web-app id="/">
        <resin:FastCgiProxy regexp="a" command="x" address="127.0.0.1:9000"/>
        <resin:FastCgiProxy regexp="b" command="x" min-processes="5" max-processes="2"/>
        <resin:FastCgiProxy regexp="c" command="x" max-processes="many"/>
        <resin:HttpProxy regexp="d" command="x" socket="pipe"/>
        <servlet-mapping servlet-name="nope" url-pattern="*.x"/>
        <servlet-mapping servlet-class="com.caucho.servlets.CGIServlet"/>
        <servlet-mapping servlet-class="com.caucho.servlets.CGIServlet" url-pattern="x*y"/>
      </web-app></host></cluster>`))
	want := []string{"either a command", "min-processes 5 is above max-processes 2", "max-processes", `socket "pipe"`,
		`no <servlet servlet-name="nope">`, "url-pattern is required", `url-pattern "x*y"`}
	all := strings.Join(errs, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no error about %q in:\n%s", w, all)
		}
	}
	for _, e := range errs {
		if !strings.HasPrefix(e, "resin.xml:") {
			t.Errorf("%q does not name file:line", e)
		}
	}
	cfg := mustLoad(t, resinXML(`<cluster id="app"><host id=""><web-app id="/">
        <resin:FastCgiProxy regexp="a" address="127.0.0.1:9000" max-processes="3"/>
        <resin:HttpProxy regexp="b" command="x" max-processes="3"/>
        <servlet-mapping url-pattern="*.jsp" servlet-class="com.caucho.jsp.JspServlet"/>
      </web-app></host></cluster>`))
	for _, w := range []string{"process settings without a command", "an HTTP application runs as one process", `"com.caucho.jsp.JspServlet" is not supported`} {
		if !hasWarning(cfg, w) {
			t.Errorf("no warning %q in %v", w, cfg.Warnings)
		}
	}
}
