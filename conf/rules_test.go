package conf

import (
	"slices"
	"testing"
)

func TestRewriteRulesInDocumentOrder(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="app"/>
  <cluster id="web">
    <host id="">
      <resin:MovedPermanently regexp="^/old/(.*)" target="/new/$1"/>
      <web-app id="/">
        <resin:Dispatch regexp="\.(png|css)$"/>
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
        <resin:LoadBalance regexp="^/rr/" cluster="app" strategy="round-robin" sticky-sessions="false" session-cookie="SID"/>
        <resin:Forward regexp="^/alias/(.*)" target="/docs/$1"/>
        <resin:Redirect regexp="^/go/(\w+)" target="/docs/$1.html"/>
        <resin:Forbidden regexp="^/private/"/>
        <resin:NotFound regexp="^/gone"/>
        <resin:SetHeader regexp="" name="X-Served-By" value="resind"/>
        <resin:HttpProxy regexp="^/php" addresses="127.0.0.1:9000 127.0.0.1:9001">
          <backend address="127.0.0.1:9002" weight="5" backup="true"/>
        </resin:HttpProxy>
        <resin:HttpProxy regexp="^/px"><addresses>h1:80, h2:81</addresses></resin:HttpProxy>
        <resin:FastCgiProxy regexp="^/fcgi" address="127.0.0.1:9100"/>
        <resin:Dispatch/>
      </web-app>
    </host>
  </cluster>`))
	h := cfg.Cluster("web").Hosts[0]
	if len(h.Rules) != 1 || h.Rules[0].Kind != MovedPermanently || h.Rules[0].Target != "/new/$1" || !h.Rules[0].Match.MatchString("/old/x") {
		t.Errorf("host rules %+v", h.Rules)
	}
	r := h.WebApps[0].Rules
	kinds := make([]RuleKind, len(r))
	for i, x := range r {
		kinds[i] = x.Kind
		if x.Match == nil {
			t.Errorf("rule %d has no Match", i)
		}
	}
	if want := []RuleKind{Dispatch, LoadBalance, LoadBalance, Forward, Redirect, Forbidden, NotFound, SetHeader, HttpProxy, HttpProxy, FastCgiProxy, Dispatch}; !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if lb := r[1]; lb.Cluster != "app" || lb.Strategy != "adaptive" || !lb.StickySessions || lb.SessionCookie != "JSESSIONID" {
		t.Errorf("LoadBalance defaults %+v", lb)
	}
	if lb := r[2]; lb.Strategy != "round-robin" || lb.StickySessions || lb.SessionCookie != "SID" {
		t.Errorf("LoadBalance %+v", lb)
	}
	if r[3].Target != "/docs/$1" || r[4].Target != "/docs/$1.html" {
		t.Errorf("targets %q %q", r[3].Target, r[4].Target)
	}
	if r[7].HeaderName != "X-Served-By" || r[7].HeaderValue != "resind" || !r[7].Match.MatchString("/anything") {
		t.Errorf("SetHeader %+v", r[7])
	}
	if b := r[8].Backends; !slices.Equal(b, []Backend{{"127.0.0.1:9000", 100, false}, {"127.0.0.1:9001", 100, false}, {"127.0.0.1:9002", 5, true}}) {
		t.Errorf("HttpProxy backends %+v", b)
	}
	if b := r[9].Backends; len(b) != 2 || b[1].Address != "h2:81" {
		t.Errorf("HttpProxy <addresses> %+v", b)
	}
	if b := r[10].Backends; len(b) != 1 || b[0].Address != "127.0.0.1:9100" {
		t.Errorf("FastCgiProxy %+v", b)
	}
	if r[11].Regexp != "" || !r[11].Match.MatchString("/x") {
		t.Errorf("empty regexp %+v", r[11])
	}
	// Matching is unanchored, as in Resin.
	if !r[0].Match.MatchString("/img/a.png") || r[0].Match.MatchString("/a.png/x") {
		t.Errorf("Dispatch regexp")
	}
}

func TestConditions(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c"><host id="">
    <resin:Forbidden regexp="^/admin">
      <resin:IfHeader name="X-Debug"/>
      <resin:IfHeader name="User-Agent" regexp="bot"/>
      <resin:IfCookie name="role" value="guest"/>
      <resin:IfCookie name="sid" regexp="^a"/>
      <resin:IfMethod method="post"/>
      <resin:IfMethod>DELETE</resin:IfMethod>
      <resin:IfNetwork value="10.0.0.0/8 192.168.1.7, ::1"><value>172.16.0.0/12</value></resin:IfNetwork>
      <resin:IfNetwork>127.0.0.1</resin:IfNetwork>
      <resin:IfSecure/>
      <resin:IfSecure value="false"/>
      <resin:Not><resin:IfNetwork value="10.1.0.0/16"/></resin:Not>
      <resin:Or>
        <resin:IfMethod method="GET"/>
        <resin:And><resin:IfHeader name="A"/><resin:IfHeader name="B"/></resin:And>
      </resin:Or>
    </resin:Forbidden>
  </host></cluster>`))
	c := cfg.Clusters[0].Hosts[0].Rules[0].Conditions
	if len(c) != 12 {
		t.Fatalf("%d conditions", len(c))
	}
	if c[0].Kind != IfHeader || c[0].Name != "X-Debug" || c[0].Match != nil {
		t.Errorf("IfHeader presence %+v", c[0])
	}
	if c[1].Match == nil || !c[1].Match.MatchString("googlebot/2") {
		t.Errorf("IfHeader regexp %+v", c[1])
	}
	if c[2].Kind != IfCookie || !c[2].Match.MatchString("guest") || c[2].Match.MatchString("guests") {
		t.Errorf("IfCookie value %+v", c[2])
	}
	if !c[3].Match.MatchString("abc") {
		t.Errorf("IfCookie regexp %+v", c[3])
	}
	if c[4].Method != "POST" || c[5].Method != "DELETE" {
		t.Errorf("IfMethod %q %q", c[4].Method, c[5].Method)
	}
	if want := []string{"10.0.0.0/8", "192.168.1.7/32", "::1/128", "172.16.0.0/12"}; !slices.Equal(c[6].Networks, want) {
		t.Errorf("IfNetwork %v, want %v", c[6].Networks, want)
	}
	if !slices.Equal(c[7].Networks, []string{"127.0.0.1/32"}) {
		t.Errorf("IfNetwork text %v", c[7].Networks)
	}
	if c[8].Kind != IfSecure || !c[8].Value || c[9].Value {
		t.Errorf("IfSecure %+v %+v", c[8], c[9])
	}
	if c[10].Kind != Not || len(c[10].Children) != 1 || c[10].Children[0].Networks[0] != "10.1.0.0/16" {
		t.Errorf("Not %+v", c[10])
	}
	if or := c[11]; or.Kind != Or || len(or.Children) != 2 || or.Children[1].Kind != And || len(or.Children[1].Children) != 2 {
		t.Errorf("Or %+v", or)
	}
}

func TestUnsupportedConditionIsAWarning(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c"><host id="">
    <resin:Forbidden regexp="^/x"><resin:IfUserInRole role="admin"/></resin:Forbidden>
  </host></cluster>`))
	if !hasWarning(cfg, "resin.xml:3: <resin:IfUserInRole>: condition not supported") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestResin3RewriteDispatch(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="app-tier"/><cluster id="web"><host id=""><web-app id="/">
    <rewrite-dispatch>
      <dispatch regexp="\.gif$"/>
      <forward regexp="^/a" target="/b"/>
      <redirect regexp="^/c" target="/d"/>
      <moved-permanently regexp="^/e" target="/f"/>
      <forbidden regexp="^/g"/>
      <not-found regexp="^/h"/>
      <load-balance regexp="" cluster="app-tier"/>
    </rewrite-dispatch>
  </web-app></host></cluster>`))
	var kinds []RuleKind
	for _, r := range cfg.Cluster("web").Hosts[0].WebApps[0].Rules {
		kinds = append(kinds, r.Kind)
	}
	if want := []RuleKind{Dispatch, Forward, Redirect, MovedPermanently, Forbidden, NotFound, LoadBalance}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}
