package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterCacheIsReadFromTheWebApp(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "resin.xml")
	os.WriteFile(file, []byte(`<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin" xmlns:ee="urn:java:ee">
  <cluster id="app">
    <server id="a" port="6800"/>
    <host id="">
      <web-app id="/">
        <resin:ClusterCache ee:Named="prices">
          <name>prices</name>
          <modified-expire-timeout>1h</modified-expire-timeout>
          <accessed-expire-timeout>-1</accessed-expire-timeout>
        </resin:ClusterCache>
        <resin:ClusterCache><accessed-expire-timeout>10m</accessed-expire-timeout></resin:ClusterCache>
      </web-app>
    </host>
  </cluster>
</resin>`), 0o600)
	_, err := Load(file)
	if err == nil || !strings.Contains(err.Error(), "resin.xml:11:") || !strings.Contains(err.Error(), "needs a name") {
		t.Fatalf("a nameless cache: %v", err)
	}
	b, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.Replace(string(b), "<resin:ClusterCache><accessed", `<resin:ClusterCache name="sessions"><accessed`, 1)), 0o600)
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Clusters[0].Hosts[0].WebApps[0].Caches
	if len(got) != 2 || got[0].Name != "prices" || got[0].ModifiedExpireTimeout != time.Hour || got[0].AccessedExpireTimeout != 0 ||
		got[1].Name != "sessions" || got[1].AccessedExpireTimeout != 10*time.Minute {
		t.Fatalf("caches %+v %+v", got[0], got[len(got)-1])
	}
}
