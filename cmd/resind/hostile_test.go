package main

// Hostile HTTP against a running web tier: raw bytes on a TCP connection,
// the status resind answers, and exactly what reached the app tier — a
// raw backend standing in for app-a records every byte it received.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"resind/internal/porttest"
	"strings"
	"sync"
	"testing"
	"time"
)

const hostileConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="app-a" address="127.0.0.1" port="{{.Backend}}"/>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Cluster}}">
      <header-timeout>1s</header-timeout>
      <socket-timeout>1s</socket-timeout>
      <body-size-max>1M</body-size-max>
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app"/>
        <resin:Redirect regexp="^/old/(.*)" target="/new/$1"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

// rawBackend is an HTTP/1.1 server that records every byte it receives
// and answers each request it can parse with 200 "backend".
type rawBackend struct {
	ln   net.Listener
	mu   sync.Mutex
	raw  bytes.Buffer
	reqs []string // "METHOD URI" of each complete request
}

func newRawBackend(t *testing.T) *rawBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

type recordingReader struct {
	r io.Reader
	b *rawBackend
}

func (rr recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.b.mu.Lock()
	rr.b.raw.Write(p[:n])
	rr.b.mu.Unlock()
	return n, err
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(recordingReader{c, b})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		if strings.HasPrefix(req.RequestURI, "/resin/cluster/") {
			return // the web tier's cluster membership, not a client's request
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, req.Method+" "+req.RequestURI)
		b.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nbackend"); err != nil {
			return
		}
	}
}

// seen returns everything received so far and the complete requests.
func (b *rawBackend) seen() (string, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.raw.String(), append([]string(nil), b.reqs...)
}

func (b *rawBackend) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

type hostilePorts struct{ Backend, Cluster, HTTP int }

// rawResponses sends raw on a new connection and reads responses until the
// server closes it or a response asks for no more than want; it returns
// their status codes and headers. A connection that stays open after want
// responses is left: the request bytes are all written, so any further
// response would already be on its way, and the smuggling cases check
// what reached the app tier instead.
func rawResponses(t *testing.T, addr, raw string, want int) (codes []int, heads []http.Header, closed bool) {
	t.Helper()
	c := porttest.Dial(t, addr)
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	for len(codes) < want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return codes, heads, true
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		heads = append(heads, resp.Header)
		if resp.Close {
			return codes, heads, true
		}
	}
	return codes, heads, false
}

func TestHostileRequestsGetTheirStatusAndNeverReachTheAppTierSmuggled(t *testing.T) {
	t.Parallel()
	be := newRawBackend(t)
	s := newSite(t)
	p := hostilePorts{Backend: be.port(), Cluster: freePort(t), HTTP: freePort(t)}
	s.write("resin.xml", hostileConf, p)
	s.writeRaw("web/index.html", "web page")
	s.start("web-a")
	addr := fmt.Sprintf("127.0.0.1:%d", p.HTTP)

	many := func(n int) string { return strings.Repeat("X-Many: y\r\n", n) }
	cases := []struct {
		name string
		raw  string
		// codes are the statuses of the responses on the connection.
		codes []int
		// reach are the requests the app tier must receive, in order.
		reach []string
	}{
		{"content-length with transfer-encoding",
			"POST /app/clte HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /app/clte-smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			[]int{200}, []string{"POST /app/clte"}},
		{"transfer-encoding with content-length",
			"POST /app/tecl HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 45\r\n\r\n0\r\n\r\nGET /app/tecl-smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			[]int{200}, []string{"POST /app/tecl"}},
		{"two content-lengths",
			"POST /app/twocl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /app/twocl-smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			[]int{400}, nil},
		{"content-length list", "POST /app/cllist HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", []int{400}, nil},
		{"unknown transfer-encoding", "POST /app/te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", []int{501}, nil},
		{"malformed chunk", "POST /app/badchunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", []int{400}, nil},
		{"obs-fold hiding a transfer-encoding",
			"POST /app/fold HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
			[]int{200}, []string{"POST /app/fold"}},
		{"bare LF line ends", "GET /app/lf HTTP/1.1\nHost: x\nX-A: b\n\n", []int{200}, []string{"GET /app/lf"}},
		{"bare CR", "GET /app/cr HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", []int{400}, nil},
		{"request line over url-length-max", "GET /app/" + strings.Repeat("a", 9<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", []int{414}, nil},
		{"request line over header-size-max", "GET /app/" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", []int{431}, nil},
		{"header over header-size-max", "GET /app/bighdr HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", []int{431}, nil},
		{"too many headers", "GET /app/many HTTP/1.1\r\nHost: x\r\n" + many(101) + "\r\n", []int{431}, nil},
		{"a hundred headers", "GET /app/hundred HTTP/1.1\r\nHost: x\r\n" + many(99) + "\r\n", []int{200}, []string{"GET /app/hundred"}},
		{"invalid method", "G(T /app/m HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"method on a static file", "PURGE /index.html HTTP/1.1\r\nHost: x\r\n\r\n", []int{405}, nil},
		{"space in target", "GET /app/a b HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"NUL in target", "GET /app/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"HTTP/0.9", "GET /app/09\r\n\r\n", []int{400}, nil},
		{"HTTP/9.9", "GET /app/99 HTTP/9.9\r\nHost: x\r\n\r\n", []int{505}, nil},
		{"traversal above the root", "GET /../resin.xml HTTP/1.1\r\nHost: x\r\n\r\n", []int{404}, nil},
		{"encoded traversal above the root", "GET /%2e%2e/%2E%2E/resin.xml HTTP/1.1\r\nHost: x\r\n\r\n", []int{404}, nil},
		{"traversal out of the app prefix", "GET /app/../resin.xml HTTP/1.1\r\nHost: x\r\n\r\n", []int{404}, nil},
		{"traversal into the app prefix", "GET /x/%2e%2e/app/trav?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}, []string{"GET /app/trav?q=1"}},
		{"absolute-form target", "GET http://evil.example/app/abs HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}, []string{"GET /app/abs"}},
		{"host with a path", "GET /app/h1 HTTP/1.1\r\nHost: evil.example/x\r\n\r\n", []int{400}, nil},
		{"host with userinfo", "GET /app/h2 HTTP/1.1\r\nHost: a@evil.example\r\n\r\n", []int{400}, nil},
		{"two hosts", "GET /app/h3 HTTP/1.1\r\nHost: x\r\nHost: evil.example\r\n\r\n", []int{400}, nil},
		{"no host", "GET /app/h4 HTTP/1.1\r\n\r\n", []int{400}, nil},
		{"declared body over body-size-max", "POST /app/big HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nabc", []int{413}, nil},
		{"chunked body over body-size-max", "POST /app/bigchunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("z", 64<<10)), 17) + "0\r\n\r\n", []int{413}, nil},
	}
	for _, tc := range cases {
		rawBefore, before := be.seen()
		smuggling := strings.Contains(tc.raw, "smuggled")
		want := len(tc.codes)
		if smuggling {
			want++ // a response to the smuggled request must not come
		}
		codes, _, closed := rawResponses(t, addr, tc.raw, want)
		if smuggling && !closed {
			t.Errorf("%s: the connection was not closed after the first response", tc.name)
		}
		if fmt.Sprint(codes) != fmt.Sprint(tc.codes) {
			t.Errorf("%s: statuses %v, want %v", tc.name, codes, tc.codes)
		}
		raw, after := be.seen()
		got := after[len(before):]
		if fmt.Sprint(got) != fmt.Sprint(tc.reach) {
			t.Errorf("%s: the app tier received %q, want %q", tc.name, got, tc.reach)
		}
		// What reached the app tier is plain HTTP/1.1: CRLF line ends,
		// no folded lines, never two framings.
		sent := raw[len(rawBefore):]
		if strings.Contains(sent, "smuggled") {
			t.Errorf("%s: the smuggled request reached the app tier:\n%s", tc.name, sent)
		}
		if strings.Count(sent, "\n") != strings.Count(sent, "\r\n") || strings.Contains(sent, "\r\n ") || strings.Contains(sent, "\r\n\t") {
			t.Errorf("%s: the app tier received bare LFs or folded lines:\n%q", tc.name, sent)
		}
		for _, head := range strings.Split(sent, "\r\n\r\n") {
			lower := strings.ToLower(head)
			if strings.Contains(lower, "\r\ncontent-length:") && strings.Contains(lower, "\r\ntransfer-encoding:") {
				t.Errorf("%s: the app tier received both framings:\n%s", tc.name, head)
			}
		}
	}

	// The absolute-form's authority is the Host the app tier sees, and
	// the request line it gets is origin-form.
	raw, _ := be.seen()
	if !strings.Contains(raw, "GET /app/abs HTTP/1.1\r\nHost: evil.example\r\n") {
		t.Errorf("absolute-form reached the app tier as:\n%s", raw[strings.Index(raw, "/app/abs")-4:][:200])
	}

	// Response splitting through a Redirect target: the decoded CRLF is
	// sent encoded.
	codes, heads, _ := rawResponses(t, addr, "GET /old/a%0d%0aSet-Cookie:%20owned=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1)
	if len(codes) != 1 || codes[0] != 302 || heads[0].Get("Set-Cookie") != "" || !strings.Contains(heads[0].Get("Location"), "%0D%0ASet-Cookie") {
		t.Errorf("redirect with an encoded CRLF: %v %v", codes, heads)
	}

	// The access log says what the client got, not what the proxy behind
	// the limits answered.
	eventually(t, 10*time.Second, "the access log to show the 413 and 400 sent for broken bodies", func() bool {
		b, _ := os.ReadFile(filepath.Join(s.dir, "log", "web-a-access.log"))
		return strings.Contains(string(b), `"POST /app/bigchunks HTTP/1.1" 413`) && strings.Contains(string(b), `"POST /app/badchunk HTTP/1.1" 400`)
	})

	// resind is still up and serving.
	if resp, body := get(t, "http://"+addr+"/"); resp.StatusCode != 200 || body != "web page" {
		t.Fatalf("after the hostile requests GET / = %d %q", resp.StatusCode, body)
	}
	if st := s.resind("-server", "web-a", "status"); st.code != 0 {
		t.Fatalf("web-a is not running after the hostile requests: %s", st.stdout)
	}
	if log := s.log("web-a"); strings.Contains(log, "panic") {
		t.Errorf("web-a logged a panic:\n%s", log)
	}
}

func TestSlowClientsAreCutOffAndOthersStillServed(t *testing.T) {
	t.Parallel()
	be := newRawBackend(t)
	s := newSite(t)
	p := hostilePorts{Backend: be.port(), Cluster: freePort(t), HTTP: freePort(t)}
	s.write("resin.xml", hostileConf, p)
	s.writeRaw("web/index.html", "web page")
	s.start("web-a")
	addr := fmt.Sprintf("127.0.0.1:%d", p.HTTP)

	// Fifty slowloris connections sending headers a byte at a time, and
	// one sending a body that stalls.
	var conns []net.Conn
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /app/slow HTTP/1.1\r\nHost: x\r\nX-")
		conns = append(conns, c)
	}
	body, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	io.WriteString(body, "POST /app/slowbody HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	start := time.Now()

	// Meanwhile, others are served.
	if resp, _ := get(t, "http://"+addr+"/"); resp.StatusCode != 200 {
		t.Fatalf("GET / while slow clients hold connections = %d", resp.StatusCode)
	}
	// header-timeout is 1s: every slow connection is closed.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slow connection %d not closed: %v", i, err)
		}
	}
	// socket-timeout is 1s: the stalled body is answered 408.
	body.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(body), nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %v %v", resp, err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("slow clients were cut off after %s", d)
	}
	if _, reqs := be.seen(); len(reqs) != 0 {
		t.Errorf("the app tier received complete requests from slow clients: %q", reqs)
	}
}

// TestRequestsAtTheLimitsPassBothTiers: what the web tier accepts, the app
// tier behind it accepts too, although the web tier adds X-Forwarded-*
// and Via fields on the way.
func TestRequestsAtTheLimitsPassBothTiers(t *testing.T) {
	t.Parallel()
	_, d := newFaultSite(t, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", d.HTTP)
	pad := "?" + strings.Repeat("q", 8<<10-len("/app/page.html?")-1)
	for name, raw := range map[string]string{
		"100 header fields": "GET /app/page.html HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: y\r\n", 99) + "\r\n",
		"60k of headers":    "GET /app/page.html HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 60<<10) + "\r\n\r\n",
		"an 8k target":      "GET /app/page.html" + pad + " HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		codes, _, _ := rawResponses(t, addr, raw, 1)
		if fmt.Sprint(codes) != "[200]" {
			t.Errorf("%s: %v through both tiers, want [200]", name, codes)
		}
	}
}
