package conf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes the input as resin.xml and loads it: Load must never
// panic, and must return either a Config or a *Error with positions.
func FuzzLoad(f *testing.F) {
	// The small samples only: the fuzzer stalls mutating the 74 KB
	// app-default.xml.
	for _, s := range []string{"testdata/samples/sample_minimal.xml", "testdata/samples/resin.xml", "testdata/errors/bad-port.xml"} {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		resinXML(`<cluster id="a"><server id="s" port="6800"><http port="8080"/></server>
  <host id=""><web-app id="/"><resin:LoadBalance regexp="^/" cluster="a"><resin:IfNetwork value="10.0.0.0/8"/></resin:LoadBalance></web-app></host></cluster>`),
		resinXML(`<resin:if test="${a ?: (b ? 'x' : !c) == 'y' or d ne 1}"><cluster id="${env['HOME']}"/></resin:if>`),
		resinXML(`<resin:import path="resin.xml"/>`),
		resinXML(`<resin:choose><resin:when test="${x}"/><resin:otherwise><cluster/></resin:otherwise></resin:choose>`),
		resinXML(`<cluster><server-multi id-prefix="a" address-list="h:1 [::1]:2 h:"/><proxy-cache memory-size="1e9g"/></cluster>`),
		"<resin><cluster id=\"a\">\n<server port=\"${\"/></cluster></resin>",
		"",
		"<",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "resin.xml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Diags) == 0 {
				t.Fatalf("Load error %T %v is not a *conf.Error with diagnostics", err, err)
			}
			if cfg != nil {
				t.Fatal("Load returned both a Config and an error")
			}
			return
		}
		if cfg == nil || cfg.File != path {
			t.Fatalf("Load returned config %+v", cfg)
		}
		for _, cl := range cfg.Clusters {
			for _, h := range cl.Hosts {
				for _, a := range h.WebApps {
					for _, r := range a.Rules {
						if r.Match == nil {
							t.Fatalf("rule without Match at %v", r.Pos)
						}
					}
				}
			}
		}
	})
}
