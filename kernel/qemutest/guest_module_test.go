//go:build qemuguest

package qemutest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"resind/proxy"
)

// The module is loaded once for the whole run, with short timeouts so that
// the timeout tests are quick.
func TestMain(m *testing.M) {
	out, err := runCmd("insmod", "/resin.ko", "port=80", "header_timeout=2", "keepalive_timeout=3",
		"connect_timeout=2", "socket_timeout=5", "backend_timeout=30")
	if err != nil {
		fmt.Printf("--- FAIL: insmod: %v\n%s\n", err, out)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestProcfsWritesAreValidated(t *testing.T) {
	p := openProc(t)
	if port, err := p.ServerPort(); err != nil || port != 80 {
		t.Fatalf("server_port = %d, %v", port, err)
	}
	if sr, err := p.Sruns(); err != nil || len(sr) != 0 {
		t.Fatalf("fresh module: sruns %v, %v", sr, err)
	}
	write := func(name, s string) error {
		return os.WriteFile(filepath.Join(procDir, name), []byte(s), 0)
	}
	if err := write("srun-3", "127.0.0.1 6800 3\n"); err != nil {
		t.Fatalf("a good srun line: %v", err)
	}
	for _, bad := range []string{"", "\n", "garbage", "127.0.0.1", "127.0.0.1 0", "127.0.0.1 65536",
		"127.0.0.1 -5", "127.0.0.1 80 x", "127.0.0.1 80 262144", "127.0.0.1 80 1 a b", "127.0.0.1 80 1 " + strings.Repeat("i", 33), "0.0.0.0 80",
		"255.255.255.255 80", "224.0.0.1 80", "256.0.0.1 80", "1.2.3 80", "::1 80", "localhost 80",
		"127.0.0.1\x0080", strings.Repeat("1", 100), "127.0.0.1 80" + strings.Repeat(" ", 80)} {
		if err := write("srun-3", bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("srun-3 <- %q: %v, want EINVAL", bad, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(procDir, "srun-3")); string(b) != "127.0.0.1 6800 3\n" {
		t.Errorf("srun-3 changed by refused writes: %q", b)
	}
	// srun-0 is not set, so no count may cover it.
	for _, bad := range []string{"1", "17", "-1", "abc", "", "4"} {
		if err := write("srun-count", bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("srun-count <- %q: %v, want EINVAL", bad, err)
		}
	}
	if err := write("server_port", "81"); err == nil {
		t.Error("server_port accepted a write")
	}
	if n, _ := p.ServerPort(); n != 80 {
		t.Errorf("server_port = %d after a refused write", n)
	}
	if sr, _ := p.Sruns(); len(sr) != 0 {
		t.Errorf("sruns %v after refused writes", sr)
	}
	if err := write("srun-count", "0"); err != nil {
		t.Errorf("srun-count <- 0: %v", err)
	}
}

func TestNoSrunAnswers503WithDate(t *testing.T) {
	setSruns(t)
	resp, _ := newClient().get(t, "/x")
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
		t.Fatalf("Date %q: %v", resp.Header.Get("Date"), err)
	}
	// A listed server that refuses connections is no better.
	dead := startBackend(t, "dead", 0)
	dead.srv.Close()
	setSruns(t, dead.srun())
	if resp, _ := newClient().get(t, "/x"); resp.StatusCode != 503 || resp.Header.Get("Date") == "" {
		t.Fatalf("dead srun: %d, Date %q", resp.StatusCode, resp.Header.Get("Date"))
	}
}

func TestGetIsBalancedRoundRobin(t *testing.T) {
	a, b := startBackend(t, "a", 0), startBackend(t, "b", 1)
	setSruns(t, a.srun(), b.srun())
	c := newClient()
	count := map[string]int{}
	for range 10 {
		resp, body := c.get(t, "/page")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		count[resp.Header.Get("X-Server")]++
		if resp.Header.Get("X-Forwarded-For-Seen") != "127.0.0.1" {
			t.Fatalf("X-Forwarded-For %q", resp.Header.Get("X-Forwarded-For-Seen"))
		}
	}
	if count["a"] != 5 || count["b"] != 5 {
		t.Fatalf("spread %v, want 5 and 5", count)
	}
}

func TestKeepAliveOnBothSides(t *testing.T) {
	a, b := startBackend(t, "a", 0), startBackend(t, "b", 1)
	setSruns(t, a.srun(), b.srun())
	c := newClient()
	for range 40 {
		if resp, body := c.get(t, "/ka"); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	if n := c.dials.Load(); n != 1 {
		t.Errorf("client connections: %d for 40 requests, want 1", n)
	}
	if n := a.conns.Load() + b.conns.Load(); n > 4 {
		t.Errorf("srun connections: %d for 40 requests, want pooled (at most 4)", n)
	}
}

func TestPostBodiesByLengthAndChunked(t *testing.T) {
	a := startBackend(t, "a", 0)
	setSruns(t, a.srun())
	c := newClient()
	body := make([]byte, 128<<10)
	rand.Read(body)
	want := fmt.Sprintf("a POST %d %x", len(body), sha256.Sum256(body))
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(body)
		if chunked {
			r = struct{ io.Reader }{r} // no length: Go sends it chunked
		}
		req, _ := http.NewRequest("POST", "http://"+front+"/post", r)
		for range 2 { // twice on one connection: the body framing held
			if chunked {
				req, _ = http.NewRequest("POST", "http://"+front+"/post", struct{ io.Reader }{bytes.NewReader(body)})
			} else {
				req, _ = http.NewRequest("POST", "http://"+front+"/post", bytes.NewReader(body))
			}
			resp, got := c.do(t, req)
			if resp.StatusCode != 200 || got != want {
				t.Fatalf("chunked=%v: %d %q, want %q", chunked, resp.StatusCode, got, want)
			}
		}
	}
	if c.dials.Load() != 1 {
		t.Errorf("client connections: %d, want 1", c.dials.Load())
	}
	// A client that waits for 100 Continue (up to 10 s here) is not kept waiting.
	c.Transport.(*http.Transport).ExpectContinueTimeout = 10 * time.Second
	req, _ := http.NewRequest("POST", "http://"+front+"/post", bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	if resp, got := c.do(t, req); resp.StatusCode != 200 || got != want || time.Since(start) > 5*time.Second {
		t.Fatalf("Expect: 100-continue: %d %q after %v", resp.StatusCode, got, time.Since(start))
	}
	// A chunked response of 1 MiB.
	resp, got := c.get(t, "/big")
	if resp.StatusCode != 200 || len(got) != 1<<20 || got != strings.Repeat("0123456789abcdef", 65536) {
		t.Fatalf("chunked response: %d, %d bytes", resp.StatusCode, len(got))
	}
}

func TestStickySessionsFollowTheOwnerPrefix(t *testing.T) {
	a, b, c3 := startBackend(t, "a", 0), startBackend(t, "b", 1), startBackend(t, "c", 2)
	setSruns(t, a.srun(), b.srun(), c3.srun())
	c := newClient()
	// The owner of a session issued by server 1 gets all its requests.
	resp, _ := c.get(t, "/login?login")
	var id string
	for _, ck := range resp.Cookies() {
		if ck.Name == "JSESSIONID" {
			id = ck.Value
		}
	}
	if id == "" {
		t.Fatal("no session cookie")
	}
	owner := resp.Header.Get("X-Server")
	for range 8 {
		req, _ := http.NewRequest("GET", "http://"+front+"/s", nil)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
		if resp, _ := c.do(t, req); resp.Header.Get("X-Server") != owner {
			t.Fatalf("session %s of %s went to %s", id, owner, resp.Header.Get("X-Server"))
		}
	}
	// The ;jsessionid= path parameter works as well.
	bid := proxy.NewSessionID(1)
	for range 4 {
		if resp, _ := c.get(t, "/s;jsessionid="+bid+"?q"); resp.Header.Get("X-Server") != "b" {
			t.Fatalf("path session of b went to %s", resp.Header.Get("X-Server"))
		}
	}
	// Its owner gone, the session sticks to one backup.
	setSruns(t, a.srun(), c3.srun())
	backup := ""
	for range 8 {
		req, _ := http.NewRequest("GET", "http://"+front+"/s", nil)
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: bid})
		resp, _ := c.do(t, req)
		if resp.StatusCode != 200 || (backup != "" && resp.Header.Get("X-Server") != backup) {
			t.Fatalf("session of a gone server: %d from %s, earlier %s", resp.StatusCode, resp.Header.Get("X-Server"), backup)
		}
		backup = resp.Header.Get("X-Server")
	}
}

func TestFailoverSkipsADeadSrun(t *testing.T) {
	a := startBackend(t, "a", 1)
	dead := startBackend(t, "dead", 0)
	dead.srv.Close()
	setSruns(t, dead.srun(), a.srun())
	c := newClient()
	for range 10 {
		if resp, body := c.get(t, "/f"); resp.StatusCode != 200 || !strings.HasPrefix(body, "a GET") {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	}
	st, _ := os.ReadFile(procDir + "/stats")
	var failures int
	for _, line := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(line, "srun-0 ") {
			fmt.Sscanf(line[strings.Index(line, "failures"):], "failures %d", &failures)
		}
	}
	if failures == 0 {
		t.Errorf("stats do not count the dead srun's failures:\n%s", st)
	}
}

func TestInterimResponsesArePassedOn(t *testing.T) {
	a := startBackend(t, "a", 0)
	setSruns(t, a.srun())
	c := newClient()
	for range 3 { // on one connection: the request after them is read right
		for _, path := range []string{"/hints", "/plain"} {
			resp, body := c.get(t, path)
			if resp.StatusCode != 200 || (path == "/hints" && body != "hinted") || (path == "/plain" && !strings.HasPrefix(body, "a GET")) {
				t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
			}
		}
	}
	got := raw(t, "GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5*time.Second)
	if strings.Count(got, "HTTP/1.1 103 Early Hints\r\n") != 2 || !strings.HasSuffix(got, "hinted") {
		t.Fatalf("raw: %q", got)
	}
}

func TestCauchoStatus(t *testing.T) {
	a := startBackend(t, "a", 0)
	setSruns(t, a.srun())
	resp, body := newClient().get(t, "/caucho-status")
	if resp.StatusCode != 200 || !strings.Contains(body, "HardCore") || !strings.Contains(body, "srun-0 "+a.addr) {
		t.Fatalf("/caucho-status: %d\n%s", resp.StatusCode, body)
	}
	if a.conns.Load() != 0 {
		t.Error("/caucho-status reached the srun")
	}
}

func TestOversizedHeaderIs400(t *testing.T) {
	a := startBackend(t, "a", 0)
	setSruns(t, a.srun())
	got := raw(t, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 9000)+"\r\n\r\n", 5*time.Second)
	if statusOf(got) != 400 {
		t.Fatalf("got %q", trunc(got))
	}
}

func TestSlowClientsTimeOut(t *testing.T) {
	a := startBackend(t, "a", 0)
	setSruns(t, a.srun())
	// A header that never ends: 408 once header_timeout (2 s) has passed,
	// even when a byte arrives every half second.
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	go func() {
		for range 20 {
			time.Sleep(500 * time.Millisecond)
			if _, err := c.Write([]byte("X")); err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(8 * time.Second))
	b, _ := io.ReadAll(c)
	if statusOf(string(b)) != 408 || time.Since(start) > 6*time.Second {
		t.Fatalf("slow header: %q after %v", trunc(string(b)), time.Since(start))
	}
	// An idle keep-alive connection is closed after keepalive_timeout (3 s).
	start = time.Now()
	if got := raw(t, "", 8*time.Second); got != "" || time.Since(start) > 6*time.Second {
		t.Fatalf("idle connection: %q after %v", got, time.Since(start))
	}
}

func TestBadRequestsAre400AndNeverHurt(t *testing.T) {
	a := startBackend(t, "a", 0)
	setSruns(t, a.srun())
	for _, req := range []string{
		"\x00\x01\x02\xff\r\n\r\n",
		"GET\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"get / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX : a\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
	} {
		if got := raw(t, req, 10*time.Second); statusOf(got) != 400 {
			t.Errorf("%q: got %q, want 400", req, trunc(got))
		}
	}
	// Mutated requests, cut off anywhere: whatever the module answers, it
	// stays up and serves the next request.
	seed := []byte("POST /p;jsessionid=baaXYZ?q=1 HTTP/1.1\r\nHost: x\r\nCookie: a=b; JSESSIONID=\"caa123\"\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n")
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 60 {
		m := bytes.Clone(seed)
		for range 1 + r.IntN(4) {
			if len(m) == 0 {
				break
			}
			switch r.IntN(3) {
			case 0:
				m[r.IntN(len(m))] = byte(r.IntN(256))
			case 1:
				m = m[:r.IntN(len(m))]
			case 2:
				i := r.IntN(len(m))
				m = append(m[:i], append([]byte{"\r\n:; 0\x00"[r.IntN(7)]}, m[i:]...)...)
			}
		}
		raw(t, string(m), 200*time.Millisecond)
	}
	if resp, body := newClient().get(t, "/after"); resp.StatusCode != 200 {
		t.Fatalf("after bad requests: %d %s", resp.StatusCode, body)
	}
	eventually(t, 10*time.Second, "every connection to close", func() bool { return readStat(t, "active") == 0 })
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
