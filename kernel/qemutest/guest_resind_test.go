//go:build qemuguest

package qemutest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"resind/kernel"
	"resind/proxy"
)

// site is resind's configuration in the guest: an app tier of two servers
// and web-a, whose <http port="80"/> is the module's port and whose port
// 8080 is served by resind itself (for the throughput comparison).
const siteXML = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="app-a" address="127.0.0.1" port="6800"/>
    <server id="app-b" address="127.0.0.1" port="6801"/>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/app">
        <session-config/>
      </web-app>
    </host>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="6810">
      <http address="*" port="80"/>
      <http address="127.0.0.1" port="8080"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

const siteDir = "/tmp/site"

func resind(t *testing.T, server, cmd string) {
	t.Helper()
	// stop waits for the server to drain and leave its cluster, for up to
	// resind's own 70 s; on an emulated CPU that can pass 30 s.
	bound := 30 * time.Second
	if cmd == "stop" {
		bound = 75 * time.Second
	}
	out, err := runCmdFor(bound, "/resind", "-conf", siteDir+"/resin.xml", "-server", server,
		"-data-directory", siteDir+"/data", "-log-directory", siteDir+"/log", cmd)
	if err != nil {
		t.Fatalf("resind -server %s %s: %v\n%s\nthe end of %s.log:\n%s", server, cmd, err, out, server, logTail(server, 40))
	}
}

// logTail is the last n lines of server id's own log.
func logTail(id string, n int) string {
	b, err := os.ReadFile(filepath.Join(siteDir, "log", id+".log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func writeSite(t *testing.T) {
	for name, body := range map[string]string{
		"resin.xml":         siteXML,
		"app/app/page.html": "app page",
		"web/index.html":    "web page",
	} {
		p := filepath.Join(siteDir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// servedBy counts the requests for path in server id's access log.
func servedBy(id, path string) int {
	b, _ := os.ReadFile(filepath.Join(siteDir, "log", id+"-access.log"))
	return strings.Count(string(b), " "+path+" ")
}

func srunsAre(t *testing.T, want ...kernel.Srun) func() bool {
	return func() bool {
		got, err := openProc(t).Sruns()
		return err == nil && kernel.Equal(got, want)
	}
}

var (
	appA = kernel.Srun{Addr: mustAddr("127.0.0.1:6800"), Index: 0, ID: "app-a"}
	appB = kernel.Srun{Addr: mustAddr("127.0.0.1:6801"), Index: 1, ID: "app-b"}
)

func TestResindKeepsTheSrunsInStep(t *testing.T) {
	setSruns(t)
	writeSite(t)
	resind(t, "app-a", "start")
	resind(t, "app-b", "start")
	resind(t, "web-a", "start") // would fail to bind port 80 if it did not leave it to the module
	eventually(t, 20*time.Second, "web-a to list app-a and app-b", srunsAre(t, appA, appB))

	c := newClient()
	for range 10 {
		if resp, body := c.get(t, "/app/page.html?rr"); resp.StatusCode != 200 || body != "app page" {
			t.Fatalf("GET via the module: %d %q", resp.StatusCode, body)
		}
	}
	// Round-robin exactly is TestGetIsBalancedRoundRobin's; here both serve.
	eventually(t, 10*time.Second, "both app servers to log the 10 requests", func() bool {
		a, b := servedBy("app-a", "/app/page.html?rr"), servedBy("app-b", "/app/page.html?rr")
		return a+b == 10 && a > 0 && b > 0
	})
	if n := servedBy("web-a", "/app/page.html?rr"); n != 0 {
		t.Fatalf("web-a saw %d requests of port 80; the module should have relayed them", n)
	}
	// Sessions of app-b stay on app-b.
	id := proxy.NewSessionID(1)
	for range 6 {
		req, _ := http.NewRequest("GET", "http://"+front+"/app/page.html?sticky", nil)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
		if resp, _ := c.do(t, req); resp.StatusCode != 200 {
			t.Fatalf("sticky GET: %d", resp.StatusCode)
		}
	}
	eventually(t, 10*time.Second, "app-b to log the session's 6 requests", func() bool {
		return servedBy("app-b", "/app/page.html?sticky") == 6
	})
	if n := servedBy("app-a", "/app/page.html?sticky"); n != 0 {
		t.Fatalf("app-a served %d requests of app-b's session", n)
	}

	// A session whose owner is not listed (index 9) goes to a hashed
	// backup, the same one resind's own balancer (port 8080) picks.
	for i := range 6 {
		sid := proxy.NewSessionID(9)
		var where [2]string
		for j, addr := range []string{front, "127.0.0.1:8080"} {
			path := fmt.Sprintf("/app/page.html?backup=%d&via=%d", i, j)
			req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
			req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: sid})
			if resp, _ := c.do(t, req); resp.StatusCode != 200 {
				t.Fatalf("GET %s%s: %d", addr, path, resp.StatusCode)
			}
			eventually(t, 10*time.Second, "an app server to log "+path, func() bool {
				switch {
				case servedBy("app-a", path) == 1:
					where[j] = "app-a"
				case servedBy("app-b", path) == 1:
					where[j] = "app-b"
				}
				return where[j] != ""
			})
		}
		if where[0] != where[1] {
			t.Fatalf("session %s: the module chose %s, resind's balancer %s", sid, where[0], where[1])
		}
	}

	// app-b stops: the module is told, and nothing fails.
	resind(t, "app-b", "stop")
	eventually(t, 10*time.Second, "web-a to drop app-b", srunsAre(t, appA))
	for range 10 {
		if resp, _ := c.get(t, "/app/page.html?failover"); resp.StatusCode != 200 {
			t.Fatalf("after app-b stopped: %d", resp.StatusCode)
		}
	}
	// None left: 503.
	resind(t, "app-a", "stop")
	eventually(t, 10*time.Second, "web-a to drop app-a", srunsAre(t))
	if resp, _ := c.get(t, "/app/page.html"); resp.StatusCode != 503 || resp.Header.Get("Date") == "" {
		t.Fatalf("no app server: %d, Date %q", resp.StatusCode, resp.Header.Get("Date"))
	}
	// Back again.
	resind(t, "app-a", "start")
	resind(t, "app-b", "start")
	eventually(t, 20*time.Second, "web-a to list both again", srunsAre(t, appA, appB))
	if resp, _ := c.get(t, "/app/page.html"); resp.StatusCode != 200 {
		t.Fatalf("after restart: %d", resp.StatusCode)
	}
}

// TestThroughput compares the module with resind's own proxy on the same
// app tier: keep-alive clients for a fixed time each. It prints BENCH
// lines the host test logs.
func TestThroughput(t *testing.T) {
	if _, err := openProc(t).Sruns(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "both app servers listed", srunsAre(t, appA, appB))
	const clients = 8
	d := 2 * time.Second
	if secs, err := strconv.Atoi(os.Getenv("resind_bench")); err == nil && secs > 0 {
		d = time.Duration(secs) * time.Second
	}
	// count runs the clients against addr for one round and counts the
	// answered requests.
	count := func(addr string, round time.Duration) int64 {
		var n, failed atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), round)
		defer cancel()
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := newClient()
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/app/page.html", nil)
					resp, err := cl.Do(req)
					if err != nil {
						if ctx.Err() == nil {
							failed.Add(1)
						}
						continue
					}
					resp.Body.Close()
					if resp.StatusCode == 200 {
						n.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Errorf("%s: %d failed requests", addr, failed.Load())
		}
		return n.Load()
	}
	targets := []string{front, "127.0.0.1:8080", "127.0.0.1:6800"} // the module, resind, app-a alone
	if startNginx(t) {
		targets = append(targets, "127.0.0.1:8081")
	}
	// Rounds of one second, taking turns, so that the machine's load
	// (this is an emulated CPU on a shared host) weighs on all alike.
	total := make([]int64, len(targets))
	rounds := max(1, int(d/time.Second))
	for range rounds {
		for i, addr := range targets {
			total[i] += count(addr, time.Second)
		}
	}
	rate := func(i int) float64 { return float64(total[i]) / float64(rounds) }
	ngx := "nginx not in the guest"
	if len(targets) > 3 {
		ngx = fmt.Sprintf("nginx (proxy_pass, upstream keepalive) %.0f req/s", rate(3))
	}
	fmt.Printf("BENCH hardcore: resin.ko %.0f req/s, resind user-space proxy %.0f req/s, %s, app-a directly %.0f req/s; qemu TCG guest, %d keep-alive clients, %d interleaved 1 s rounds each, GET /app/page.html from 2 resind app servers\n",
		rate(0), rate(1), ngx, rate(2), clients, rounds)
	var took []string
	for _, id := range []string{"web-a", "app-a", "app-b"} {
		start := time.Now()
		resind(t, id, "stop")
		took = append(took, fmt.Sprintf("%s %v", id, time.Since(start).Round(100*time.Millisecond)))
	}
	fmt.Printf("BENCH hardcore: after the rounds, resind stop took %s (qemu TCG guest)\n", strings.Join(took, ", "))
}

// TestRmmodUnderLoad unloads the module while clients hammer it, others sit
// idle or mid-header, and requests wait on a slow srun: rmmod must return
// promptly, the port and the proc files must go, and the kernel must not
// complain (the init script checks dmesg).
func TestRmmodUnderLoad(t *testing.T) {
	a, b := startBackend(t, "a", 0), startBackend(t, "b", 1)
	setSruns(t, a.srun(), b.srun())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var done atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := newClient()
			cl.Timeout = 5 * time.Second
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+front+"/load", strings.NewReader("payload"))
				if resp, err := cl.Do(req); err == nil {
					resp.Body.Close()
					done.Add(1)
				}
			}
		}()
	}
	var held []net.Conn
	for i := range 20 {
		c, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		switch i % 3 {
		case 0: // idle
		case 1:
			c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // mid-header
		case 2:
			c.Write([]byte("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")) // waiting on the srun
		}
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	eventually(t, 20*time.Second, "requests to flow", func() bool { return done.Load() > 50 })

	start := time.Now()
	if out, err := runCmd("rmmod", "resin"); err != nil {
		t.Fatalf("rmmod: %v\n%s", err, out)
	}
	took := time.Since(start)
	cancel()
	wg.Wait()
	if took > 5*time.Second {
		t.Errorf("rmmod took %v", took)
	}
	if _, err := os.Stat(procDir); !os.IsNotExist(err) {
		t.Errorf("%s after rmmod: %v", procDir, err)
	}
	ln, err := net.Listen("tcp", ":80")
	if err != nil {
		t.Fatalf("port 80 after rmmod: %v", err)
	}
	ln.Close()
	fmt.Printf("BENCH hardcore: rmmod with %d requests relayed and 20 connections open took %v\n", done.Load(), took.Round(time.Millisecond))
}

func mustAddr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

const nginxConf = `daemon on;
user root root;
worker_processes 1;
pid /tmp/nginx/nginx.pid;
error_log /tmp/nginx/error.log;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path /tmp/nginx/body;
  proxy_temp_path /tmp/nginx/proxy;
  fastcgi_temp_path /tmp/nginx/fastcgi;
  uwsgi_temp_path /tmp/nginx/uwsgi;
  scgi_temp_path /tmp/nginx/scgi;
  upstream app { server 127.0.0.1:6800; server 127.0.0.1:6801; keepalive 32; }
  server {
    listen 127.0.0.1:8081;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`

// startNginx runs nginx as a third proxy in front of the app tier when the
// host put it in the initramfs; it reports whether nginx answers.
func startNginx(t *testing.T) bool {
	if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
		return false
	}
	os.MkdirAll("/tmp/nginx", 0o755)
	if err := os.WriteFile("/tmp/nginx/nginx.conf", []byte(nginxConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd("/usr/sbin/nginx", "-e", "/tmp/nginx/error.log", "-p", "/tmp/nginx/", "-c", "/tmp/nginx/nginx.conf"); err != nil {
		log, _ := os.ReadFile("/tmp/nginx/error.log")
		t.Logf("nginx did not start: %v\n%s\n%s", err, out, log)
		return false
	}
	t.Cleanup(func() {
		runCmd("/usr/sbin/nginx", "-e", "/tmp/nginx/error.log", "-p", "/tmp/nginx/", "-c", "/tmp/nginx/nginx.conf", "-s", "stop")
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://127.0.0.1:8081/app/page.html"); err == nil {
			resp.Body.Close()
			return resp.StatusCode == 200
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
