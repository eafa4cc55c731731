package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tiers is a web tier (web-a) balancing /app/ over an app tier of two
// servers that issue session ids.
const tiers = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server-default>
      <load-balance-connect-timeout>1s</load-balance-connect-timeout>
      <load-balance-recover-time>2s</load-balance-recover-time>
    </server-default>
    <server id="app-a" address="127.0.0.1" port="{{.AppA}}"/>
    <server id="app-b" address="127.0.0.1" port="{{.AppB}}"/>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/app">
        <session-config/>
      </web-app>
    </host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.WebCluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app" strategy="{{.Strategy}}"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

type tierPorts struct {
	AppA, AppB, WebCluster, HTTP int
	Strategy                     string
}

func newTiers(t *testing.T, strategy string) (*site, tierPorts) {
	s := newSite(t)
	p := tierPorts{AppA: freePort(t), AppB: freePort(t), WebCluster: freePort(t), HTTP: freePort(t), Strategy: strategy}
	s.write("resin.xml", tiers, p)
	s.writeRaw("app/app/page.html", "app page")
	s.writeRaw("web/index.html", "web page")
	for _, id := range []string{"app-a", "app-b", "web-a"} {
		s.start(id)
	}
	return s, p
}

// served counts the requests for path in server id's access log.
func (s *site) served(id, path string) int {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log", id+"-access.log"))
	return strings.Count(string(b), " "+path+" ")
}

func TestRoundRobinSpreadsOverTheAppTier(t *testing.T) {
	t.Parallel()
	s, p := newTiers(t, "round-robin")
	url := fmt.Sprintf("http://127.0.0.1:%d/app/page.html?spread", p.HTTP)
	for i := 0; i < 20; i++ {
		if resp, body := get(t, url); resp.StatusCode != 200 || body != "app page" {
			t.Fatalf("GET = %d %q", resp.StatusCode, body)
		}
	}
	eventually(t, 5*time.Second, "both access logs to hold 10 requests", func() bool {
		return s.served("app-a", "/app/page.html?spread") == 10 && s.served("app-b", "/app/page.html?spread") == 10
	})
	// The access log is written out a second after its first buffered line.
	eventually(t, 5*time.Second, "web-a's access log to hold the 20 requests", func() bool {
		return s.served("web-a", "/app/page.html?spread") == 20
	})
}

func TestStickySessionStaysOnItsOwner(t *testing.T) {
	t.Parallel()
	s, p := newTiers(t, "adaptive")
	url := fmt.Sprintf("http://127.0.0.1:%d/app/page.html", p.HTTP)
	resp, _ := get(t, url)
	var id string
	for _, c := range resp.Cookies() {
		if c.Name == "JSESSIONID" {
			id = c.Value
		}
	}
	if len(id) < 24 {
		t.Fatalf("no session id issued by the app tier: %v", resp.Header)
	}
	owner := map[string]string{"aaa": "app-a", "baa": "app-b"}[id[:3]]
	if owner == "" {
		t.Fatalf("session id %q does not name app-a (aaa) or app-b (baa)", id)
	}
	other := map[string]string{"app-a": "app-b", "app-b": "app-a"}[owner]

	for i := 0; i < 10; i++ {
		if resp, _ := get(t, url+"?sticky", "Cookie", "JSESSIONID="+id); resp.StatusCode != 200 {
			t.Fatalf("GET with session = %d", resp.StatusCode)
		}
	}
	// The path parameter names the session too.
	for i := 0; i < 5; i++ {
		if resp, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html;jsessionid=%s?param", p.HTTP, id)); resp.StatusCode != 200 {
			t.Fatalf("GET with ;jsessionid= = %d", resp.StatusCode)
		}
	}
	eventually(t, 5*time.Second, "the owner to log every request of the session", func() bool {
		return s.served(owner, "/app/page.html?sticky") == 10
	})
	if n := s.served(other, "/app/page.html?sticky"); n != 0 {
		t.Errorf("%s served %d requests of a session owned by %s", other, n, owner)
	}
	if n := s.served(other, "/app/page.html;jsessionid="+id+"?param"); n != 0 {
		t.Errorf("%s served %d ;jsessionid= requests of a session owned by %s", other, n, owner)
	}

	// The owner stops: its sessions fail over to the other server.
	s.stop(owner)
	if resp, body := get(t, url+"?failover", "Cookie", "JSESSIONID="+id); resp.StatusCode != 200 || body != "app page" {
		t.Fatalf("GET with the owner down = %d %q", resp.StatusCode, body)
	}
}

func TestAppServerStoppedUnderLoadLosesNoGET(t *testing.T) {
	t.Parallel()
	s, p := newTiers(t, "adaptive")
	url := fmt.Sprintf("http://127.0.0.1:%d/app/page.html?load", p.HTTP)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err == nil {
					b := make([]byte, 64)
					n, _ := resp.Body.Read(b)
					resp.Body.Close()
					if resp.StatusCode == 200 && string(b[:n]) == "app page" {
						ok.Add(1)
						continue
					}
					err = fmt.Errorf("status %d body %q", resp.StatusCode, b[:n])
				}
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	eventually(t, 10*time.Second, "load to run", func() bool { return ok.Load() > 50 })
	s.stop("app-a")
	before := ok.Load()
	eventually(t, 10*time.Second, "load to go on with app-a stopped", func() bool { return ok.Load() > before+200 })
	// app-a comes back and gets requests again once its back-off passes.
	s.start("app-a")
	servedA := s.served("app-a", "/app/page.html?load")
	eventually(t, 15*time.Second, "the restarted app-a to receive requests", func() bool {
		return s.served("app-a", "/app/page.html?load") > servedA+10
	})
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d GETs failed while app-a stopped and restarted; first: %v", n, n+ok.Load(), firstErr.Load())
	}
}

func TestEveryAppServerDownAnswersAPrompt503(t *testing.T) {
	t.Parallel()
	s, p := newTiers(t, "adaptive")
	s.stop("app-a")
	s.stop("app-b")
	start := time.Now()
	resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html", p.HTTP))
	if resp.StatusCode != 503 {
		t.Fatalf("GET with the app tier down = %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(strings.ToLower(body), "<html") || !strings.Contains(body, "503") {
		t.Errorf("503 without a short HTML page: %q", body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("503 took %s, more than the connect timeout allows", d)
	}
	// The web tier's own files are still served.
	if resp, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/index.html", p.HTTP)); resp.StatusCode != 200 {
		t.Errorf("web tier's own file = %d", resp.StatusCode)
	}
}

func TestReloadKeepsWhatTheBalancerLearned(t *testing.T) {
	t.Parallel()
	s, p := newTiers(t, "round-robin")
	s.stop("app-b")
	for i := 0; i < 4; i++ {
		if resp, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/app/page.html?r=%d", p.HTTP, i)); resp.StatusCode != 200 {
			t.Fatalf("GET with app-b stopped = %d", resp.StatusCode)
		}
	}
	before := s.backends(p.HTTP)
	// app-b is down either from a failed connect or because cluster
	// membership saw it leave before any request was sent to it.
	if (before["app-b"].Failures == 0 && before["app-b"].State != "down") || before["app-a"].Requests < 4 {
		t.Fatalf("before the reload: %+v", before)
	}

	// An edit that keeps both servers (a comment): what was learned stays.
	s.writeRaw("resin.xml", render(t, tiers, p)+"<!-- edited -->\n")
	eventually(t, 10*time.Second, "the edit to be applied", func() bool {
		return strings.Contains(s.log("web-a"), "configuration reloaded")
	})
	after := s.backends(p.HTTP)
	if after["app-b"].Failures < before["app-b"].Failures || after["app-a"].Requests < before["app-a"].Requests {
		t.Errorf("the reload reset the balancer: before %+v, after %+v", before, after)
	}
	if after["app-b"].State == "up" {
		t.Errorf("app-b is %q after the reload; it is stopped and was marked down", after["app-b"].State)
	}
}

type backendView struct {
	ID       string `json:"id"`
	State    string `json:"state"`
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
}

// backends reads web-a's load-balanced servers from /resin-admin/api/status
// (no admin users: loopback clients are let in).
func (s *site) backends(httpPort int) map[string]backendView {
	s.t.Helper()
	_, body := get(s.t, fmt.Sprintf("http://127.0.0.1:%d/resin-admin/api/status", httpPort))
	var st struct{ Backends []backendView }
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		s.t.Fatalf("status %q: %v", body, err)
	}
	out := map[string]backendView{}
	for _, b := range st.Backends {
		out[b.ID] = b
	}
	return out
}
