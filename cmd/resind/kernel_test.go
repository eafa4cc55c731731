package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The module itself runs in qemu (kernel/qemutest); here its files are
// plain files in a directory named by RESIND_HARDCORE_DIR, which is what
// resind sees of it.
func fakeHardCore(t *testing.T, port int) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"server_port": strconv.Itoa(port) + "\n", "srun-count": "0\n"}
	for i := range 16 {
		files["srun-"+strconv.Itoa(i)] = ""
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sruns(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "srun-count"))
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	var out []string
	for i := range n {
		line, _ := os.ReadFile(filepath.Join(dir, "srun-"+strconv.Itoa(i)))
		out = append(out, strings.TrimSpace(string(line)))
	}
	return strings.Join(out, ", ")
}

const hardcoreTiers = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="app-a" address="127.0.0.1" port="{{.AppA}}"/>
    <server id="app-b" address="127.0.0.1" port="{{.AppB}}"/>
    <host id=""><web-app id="/" root-directory="${__DIR__}/app"/></host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.WebCluster}}">
      <http address="127.0.0.1" port="{{.Fast}}"/>
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

// Not parallel: it sets RESIND_HARDCORE_DIR for the servers it starts.
func TestHardCorePortIsLeftToTheModuleAndSrunsFollowHealth(t *testing.T) {
	s := newSite(t)
	p := struct{ AppA, AppB, WebCluster, Fast, HTTP int }{freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)}
	s.write("resin.xml", hardcoreTiers, p)
	s.writeRaw("app/app/page.html", "app page")
	s.writeRaw("web/index.html", "web page")
	dir := fakeHardCore(t, p.Fast)
	t.Setenv(hardcoreDirEnv, dir)

	s.start("app-a")
	s.start("web-a")
	want := fmt.Sprintf("127.0.0.1 %d 0 app-a", p.AppA)
	eventually(t, 10*time.Second, "srun-0 to be app-a", func() bool { return sruns(dir) == want })
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.Fast)); err == nil {
		c.Close()
		t.Fatalf("web-a listens on the module's port %d", p.Fast)
	}
	if resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", p.HTTP)); resp.StatusCode != 200 || body != "app page" {
		t.Fatalf("web-a's own port: %d %q", resp.StatusCode, body)
	}

	s.start("app-b")
	both := want + fmt.Sprintf(", 127.0.0.1 %d 1 app-b", p.AppB)
	eventually(t, 10*time.Second, "app-b to be listed", func() bool { return sruns(dir) == both })

	var st struct {
		HardCore *struct {
			Port  int      `json:"port"`
			Sruns []string `json:"sruns"`
		} `json:"hardcore"`
	}
	_, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/resin-admin/api/status", p.HTTP))
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.HardCore == nil || st.HardCore.Port != p.Fast || len(st.HardCore.Sruns) != 2 {
		t.Fatalf("/resin-admin/api/status hardcore: %+v, %v\n%s", st.HardCore, err, body)
	}

	s.stop("app-a")
	only := fmt.Sprintf("127.0.0.1 %d 1 app-b", p.AppB)
	eventually(t, 10*time.Second, "app-a to be dropped", func() bool { return sruns(dir) == only })
	s.stop("app-b")
	eventually(t, 10*time.Second, "no srun left", func() bool { return sruns(dir) == "" })
}
