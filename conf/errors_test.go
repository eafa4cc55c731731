package conf

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Every refusal names file:line, the element and the reason.
func TestRefusalsNameFileLineAndElement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string // inside <resin>, which is on line 1; body starts on line 2
		want []string
	}{
		{"port not a number", `<cluster id="app"><server id="app-a" port="68o0"/></cluster>`,
			[]string{`resin.xml:2: <server id="app-a">: port "68o0" is not a number`}},
		{"port as child", "<cluster id=\"app\"><server id=\"app-a\">\n<port>70000</port></server></cluster>",
			[]string{`resin.xml:3: <server id="app-a">: port 70000 is out of range (1-65535)`}},
		{"http port", `<cluster id="c"><server id="a"><http port="x"/></server></cluster>`,
			[]string{`resin.xml:2: <http>: port "x" is not a number`}},
		{"server-multi port", `<cluster id="c"><server-multi id-prefix="a" address-list="h:99999"/></cluster>`,
			[]string{`resin.xml:2: <server-multi>: address "h:99999": port 99999 is out of range (1-65535)`}},
		{"duplicate server across clusters", "<cluster id=\"a\"><server id=\"s\" port=\"1\"/></cluster>\n<cluster id=\"b\"><server id=\"s\" port=\"2\"/></cluster>",
			[]string{`resin.xml:3: <server id="s">: duplicate server id (first at RESIN:2)`}},
		{"duplicate server-multi ids", "<cluster id=\"a\"><server id=\"w0\"/>\n<server-multi id-prefix=\"w\" address-list=\"h1\"/></cluster>",
			[]string{`resin.xml:3: <server id="w0">: duplicate server id (first at RESIN:2)`}},
		{"duplicate cluster", "<cluster id=\"a\"/>\n<cluster id=\"a\"/>",
			[]string{`resin.xml:3: <cluster id="a">: duplicate cluster id (first at RESIN:2)`}},
		{"duplicate host", "<cluster id=\"a\"><host id=\"h\"/>\n<host id=\"h\"/></cluster>",
			[]string{`resin.xml:3: <host id="h">: duplicate host id in cluster "a" (first at RESIN:2)`}},
		{"duplicate web-app", "<cluster id=\"a\"><host id=\"\"><web-app id=\"/\"/>\n<web-app id=\"\"/></host></cluster>",
			[]string{`resin.xml:3: <web-app id="/">: duplicate web-app id in host "" (first at RESIN:2)`}},
		{"duration", `<cluster id="c"><server id="a" load-balance-recover-time="15 parsecs"/></cluster>`,
			[]string{`resin.xml:2: <server id="a">: load-balance-recover-time: "15 parsecs" has an unknown unit "parsecs" (use ms, s, m, h, D, W)`}},
		{"duration in server-default without servers", "<cluster id=\"c\"><server-default>\n<socket-timeout>soon</socket-timeout></server-default></cluster>",
			[]string{`resin.xml:3: <server-default>: socket-timeout: "soon" is not a duration (e.g. 5s, 100ms, 15m, 2h, 1D)`}},
		{"size", `<cluster id="c"><proxy-cache memory-size="lots"/></cluster>`,
			[]string{`resin.xml:2: <proxy-cache>: memory-size: "lots" is not a size (e.g. 1024, 512k, 64M, 1G)`}},
		{"weight", `<cluster id="c"><server id="a" load-balance-weight="heavy"/></cluster>`,
			[]string{`resin.xml:2: <server id="a">: load-balance-weight "heavy" is not a non-negative whole number`}},
		{"boolean", `<cluster id="c"><server id="a" backup="perhaps"/></cluster>`,
			[]string{`resin.xml:2: <server id="a">: backup: "perhaps" is not a boolean (true or false)`}},
		{"session timeout", `<cluster id="c"><host id=""><web-app id="/"><session-config session-timeout="long"/></web-app></host></cluster>`,
			[]string{`resin.xml:2: <session-config>: session-timeout "long" is not a duration (e.g. 5s, 100ms, 15m, 2h, 1D)`}},
		{"regexp Go cannot compile", `<cluster id="c"><host id=""><resin:Forbidden regexp="^/(?!public)"/></host></cluster>`,
			[]string{`resin.xml:2: <resin:Forbidden>: regexp "^/(?!public)" is not valid: invalid or unsupported Perl syntax: ` + "`(?!`"}},
		{"LoadBalance to a missing cluster", `<cluster id="web"><host id=""><resin:LoadBalance regexp="^/app" cluster="ap"/></host></cluster>`,
			[]string{`resin.xml:2: <resin:LoadBalance>: cluster "ap" is not defined`}},
		{"LoadBalance without cluster", `<cluster id="web"><host id=""><resin:LoadBalance regexp="^/app"/></host></cluster>`,
			[]string{`resin.xml:2: <resin:LoadBalance>: the cluster is required`}},
		{"LoadBalance strategy", `<cluster id="web"><host id=""><resin:LoadBalance cluster="web" strategy="random"/></host></cluster>`,
			[]string{`resin.xml:2: <resin:LoadBalance>: strategy "random" is not adaptive or round-robin`}},
		{"Redirect without target", `<cluster id="c"><host id=""><resin:Redirect regexp="^/a"/></host></cluster>`,
			[]string{`resin.xml:2: <resin:Redirect>: the target is required`}},
		{"bad CIDR", `<cluster id="c"><host id=""><resin:Forbidden><resin:IfNetwork value="10.0.0.0/33 ok"/></resin:Forbidden></host></cluster>`,
			[]string{`resin.xml:2: <resin:IfNetwork>: "10.0.0.0/33" is not an IP address or CIDR`, `resin.xml:2: <resin:IfNetwork>: "ok" is not an IP address or CIDR`,
				`resin.xml:2: <resin:IfNetwork>: no network given`}},
		{"proxy address", `<cluster id="c"><host id=""><resin:HttpProxy addresses="backend"/></host></cluster>`,
			[]string{`resin.xml:2: <resin:HttpProxy>: address "backend" is not host:port`}},
		{"if without test", `<resin:if><cluster id="c"/></resin:if>`,
			[]string{`resin.xml:2: <resin:if>: the test attribute is required`}},
		{"several problems are all reported", "<cluster id=\"c\">\n<server id=\"a\" port=\"x\"/>\n<server id=\"b\" port=\"y\"/>\n</cluster>",
			[]string{`resin.xml:3: <server id="a">: port "x" is not a number`, `resin.xml:4: <server id="b">: port "y" is not a number`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFiles(t, "resin.xml", map[string]string{"resin.xml": resinXML(tc.body)})
			_, err := Load(path)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error %v, want a *conf.Error", err)
			}
			got := strings.Split(strings.ReplaceAll(ce.Error(), path, "resin.xml"), "\n")
			want := slices.Clone(tc.want)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "RESIN", "resin.xml")
			}
			if !slices.Equal(got, want) {
				t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestXMLSyntaxErrorNamesTheLine(t *testing.T) {
	t.Parallel()
	got := refused(t, "<resin>\n  <cluster id=\"a\">\n    <server id=\"x\" port=\"1\">\n  </cluster>\n</resin>\n")
	if len(got) != 1 || !strings.HasPrefix(got[0], "resin.xml:4: XML syntax error: ") {
		t.Errorf("errors %q", got)
	}
	got = refused(t, "")
	if len(got) != 1 || !strings.HasPrefix(got[0], "resin.xml:1: XML syntax error: ") {
		t.Errorf("empty file: %q", got)
	}
}

func TestRootMustBeResin(t *testing.T) {
	t.Parallel()
	got := refused(t, "<?xml version=\"1.0\"?>\n<cluster id=\"a\"/>")
	if len(got) != 1 || got[0] != "resin.xml:2: the root element is <cluster>; a Resin configuration starts with <resin>" {
		t.Errorf("errors %q", got)
	}
}

func TestMissingMainFileIsAnError(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/does-not-exist.xml")
	var ce *Error
	if !errors.As(err, &ce) || ce.Error() != "testdata/does-not-exist.xml:0: cannot read testdata/does-not-exist.xml: no such file or directory" {
		t.Errorf("err %v", err)
	}
}

func TestRelativePathGivesRelativePositions(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/errors/bad-port.xml")
	if err == nil || err.Error() != `testdata/errors/bad-port.xml:4: <server id="app-a">: port "68o0" is not a number` {
		t.Errorf("err %v", err)
	}
}
