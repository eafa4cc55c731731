package main

// The epoll data plane (RESIND_DATAPLANE=epoll, docs/dataplane.md) answers
// body-less GET and HEAD requests routed to a LoadBalance or HttpProxy
// target on raw epoll loops, and hands everything else to the ordinary
// path. Its promise is one behaviour, two paths: every scenario here runs
// as the subtests "goroutine" (the ordinary path), "epoll" and
// "epoll-one-cpu" (web-a on one CPU, where resind gives the loop a P of its
// own), against real app servers (Go HTTP servers on loopback ports
// standing in for app-a and app-b, and two raw listeners), and requires the
// same answers from all.
//
// Each mode checks its own explicit expectations. When the modes of a test
// pass, their transcripts — every answer's status, framing, headers (all
// but Date and X-Backend) and body length, and every request the app tier
// received — must also equal the goroutine path's, which catches
// differences no expectation names (a header one path adds and the other
// does not).
//
// The epoll subtests also require the startup line "epoll data plane on"
// in web-a's log, so that they fail while the knob is ignored instead of
// passing on the ordinary path; the goroutine subtests require its absence.
// The one-CPU subtests require the line of the second P.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"resind/internal/porttest"
)

// dpEnvVar switches the data plane in resind's environment.
const dpEnvVar = "RESIND_DATAPLANE"

// dpLogLine is what resind logs at start when the epoll data plane is on.
const dpLogLine = "epoll data plane on"

// dpOneCPULine is what resind logs at start when it gives the epoll data
// plane a second P on one CPU (cmd/resind's loopProcs).
const dpOneCPULine = "one CPU: GOMAXPROCS 2"

// dpMode is a way to run web-a: name is the subtest's, env the value of
// dpEnvVar ("" leaves it out of the environment: the default, which is
// epoll), oneCPU runs it on CPU 0 alone (taskset), where the loop has a P
// of its own beside the runtime's only when resind gives it one.
type dpMode struct {
	name, env string
	oneCPU    bool
}

// epoll says the mode runs on the epoll data plane.
func (m dpMode) epoll() bool { return m.env != "goroutine" }

// dpModes are the paths every scenario runs on: the goroutine path, whose
// transcript the others must match, and the epoll plane on every CPU and
// on one.
var dpModes = []dpMode{
	{name: "goroutine", env: "goroutine"},
	{name: "epoll", env: ""},
	{name: "epoll-one-cpu", env: "", oneCPU: true},
}

// dpDiff is the first line where transcript e differs from g, the
// goroutine path's ("" when none); mode names e's path.
func dpDiff(g, e []string, mode string) string {
	for i := 0; i < max(len(g), len(e)); i++ {
		var gl, el string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(e) {
			el = e[i]
		}
		if gl != el {
			return fmt.Sprintf("the %s data plane differs from the goroutine path at step %d of %d:\ngoroutine: %s\n%-10s %s", mode, i+1, len(g), gl, mode+":", el)
		}
	}
	return ""
}

// dpConf is a web tier balancing /app/ over two app servers (round-robin,
// sticky), /raw/ over a raw server answering close-delimited, and /slow/
// over a server that never answers, with a 1 s socket timeout; /px/
// proxied (HttpProxy) to a third app server, and /s/px/ too from a
// web-app with sessions; the rest is static files.
const dpConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server-default>
      <load-balance-connect-timeout>1s</load-balance-connect-timeout>
      <load-balance-recover-time>2s</load-balance-recover-time>
    </server-default>
    <server id="app-a" address="127.0.0.1" port="{{.AppA}}"/>
    <server id="app-b" address="127.0.0.1" port="{{.AppB}}"/>
  </cluster>
  <cluster id="raw">
    <server id="raw-a" address="127.0.0.1" port="{{.Raw}}"/>
  </cluster>
  <cluster id="slow">
    <server-default>
      <load-balance-socket-timeout>1s</load-balance-socket-timeout>
    </server-default>
    <server id="slow-a" address="127.0.0.1" port="{{.Slow}}"/>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.WebCluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/app/" cluster="app" strategy="round-robin"/>
        <resin:LoadBalance regexp="^/raw/" cluster="raw"/>
        <resin:LoadBalance regexp="^/slow/" cluster="slow"/>
        <resin:HttpProxy regexp="^/px/" addresses="127.0.0.1:{{.PxA}}"/>
      </web-app>
      <web-app id="/s" root-directory="${__DIR__}/web">
        <session-config/>
        <resin:HttpProxy regexp="^/px/" addresses="127.0.0.1:{{.PxA}}"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

type dpPorts struct{ AppA, AppB, PxA, Raw, Slow, WebCluster, HTTP int }

// dpSite is one mode's installation: the app tier, the raw servers and a
// running web-a.
type dpSite struct {
	*site
	t     *testing.T
	mode  string
	epoll bool // mode runs on the epoll data plane
	ports dpPorts
	addr  string // web-a's HTTP listener
	app   *dpAppTier
	raw   *dpRawServer // answers close-delimited
	slow  *dpRawServer // never answers

	mu         sync.Mutex
	transcript []string
}

// dpEach runs scenario once per mode, each on a site of its own, and
// compares the transcripts of the modes that passed.
func dpEach(t *testing.T, scenario func(t *testing.T, d *dpSite)) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]string{}
	t.Cleanup(func() {
		// Runs after the subtests: compare the modes that passed with
		// the goroutine path (a mode run alone with -run, or a failed
		// one, has its own report).
		g := got["goroutine"]
		for _, m := range dpModes[1:] {
			if e := got[m.name]; g != nil && e != nil {
				if d := dpDiff(g, e, m.name); d != "" {
					t.Error(d)
				}
			}
		}
	})
	for _, m := range dpModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			d := newDPSite(t, m)
			scenario(t, d)
			for _, line := range d.app.transcript() {
				d.note("app tier received " + line)
			}
			if !t.Failed() {
				mu.Lock()
				got[m.name] = d.transcript
				mu.Unlock()
			}
		})
	}
}

func newDPSite(t *testing.T, m dpMode) *dpSite {
	t.Helper()
	s := newSite(t)
	d := &dpSite{site: s, t: t, mode: m.name, epoll: m.epoll()}
	d.app = newDPAppTier(t)
	d.raw = newDPRawServer(t, func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nclose-delimited body")
		c.Close()
	})
	d.slow = newDPRawServer(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // never answers; until the web tier gives up
	})
	d.ports = dpPorts{AppA: d.app.port("app-a"), AppB: d.app.port("app-b"), PxA: d.app.port("px-a"), Raw: d.raw.port(), Slow: d.slow.port(),
		WebCluster: freePort(t), HTTP: freePort(t)}
	d.addr = fmt.Sprintf("127.0.0.1:%d", d.ports.HTTP)
	s.write("resin.xml", dpConf, d.ports)
	s.writeRaw("web/index.html", "web page")
	s.dpStart("web-a", m)
	// Once web-a has answered its listeners are served, and a loop would
	// have said so.
	if resp, body := get(t, "http://"+d.addr+"/index.html"); resp.StatusCode != 200 || body != "web page" {
		t.Fatalf("GET /index.html = %d %q", resp.StatusCode, body)
	}
	s.dpCheckMode("web-a", d.addr, m)
	return d
}

// dpCheckMode fails the test unless server id (which has answered at addr)
// runs as m says, in its log and on /resin-admin: the epoll subtests must
// run on the loop, not silently on the ordinary path, and on one CPU with
// the loop's own P; the goroutine ones must not.
func (s *site) dpCheckMode(id, addr string, m dpMode) {
	s.t.Helper()
	_, body := get(s.t, "http://"+addr+"/resin-admin/api/status")
	var st struct {
		DataPlane struct {
			Kind       string `json:"kind"`
			Loops      int    `json:"loops"`
			GOMAXPROCS int    `json:"gomaxprocs"`
		} `json:"data_plane"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		s.t.Fatalf("/resin-admin/api/status: %v\n%s", err, body)
	}
	dp := st.DataPlane
	switch {
	case !m.epoll() && (dp.Kind != "goroutine" || dp.Loops != 0),
		m.epoll() && (dp.Kind != "epoll" || dp.Loops < 1),
		m.oneCPU && (dp.GOMAXPROCS != 2 || dp.Loops != 1),
		dp.GOMAXPROCS < 1:
		s.t.Fatalf("%s mode: /resin-admin/api/status says data_plane %+v", m.name, dp)
	}
	if m.epoll() {
		eventually(s.t, 10*time.Second, fmt.Sprintf("%s's log to say %q (%s=%q)", id, dpLogLine, dpEnvVar, m.env), func() bool {
			return strings.Contains(s.log(id), dpLogLine)
		})
	} else if strings.Contains(s.log(id), dpLogLine) {
		s.t.Fatalf("%s logged %q with %s=%s", id, dpLogLine, dpEnvVar, m.env)
	}
	if on := strings.Contains(s.log(id), dpOneCPULine); on != (m.epoll() && m.oneCPU) {
		s.t.Fatalf("%s mode: %q in %s's log is %v", m.name, dpOneCPULine, id, on)
	}
}

// dpStart starts server id as m says: m.env as RESIND_DATAPLANE ("" for
// none: the variable is removed even when the test's own environment has
// it), GOMAXPROCS left to resind, on CPU 0 alone when m.oneCPU. It fails
// the test unless resind reports that it listens. The harness's start
// passes the test's environment as it is; t.Setenv cannot be used in
// parallel tests.
func (s *site) dpStart(id string, m dpMode) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-conf", s.conf, "-data-directory", filepath.Join(s.dir, "data"),
		"-log-directory", filepath.Join(s.dir, "log"), "-server", id, "start"}
	cmd := exec.CommandContext(ctx, resindBin, args...)
	if m.oneCPU {
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", "0", resindBin}, args...)...)
	}
	cmd.Dir = s.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, dpEnvVar+"=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if m.env != "" {
		cmd.Env = append(cmd.Env, dpEnvVar+"="+m.env)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s (%s=%s) resind -server %s start: %v\n%s", m.name, dpEnvVar, m.env, id, err, out)
	}
	s.started[id] = true
}

// note appends line to the transcript, web-a's address (a port of its own
// in each mode) written as <web-a>.
func (d *dpSite) note(line string) {
	line = strings.ReplaceAll(line, d.addr, "<web-a>")
	d.mu.Lock()
	d.transcript = append(d.transcript, line)
	d.mu.Unlock()
}

// ---------------------------------------------------------------------
// The app tier: two Go HTTP servers.

// dpAppTier is app-a and app-b: net/http servers on free loopback ports
// that record every request and answer by path:
//
//	/app/echo      200 "NAME METHOD URI" (": BODY" when one came)
//	/app/size/N    200, N bytes of dpPattern, with Content-Length
//	/app/stream    200 chunked: "first;" flushed, then, once the test
//	               releases it, "second;" and "third;"
//	/app/204       204, /app/304 304 with an ETag
//
// Every answer carries X-Backend (the server's name), the end-to-end
// X-End, and hop-by-hop fields: Connection naming X-Private, X-Private,
// Keep-Alive and Proxy-Agent.
type dpAppTier struct {
	servers map[string]*dpAppServer
	release chan struct{}

	mu   sync.Mutex
	seen []dpSeen
}

type dpAppServer struct {
	port int
	srv  *http.Server
}

// dpSeen is a request as an app server received it.
type dpSeen struct {
	server, method, uri, host string
	header                    http.Header
	body                      string
}

func newDPAppTier(t *testing.T) *dpAppTier {
	a := &dpAppTier{servers: map[string]*dpAppServer{}, release: make(chan struct{})}
	for _, name := range []string{"app-a", "app-b", "px-a"} {
		ln, port := dpListen(t)
		srv := &http.Server{Handler: a.handler(name), ReadHeaderTimeout: 30 * time.Second}
		go srv.Serve(ln)
		a.servers[name] = &dpAppServer{port: port, srv: srv}
		t.Cleanup(func() { srv.Close() })
	}
	return a
}

// dpListen listens on a free loopback port below the ephemeral range, so
// that once closed it refuses connections instead of being taken by some
// client's socket. Another process may bind the port porttest found free
// before this does: then another port is tried.
func dpListen(t *testing.T) (net.Listener, int) {
	t.Helper()
	var err error
	for range 20 {
		port := porttest.Free(t)
		var ln net.Listener
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return ln, port
		}
	}
	t.Fatal(err)
	return nil, 0
}

func (a *dpAppTier) port(name string) int { return a.servers[name].port }

// stop closes server name's listener and connections, as a crash would.
func (a *dpAppTier) stop(name string) { a.servers[name].srv.Close() }

// dpPattern is n bytes that do not repeat on any power-of-two boundary,
// so a piece lost, doubled or moved shows.
func dpPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func (a *dpAppTier) handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/resin/") {
			// The web tier's cluster traffic: these are not resind servers.
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.seen = append(a.seen, dpSeen{server: name, method: r.Method, uri: r.RequestURI, host: r.Host,
			header: r.Header.Clone(), body: string(body)})
		a.mu.Unlock()

		// A ;jsessionid= path parameter reaches the app server as it came.
		path, _, _ := strings.Cut(r.URL.Path, ";")
		// HttpProxy's paths (/px/, /s/px/) answer as /app/'s.
		if p, ok := strings.CutPrefix(strings.TrimPrefix(path, "/s"), "/px/"); ok {
			path = "/app/" + p
		}
		h := w.Header()
		h.Set("X-Backend", name)
		h.Set("X-End", "end-to-end")
		h.Set("Connection", "X-Private")
		h.Set("X-Private", "hop")
		h.Set("Keep-Alive", "timeout=9")
		h.Set("Proxy-Agent", "hop")
		switch {
		case path == "/app/echo":
			out := name + " " + r.Method + " " + r.RequestURI
			if len(body) > 0 {
				out += ": " + string(body)
			}
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(out)))
			io.WriteString(w, out)
		case strings.HasPrefix(path, "/app/size/"):
			n, err := strconv.Atoi(strings.TrimPrefix(path, "/app/size/"))
			if err != nil || n < 0 || n > 16<<20 {
				http.Error(w, "bad size", http.StatusBadRequest)
				return
			}
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.Itoa(n))
			if r.Method != http.MethodHead {
				w.Write(dpPattern(n))
			}
		case path == "/app/stream":
			h.Set("Content-Type", "text/plain; charset=utf-8")
			f := w.(http.Flusher)
			io.WriteString(w, "first;")
			f.Flush()
			select {
			case <-a.release:
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Second):
			}
			io.WriteString(w, "second;")
			f.Flush()
			io.WriteString(w, "third;")
		case path == "/app/204":
			w.WriteHeader(http.StatusNoContent)
		case path == "/app/304":
			h.Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			http.NotFound(w, r)
		}
	})
}

// received returns the requests for uri, in the order they came.
func (a *dpAppTier) received(uri string) []dpSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []dpSeen
	for _, s := range a.seen {
		if s.uri == uri {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only request for uri, failing the test unless exactly
// one came.
func (a *dpAppTier) one(t *testing.T, uri string) dpSeen {
	t.Helper()
	got := a.received(uri)
	if len(got) != 1 {
		t.Fatalf("the app tier received %d requests for %s, want 1", len(got), uri)
	}
	return got[0]
}

// transcript is every request received, without the server that took it
// (the checks name it where it matters).
func (a *dpAppTier) transcript() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, s := range a.seen {
		out = append(out, fmt.Sprintf("%s %s Host=%s %s body=%d", s.method, s.uri, s.host, dpHeaderLine(s.header), len(s.body)))
	}
	return out
}

// dpHeaderLine is h sorted, one "Key=values" each, without the fields that
// differ from run to run: Date and X-Backend left out, the values of a
// static file's validators (its mtime) as "*".
func dpHeaderLine(h http.Header) string {
	var keys []string
	for k := range h {
		switch k {
		case "Date", "X-Backend":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		v := strings.Join(h[k], ",")
		switch {
		case (k == "Set-Cookie" || k == "X-Resin-Session-Id") && !strings.Contains(v, "test"):
			v = "<issued>" // a session id resind made (the test's own say "test")
		case k == "Last-Modified" || k == "Etag" && h.Get("X-End") == "":
			v = "*"
		case len(v) > 64:
			v = fmt.Sprintf("<%d bytes>", len(v))
		}
		parts = append(parts, k+"="+v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ---------------------------------------------------------------------
// Raw servers, for what a net/http server will not do.

// dpRawServer accepts connections on a free loopback port, reads one
// request head on each and hands the connection to answer. It closes the
// web tier's cluster traffic (/resin/...) at once and records the request
// lines of the rest.
type dpRawServer struct {
	ln net.Listener

	mu    sync.Mutex
	lines []string
	conns []net.Conn
}

func newDPRawServer(t *testing.T, answer func(c net.Conn)) *dpRawServer {
	ln, _ := dpListen(t)
	r := &dpRawServer{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			go func() {
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					c.Close()
					return
				}
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						c.Close()
						return
					}
					if l == "\r\n" || l == "\n" {
						break
					}
				}
				if f := strings.Fields(line); len(f) < 2 || strings.HasPrefix(f[1], "/resin/") {
					c.Close()
					return
				}
				r.mu.Lock()
				r.lines = append(r.lines, strings.TrimSpace(line))
				r.mu.Unlock()
				answer(c)
			}()
		}
	}()
	return r
}

func (r *dpRawServer) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

func (r *dpRawServer) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// ---------------------------------------------------------------------
// The client: raw requests on one connection, answers read with
// http.ReadResponse, so the test decides what shares a connection.

type dpConn struct {
	t  *testing.T
	d  *dpSite
	c  net.Conn
	br *bufio.Reader
}

// dpAnswer is one response, its body read.
type dpAnswer struct {
	status  int
	header  http.Header
	body    []byte
	chunked bool
	close   bool // the response said the connection ends
}

func (d *dpSite) dial(t *testing.T) *dpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", d.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &dpConn{t: t, d: d, c: c, br: bufio.NewReader(c)}
}

// dpReq is a request head with Host x and the given extra lines.
func dpReq(method, uri string, lines ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + uri + " HTTP/1.1\r\nHost: x\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func (cc *dpConn) send(raw string) {
	cc.t.Helper()
	cc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(cc.c, raw); err != nil {
		cc.t.Fatalf("writing %.60q: %v", raw, err)
	}
}

// head reads a response head for a request of method; the body is left
// to the caller.
func (cc *dpConn) head(method string) *http.Response {
	cc.t.Helper()
	cc.c.SetDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(cc.br, &http.Request{Method: method})
	if err != nil {
		cc.t.Fatalf("reading the answer to a %s: %v", method, err)
	}
	return resp
}

// read reads one whole response to a request of method and notes it in the
// transcript.
func (cc *dpConn) read(method string) dpAnswer {
	cc.t.Helper()
	resp := cc.head(method)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		cc.t.Fatalf("reading the body of a %d answer to a %s: %v", resp.StatusCode, method, err)
	}
	return cc.finish(method, resp, body)
}

func (cc *dpConn) finish(method string, resp *http.Response, body []byte) dpAnswer {
	a := dpAnswer{status: resp.StatusCode, header: resp.Header, body: body,
		chunked: slices.Contains(resp.TransferEncoding, "chunked"), close: resp.Close}
	cc.d.note(fmt.Sprintf("%s → %d chunked=%v close=%v %s body=%d", method, a.status, a.chunked, a.close, dpHeaderLine(a.header), len(a.body)))
	return a
}

// do writes raw and reads the answer.
func (cc *dpConn) do(method, raw string) dpAnswer {
	cc.t.Helper()
	cc.send(raw)
	return cc.read(method)
}

// get is a GET of uri on the connection that must answer 200 with body.
func (cc *dpConn) get(uri, body string) {
	cc.t.Helper()
	if a := cc.do("GET", dpReq("GET", uri)); a.status != 200 || string(a.body) != body || a.close {
		cc.t.Fatalf("GET %s = %d %q (close %v), want 200 %q on a kept-alive connection", uri, a.status, a.body, a.close, body)
	}
}

// closed reports whether the server ends the connection (without sending
// anything more) within a few seconds.
func (cc *dpConn) closed() bool {
	cc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := cc.br.Read(make([]byte, 1))
	return n == 0 && err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// checkHops checks the fields of an answer relayed from the app tier: the
// end-to-end ones arrive, the hop-by-hop ones do not, and Via names resind.
func checkHops(t *testing.T, what string, a dpAnswer) {
	t.Helper()
	h := a.header
	if h.Get("X-End") != "end-to-end" || h.Get("X-Backend") == "" {
		t.Errorf("%s: end-to-end fields of the app server lost: %v", what, h)
	}
	for _, k := range []string{"X-Private", "Keep-Alive", "Proxy-Agent"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s: hop-by-hop %s: %q reached the client", what, k, v)
		}
	}
	for _, v := range h.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "x-private") {
			t.Errorf("%s: the app server's Connection: %s reached the client", what, v)
		}
	}
	if !strings.Contains(h.Get("Via"), "1.1 resind") {
		t.Errorf("%s: Via = %q, want it to name 1.1 resind", what, h.Get("Via"))
	}
}

// ---------------------------------------------------------------------
// The scenarios.

// TestDataPlaneRoundTripOnOneKeptAliveConnection: GETs and HEADs through
// LoadBalance to both app servers on one client connection, with the
// forwarding fields the app tier sees, hop-by-hop fields dropped both
// ways, the access log and the admin counters.
func TestDataPlaneRoundTripOnOneKeptAliveConnection(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		cc := d.dial(t)
		const n = 40
		byBackend := map[string]int{}
		for i := range n {
			method := "GET"
			if i%4 == 3 {
				method = "HEAD"
			}
			uri := fmt.Sprintf("/app/echo?i=%d", i)
			// Half the requests carry a prior X-Forwarded-For and Via and
			// hop-by-hop fields of their own; half are as plain as can be.
			hops := i%2 == 1
			lines := []string{"Host: shop.example", "X-End-Req: e2e"}
			if hops {
				lines = append(lines, "X-Forwarded-For: 203.0.113.9", "Via: 1.0 upstream",
					"Connection: X-Hop", "X-Hop: secret", "Keep-Alive: timeout=5", "Proxy-Authorization: Basic eDp5")
			}
			raw := method + " " + uri + " HTTP/1.1\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
			a := cc.do(method, raw)
			what := fmt.Sprintf("%s %s", method, uri)
			if a.status != 200 || a.close {
				t.Fatalf("%s = %d (close %v), want 200 on the kept-alive connection", what, a.status, a.close)
			}
			checkHops(t, what, a)
			be := a.header.Get("X-Backend")
			byBackend[be]++
			want := be + " " + method + " " + uri
			if method == "HEAD" {
				if len(a.body) != 0 || a.header.Get("Content-Length") != strconv.Itoa(len(want)) {
					t.Errorf("%s: body %q, Content-Length %q; want none and %d", what, a.body, a.header.Get("Content-Length"), len(want))
				}
			} else if string(a.body) != want {
				t.Errorf("%s: body %q, want %q", what, a.body, want)
			}

			got := d.app.one(t, uri)
			if got.server != be || got.method != method || got.host != "shop.example" {
				t.Errorf("%s reached %s as %s with Host %q; the answer came from %s", what, got.server, got.method, got.host, be)
			}
			xff, via := "127.0.0.1", "1.1 resind"
			if hops {
				xff, via = "203.0.113.9, 127.0.0.1", "1.0 upstream, 1.1 resind"
			}
			h := got.header
			if h.Get("X-Forwarded-For") != xff || h.Get("X-Forwarded-Proto") != "http" ||
				h.Get("X-Forwarded-Host") != "shop.example" || h.Get("Via") != via {
				t.Errorf("%s: the app server saw X-Forwarded-For %q, -Proto %q, -Host %q, Via %q; want %q, http, shop.example, %q",
					what, h.Get("X-Forwarded-For"), h.Get("X-Forwarded-Proto"), h.Get("X-Forwarded-Host"), h.Get("Via"), xff, via)
			}
			if h.Get("X-End-Req") != "e2e" {
				t.Errorf("%s: the end-to-end X-End-Req did not reach the app server: %v", what, h)
			}
			for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Connection"} {
				if v := h.Values(k); len(v) > 0 {
					t.Errorf("%s: hop-by-hop %s: %q reached the app server", what, k, v)
				}
			}
		}
		if byBackend["app-a"] != n/2 || byBackend["app-b"] != n/2 {
			t.Errorf("round-robin answers by backend: %v, want %d each", byBackend, n/2)
		}

		// The operator sees every request: the access log and the admin
		// page's counters are one truth for both paths.
		eventually(t, 10*time.Second, "web-a's access log to hold each request with its 200", func() bool {
			b, _ := os.ReadFile(filepath.Join(d.dir, "log", "web-a-access.log"))
			for i := range n {
				method := "GET"
				if i%4 == 3 {
					method = "HEAD"
				}
				if !strings.Contains(string(b), fmt.Sprintf(`"%s /app/echo?i=%d HTTP/1.1" 200 `, method, i)) {
					return false
				}
			}
			return true
		})
		bv := d.backends(d.ports.HTTP)
		if got := bv["app-a"].Requests + bv["app-b"].Requests; got != n || bv["app-a"].State != "up" || bv["app-b"].State != "up" {
			t.Errorf("/resin-admin counts %d requests (app-a %+v, app-b %+v), want %d, both up", got, bv["app-a"], bv["app-b"], n)
		}
	})
}

// TestDataPlaneRelaysEveryFramingOfAnswer: sized answers small and large
// (checked byte for byte), chunked answers that stream piece by piece,
// 204, 304, HEAD of a large answer and a close-delimited answer, all on
// one kept-alive client connection.
func TestDataPlaneRelaysEveryFramingOfAnswer(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		cc := d.dial(t)

		for _, n := range []int{100, 1 << 20} {
			uri := fmt.Sprintf("/app/size/%d", n)
			a := cc.do("GET", dpReq("GET", uri))
			if a.status != 200 || a.chunked || a.close || a.header.Get("Content-Length") != strconv.Itoa(n) {
				t.Fatalf("GET %s = %d chunked=%v close=%v Content-Length %q", uri, a.status, a.chunked, a.close, a.header.Get("Content-Length"))
			}
			checkHops(t, "GET "+uri, a)
			if want := dpPattern(n); !bytes.Equal(a.body, want) {
				i := 0
				for i < len(a.body) && i < n && a.body[i] == want[i] {
					i++
				}
				t.Fatalf("GET %s: %d bytes, first difference at byte %d", uri, len(a.body), i)
			}
		}

		// Chunked, and streamed: the first piece reaches the client while
		// the app server still holds back the rest.
		cc.send(dpReq("GET", "/app/stream"))
		resp := cc.head("GET")
		if resp.StatusCode != 200 || !slices.Contains(resp.TransferEncoding, "chunked") {
			t.Fatalf("GET /app/stream = %d, Transfer-Encoding %v; want 200 chunked", resp.StatusCode, resp.TransferEncoding)
		}
		var got []byte
		buf := make([]byte, 64)
		cc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for !bytes.Equal(got, []byte("first;")) {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil || len(got) > len("first;") {
				t.Fatalf("GET /app/stream: %q (%v) before the app server sent more than \"first;\": the answer is not streamed", got, err)
			}
		}
		d.app.release <- struct{}{}
		cc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(got)+string(rest) != "first;second;third;" {
			t.Fatalf("GET /app/stream: body %q (%v), want first;second;third;", string(got)+string(rest), err)
		}
		a := cc.finish("GET", resp, append(got, rest...))
		checkHops(t, "GET /app/stream", a)

		a = cc.do("GET", dpReq("GET", "/app/204"))
		if a.status != 204 || len(a.body) != 0 || a.close {
			t.Fatalf("GET /app/204 = %d %q close=%v", a.status, a.body, a.close)
		}
		checkHops(t, "GET /app/204", a)

		a = cc.do("GET", dpReq("GET", "/app/304", `If-None-Match: "v1"`))
		if a.status != 304 || len(a.body) != 0 || a.close || a.header.Get("ETag") != `"v1"` {
			t.Fatalf("GET /app/304 = %d %q close=%v ETag %q", a.status, a.body, a.close, a.header.Get("ETag"))
		}
		checkHops(t, "GET /app/304", a)
		if got := d.app.one(t, "/app/304"); got.header.Get("If-None-Match") != `"v1"` {
			t.Errorf("If-None-Match did not reach the app server: %v", got.header)
		}

		a = cc.do("HEAD", dpReq("HEAD", "/app/size/1048576"))
		if a.status != 200 || len(a.body) != 0 || a.close || a.header.Get("Content-Length") != "1048576" {
			t.Fatalf("HEAD /app/size/1048576 = %d, %d bytes, close=%v, Content-Length %q", a.status, len(a.body), a.close, a.header.Get("Content-Length"))
		}
		checkHops(t, "HEAD /app/size/1048576", a)

		// A close-delimited answer ends the web tier's connection to the
		// app server, not the client's.
		a = cc.do("GET", dpReq("GET", "/raw/close"))
		if a.status != 200 || string(a.body) != "close-delimited body" {
			t.Fatalf("GET /raw/close = %d %q", a.status, a.body)
		}
		if !strings.Contains(a.header.Get("Via"), "1.1 resind") {
			t.Errorf("GET /raw/close: Via = %q", a.header.Get("Via"))
		}
		if got := d.raw.received(); len(got) != 1 || got[0] != "GET /raw/close HTTP/1.1" {
			t.Errorf("the raw server received %q", got)
		}
		if a.close {
			t.Fatalf("GET /raw/close: the client's connection was closed with the app server's")
		}

		// The connection still serves after every kind of answer.
		cc.get("/app/size/100", string(dpPattern(100)))
	})
}

// TestDataPlaneStickySessionsReachTheirOwner: a session id names the index
// of the server that issued it ("aaa…" app-a, "baa…" app-b), in a cookie or
// a ;jsessionid= path parameter; round-robin does not move it.
func TestDataPlaneStickySessionsReachTheirOwner(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		ids := map[string]string{"app-a": "aaaStickyToTheFirstSrvr", "app-b": "baaStickyToTheSecondSvr"}
		cc := d.dial(t)
		for i := range 10 {
			for _, owner := range []string{"app-a", "app-b"} {
				uri := fmt.Sprintf("/app/echo?sticky=%d-%s", i, owner)
				method := "GET"
				if i%3 == 2 {
					method = "HEAD"
				}
				a := cc.do(method, dpReq(method, uri, "Cookie: theme=dark; JSESSIONID="+ids[owner]))
				if a.status != 200 || a.header.Get("X-Backend") != owner {
					t.Fatalf("%s %s with %s's session = %d from %q", method, uri, owner, a.status, a.header.Get("X-Backend"))
				}
				if got := d.app.one(t, uri); got.server != owner || got.header.Get("Cookie") != "theme=dark; JSESSIONID="+ids[owner] {
					t.Errorf("%s reached %s with Cookie %q", uri, got.server, got.header.Get("Cookie"))
				}
			}
		}
		// The path parameter, on new connections.
		for i := range 4 {
			for _, owner := range []string{"app-a", "app-b"} {
				uri := fmt.Sprintf("/app/echo;jsessionid=%s?param=%d", ids[owner], i)
				resp, body := get(t, "http://"+d.addr+uri)
				if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != owner || body != owner+" GET "+uri {
					t.Fatalf("GET %s = %d %q from %q, want %s", uri, resp.StatusCode, body, resp.Header.Get("X-Backend"), owner)
				}
			}
		}
		// Without a session, round-robin alternates.
		a := cc.do("GET", dpReq("GET", "/app/echo?nosession=1"))
		b := cc.do("GET", dpReq("GET", "/app/echo?nosession=2"))
		if a.header.Get("X-Backend") == b.header.Get("X-Backend") {
			t.Errorf("two requests without a session both went to %s", a.header.Get("X-Backend"))
		}
	})
}

// TestDataPlaneFailsOverAndAnswers503WhenAllAreDown: with app-a gone its
// requests, its sessions' too, are served by app-b on the same client
// connection; with both gone the client gets the prompt 503 page.
func TestDataPlaneFailsOverAndAnswers503WhenAllAreDown(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		cc := d.dial(t)
		seen := map[string]bool{}
		for i := range 4 {
			a := cc.do("GET", dpReq("GET", fmt.Sprintf("/app/echo?before=%d", i)))
			if a.status != 200 {
				t.Fatalf("GET before the failure = %d", a.status)
			}
			seen[a.header.Get("X-Backend")] = true
		}
		if !seen["app-a"] || !seen["app-b"] {
			t.Fatalf("before the failure only %v answered", seen)
		}

		d.app.stop("app-a") // its pooled connections from web-a die with it
		for i := range 20 {
			uri := fmt.Sprintf("/app/echo?after=%d", i)
			lines := []string(nil)
			if i%2 == 1 {
				lines = []string{"Cookie: JSESSIONID=aaaOwnedByTheDeadServer"} // app-a's session
			}
			a := cc.do("GET", dpReq("GET", uri, lines...))
			if a.status != 200 || a.header.Get("X-Backend") != "app-b" || string(a.body) != "app-b GET "+uri || a.close {
				t.Fatalf("GET %s with app-a stopped = %d %q from %q (close %v)", uri, a.status, a.body, a.header.Get("X-Backend"), a.close)
			}
		}
		if got := d.app.received("/app/echo?after=0"); len(got) != 1 {
			t.Errorf("the first request after app-a stopped reached the app tier %d times", len(got))
		}

		d.app.stop("app-b")
		for i, method := range []string{"GET", "HEAD", "GET"} {
			start := time.Now()
			a := cc.do(method, dpReq(method, fmt.Sprintf("/app/echo?down=%d", i)))
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("%s with the app tier down took %s", method, took)
			}
			if a.status != 503 || a.header.Get("Retry-After") != "1" || a.header.Get("Cache-Control") != "no-store" ||
				!strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s with the app tier down = %d %v", method, a.status, a.header)
			}
			if method == "GET" && (!strings.Contains(string(a.body), "503 Service Unavailable") || !strings.Contains(string(a.body), "<code>app</code>")) {
				t.Errorf("503 page %q does not name the status and the cluster", a.body)
			}
			if method == "HEAD" && len(a.body) != 0 {
				t.Errorf("HEAD 503 with a body %q", a.body)
			}
		}
		// The web tier's own files are still served, on the same connection.
		cc.get("/index.html", "web page")
	})
}

// TestDataPlaneSilentBackendAnswers504: an app server that takes the
// request and never answers gets load-balance-socket-timeout (1 s), then
// the client a 504 page, and its connection serves on.
func TestDataPlaneSilentBackendAnswers504(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		cc := d.dial(t)
		cc.get("/index.html", "web page")
		for i, method := range []string{"GET", "HEAD"} {
			uri := fmt.Sprintf("/slow/never?%d", i)
			start := time.Now()
			a := cc.do(method, dpReq(method, uri))
			took := time.Since(start)
			if a.status != 504 {
				t.Fatalf("%s %s = %d %q after %s, want 504", method, uri, a.status, a.body, took)
			}
			if took < 900*time.Millisecond || took > 15*time.Second {
				t.Errorf("%s %s: 504 after %s; the socket timeout is 1s", method, uri, took)
			}
			if method == "GET" && (!strings.Contains(string(a.body), "504 Gateway Timeout") || !strings.Contains(string(a.body), "<code>slow</code>")) {
				t.Errorf("504 page %q does not name the status and the cluster", a.body)
			}
			if got := d.slow.received(); len(got) != i+1 || got[i] != method+" "+uri+" HTTP/1.1" {
				t.Errorf("the silent server received %q", got)
			}
			if a.close {
				t.Fatalf("%s %s: the 504 closed the client's connection", method, uri)
			}
		}
		cc.get("/app/size/100", string(dpPattern(100)))
	})
}

// TestDataPlaneHandsOverWhatItDoesNotServe: after a request the loop
// serves, requests it must hand over — a body, a pipelined pair, a GET
// with a body, a head over its buffer, a static file — are answered on the
// same connection as on the ordinary path, and bad ones get the ordinary
// path's status.
func TestDataPlaneHandsOverWhatItDoesNotServe(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		// first is a request the loop serves, on a new connection.
		first := func(t *testing.T, name string) *dpConn {
			cc := d.dial(t)
			uri := "/app/echo?first=" + name
			if a := cc.do("GET", dpReq("GET", uri)); a.status != 200 || !strings.HasSuffix(string(a.body), " GET "+uri) || a.close {
				t.Fatalf("%s: first GET = %d %q close=%v", name, a.status, a.body, a.close)
			}
			return cc
		}
		// then is the check that the connection still serves.
		then := func(t *testing.T, cc *dpConn, name string) {
			uri := "/app/echo?then=" + name
			if a := cc.do("GET", dpReq("GET", uri)); a.status != 200 || !strings.HasSuffix(string(a.body), " GET "+uri) || a.close {
				t.Fatalf("%s: GET after = %d %q close=%v", name, a.status, a.body, a.close)
			}
		}

		t.Run("post", func(t *testing.T) {
			cc := first(t, "post")
			a := cc.do("POST", "POST /app/echo?post HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nposted-body")
			if a.status != 200 || !strings.HasSuffix(string(a.body), " POST /app/echo?post: posted-body") {
				t.Fatalf("POST = %d %q", a.status, a.body)
			}
			checkHops(t, "POST", a)
			if got := d.app.one(t, "/app/echo?post"); got.method != "POST" || got.body != "posted-body" ||
				got.header.Get("X-Forwarded-For") != "127.0.0.1" || got.header.Get("Via") != "1.1 resind" {
				t.Errorf("the app server received the POST as %s %q with %v", got.method, got.body, got.header)
			}
			then(t, cc, "post")
		})

		t.Run("get with a body", func(t *testing.T) {
			cc := first(t, "getbody")
			a := cc.do("GET", "GET /app/echo?getbody HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd")
			if a.status != 200 || !strings.HasSuffix(string(a.body), " GET /app/echo?getbody: abcd") {
				t.Fatalf("GET with a body = %d %q", a.status, a.body)
			}
			then(t, cc, "getbody")
		})

		t.Run("pipelined", func(t *testing.T) {
			cc := first(t, "pipelined")
			cc.send(dpReq("GET", "/app/echo?pipe=1") + dpReq("HEAD", "/app/echo?pipe=2") + dpReq("GET", "/app/echo?pipe=3"))
			for i, method := range []string{"GET", "HEAD", "GET"} {
				uri := fmt.Sprintf("/app/echo?pipe=%d", i+1)
				a := cc.read(method)
				if a.status != 200 || a.close || (method == "GET") != strings.HasSuffix(string(a.body), " GET "+uri) {
					t.Fatalf("pipelined %s %s = %d %q close=%v", method, uri, a.status, a.body, a.close)
				}
				d.app.one(t, uri)
			}
			then(t, cc, "pipelined")
		})

		t.Run("pipelined with a body", func(t *testing.T) {
			cc := first(t, "pipebody")
			cc.send(dpReq("GET", "/app/echo?pipebody=1") +
				"POST /app/echo?pipebody=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
				dpReq("GET", "/app/echo?pipebody=3"))
			for i, want := range []string{" GET /app/echo?pipebody=1", " POST /app/echo?pipebody=2: hello", " GET /app/echo?pipebody=3"} {
				method := strings.Fields(want)[0]
				a := cc.read(method)
				if a.status != 200 || a.close || !strings.HasSuffix(string(a.body), want) {
					t.Fatalf("pipelined answer %d = %d %q close=%v, want ...%q", i+1, a.status, a.body, a.close, want)
				}
			}
			then(t, cc, "pipebody")
		})

		t.Run("head over the loop's buffer", func(t *testing.T) {
			// 20 KiB: more than the loops read at once, less than
			// header-size-max (64k).
			cc := first(t, "bighead")
			a := cc.do("GET", dpReq("GET", "/app/echo?bighead", "X-Big: "+strings.Repeat("b", 20<<10)))
			if a.status != 200 || !strings.HasSuffix(string(a.body), " GET /app/echo?bighead") {
				t.Fatalf("GET with a 20 KiB head = %d %q", a.status, a.body)
			}
			if got := d.app.one(t, "/app/echo?bighead"); len(got.header.Get("X-Big")) != 20<<10 {
				t.Errorf("X-Big reached the app server with %d bytes", len(got.header.Get("X-Big")))
			}
			then(t, cc, "bighead")
		})

		t.Run("static file", func(t *testing.T) {
			cc := first(t, "static")
			cc.get("/index.html", "web page")
			a := cc.do("HEAD", dpReq("HEAD", "/index.html"))
			if a.status != 200 || len(a.body) != 0 || a.header.Get("Content-Length") != "8" {
				t.Fatalf("HEAD /index.html = %d %q Content-Length %q", a.status, a.body, a.header.Get("Content-Length"))
			}
			if got := d.app.received("/index.html"); len(got) != 0 {
				t.Errorf("a static file went to the app tier")
			}
			then(t, cc, "static")
		})

		// Bad requests get the ordinary path's status and end the
		// connection; nothing of them reaches the app tier.
		for _, bad := range []struct {
			name, raw string
			status    int
		}{
			{"malformed", "GET /app/echo?malformed HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400},
			{"no host", "GET /app/echo?nohost HTTP/1.1\r\n\r\n", 400},
			{"head over header-size-max", dpReq("GET", "/app/echo?hugehead", "X-Big: "+strings.Repeat("b", 70<<10)), 431},
		} {
			t.Run(bad.name, func(t *testing.T) {
				cc := first(t, strings.ReplaceAll(bad.name, " ", "-"))
				a := cc.do("GET", bad.raw)
				if a.status != bad.status {
					t.Fatalf("%s = %d %q, want %d", bad.name, a.status, a.body, bad.status)
				}
				if !a.close && !cc.closed() {
					t.Errorf("%s: the connection stayed open after the %d", bad.name, a.status)
				}
				for _, uri := range []string{"/app/echo?malformed", "/app/echo?nohost", "/app/echo?hugehead"} {
					if got := d.app.received(uri); len(got) != 0 {
						t.Errorf("%s reached the app tier", uri)
					}
				}
				// A new connection is served at once.
				d.dial(t).get("/app/size/100", string(dpPattern(100)))
			})
		}
	})
}

// TestDataPlaneKnobIsLoggedAtStart: the startup line that tells the epoll
// data plane is on, and that a GET is answered either way (the check of
// the line itself is newDPSite's, in every test of this file).
func TestDataPlaneKnobIsLoggedAtStart(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		d.dial(t).get("/app/size/100", string(dpPattern(100)))
		if on := strings.Contains(d.log("web-a"), dpLogLine); on != d.epoll {
			t.Errorf("%s mode: %q in web-a's log is %v", d.mode, dpLogLine, on)
		}
	})
}

// TestDataPlaneHttpProxySessions: HttpProxy requests carry their session to
// the app server in X-Resin-Session-Id (from the cookie or the
// ;jsessionid= parameter), never one the client sent in that field, and a
// web-app with sessions issues one to a request without; both planes
// alike (the epoll plane proxies the first kinds itself and leaves the
// issuing to the ordinary path).
func TestDataPlaneHttpProxySessions(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		cc := d.dial(t)
		steps := []struct {
			uri   string
			lines []string
			want  string // X-Resin-Session-Id at the app server; "issued": the Set-Cookie's
		}{
			{"/px/echo?n=1", nil, ""},
			{"/px/echo?n=2", []string{"Cookie: a=1; JSESSIONID=test-cookie-1"}, "test-cookie-1"},
			{"/px/echo?n=3", []string{"X-Resin-Session-Id: test-forged"}, ""},
			{"/px/echo?n=4", []string{"Cookie: JSESSIONID=test-cookie-2", "X-Resin-Session-Id: test-forged"}, "test-cookie-2"},
			{"/px/echo;jsessionid=test-param-3?n=5", nil, "test-param-3"},
			{"/s/px/echo?n=6", []string{"Cookie: JSESSIONID=test-cookie-4"}, "test-cookie-4"},
			{"/s/px/echo?n=7", nil, "issued"},
			{"/px/echo?n=8", []string{"Cookie: JSESSIONID=test-cookie-5"}, "test-cookie-5"},
		}
		for _, st := range steps {
			a := cc.do("GET", dpReq("GET", st.uri, st.lines...))
			if a.status != 200 {
				t.Fatalf("GET %s = %d %q", st.uri, a.status, a.body)
			}
			got := d.app.one(t, st.uri)
			id := got.header.Get("X-Resin-Session-Id")
			if n := len(got.header["X-Resin-Session-Id"]); n > 1 {
				t.Errorf("GET %s: the app server got %d X-Resin-Session-Id fields", st.uri, n)
			}
			if st.want != "issued" {
				if id != st.want || a.header.Get("Set-Cookie") != "" {
					t.Errorf("GET %s: the app server got X-Resin-Session-Id %q, want %q; Set-Cookie %q", st.uri, id, st.want, a.header.Get("Set-Cookie"))
				}
				continue
			}
			cookie := a.header.Get("Set-Cookie")
			if id == "" || !strings.HasPrefix(cookie, "JSESSIONID="+id+";") {
				t.Errorf("GET %s: Set-Cookie %q, the app server got X-Resin-Session-Id %q: want the issued id in both", st.uri, cookie, id)
			}
		}
		// The epoll plane proxied every step itself but the one that
		// issued a session.
		_, body := get(t, "http://"+d.addr+"/resin-admin/api/status")
		var status struct {
			FastPath uint64 `json:"fast_path_requests"`
		}
		if err := json.Unmarshal([]byte(body), &status); err != nil {
			t.Fatalf("/resin-admin/api/status: %v\n%s", err, body)
		}
		want := uint64(0)
		if d.epoll {
			want = uint64(len(steps) - 1)
		}
		if status.FastPath != want {
			t.Errorf("%s plane: fast_path_requests = %d, want %d", d.mode, status.FastPath, want)
		}
	})
}

// TestDataPlaneAnswersPipelinedRequests: requests pipelined in one write
// are answered in order on both planes, and the epoll plane answers those
// of its routes itself, one after the other, instead of handing the
// connection over (/resin-admin's fast-path count). A request it does not
// serve (a static file) takes what follows it to the ordinary path; one
// with Connection: close ends the connection, and what was pipelined
// after it reaches no app server; a 504 page, finished on the ordinary
// path, is followed by the request pipelined after it.
func TestDataPlaneAnswersPipelinedRequests(t *testing.T) {
	dpEach(t, func(t *testing.T, d *dpSite) {
		fastPath := func() uint64 {
			t.Helper()
			_, body := get(t, "http://"+d.addr+"/resin-admin/api/status")
			var st struct {
				FastPath uint64 `json:"fast_path_requests"`
			}
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatalf("/resin-admin/api/status: %v\n%s", err, body)
			}
			return st.FastPath
		}
		// expect reads the answers to what was pipelined, in order: a
		// GET's body ends with the echo of its request, a HEAD's is
		// empty.
		expect := func(cc *dpConn, name string, methods, uris []string) {
			t.Helper()
			for i, method := range methods {
				a := cc.read(method)
				echoed := strings.HasSuffix(string(a.body), " GET "+uris[i])
				if a.status != 200 || (method == "GET") != echoed {
					t.Fatalf("%s: answer %d to %s %s = %d %q", name, i+1, method, uris[i], a.status, a.body)
				}
			}
		}

		// Four requests of the loop's route in one write.
		cc := d.dial(t)
		methods := []string{"GET", "HEAD", "GET", "GET"}
		var uris []string
		var all strings.Builder
		for i, m := range methods {
			uris = append(uris, fmt.Sprintf("/app/echo?pipe=%d", i+1))
			all.WriteString(dpReq(m, uris[i]))
		}
		cc.send(all.String())
		expect(cc, "four pipelined", methods, uris)
		for _, u := range uris {
			d.app.one(t, u)
		}
		cc.get("/app/size/100", string(dpPattern(100)))
		want := uint64(0)
		if d.epoll {
			want = 5
		}
		if got := fastPath(); got != want {
			t.Errorf("%s plane: fast_path_requests = %d after five requests on one connection, four pipelined, want %d", d.mode, got, want)
		}

		// A static file between two: the rest goes on the ordinary path.
		cc = d.dial(t)
		cc.send(dpReq("GET", "/app/echo?static=1") + dpReq("GET", "/index.html") + dpReq("GET", "/app/echo?static=3"))
		expect(cc, "static between", []string{"GET"}, []string{"/app/echo?static=1"})
		if a := cc.read("GET"); a.status != 200 || string(a.body) != "web page" {
			t.Fatalf("static between: GET /index.html = %d %q", a.status, a.body)
		}
		expect(cc, "static between", []string{"GET"}, []string{"/app/echo?static=3"})
		d.app.one(t, "/app/echo?static=1")
		d.app.one(t, "/app/echo?static=3")
		if d.epoll {
			want++
		}

		// Connection: close: answered, then the connection ends.
		cc = d.dial(t)
		cc.send(dpReq("GET", "/app/echo?close=1") + dpReq("GET", "/app/echo?close=2", "Connection: close") + dpReq("GET", "/app/echo?close=3"))
		expect(cc, "close", []string{"GET", "GET"}, []string{"/app/echo?close=1", "/app/echo?close=2"})
		if !cc.closed() {
			t.Fatalf("close: the connection is still open after the answer to Connection: close")
		}
		d.app.one(t, "/app/echo?close=1")
		d.app.one(t, "/app/echo?close=2")
		if d.epoll {
			want += 2
		}
		if got := fastPath(); got != want {
			t.Errorf("%s plane: fast_path_requests = %d, want %d", d.mode, got, want)
		}
		if got := len(d.app.received("/app/echo?close=3")); got != 0 {
			t.Errorf("close: the request pipelined after Connection: close reached the app tier %d times", got)
		}

		// A 504 page (the ordinary path finishes it), then the next.
		cc = d.dial(t)
		cc.send(dpReq("GET", "/slow/x") + dpReq("GET", "/app/echo?after504=1"))
		if a := cc.read("GET"); a.status != 504 {
			t.Fatalf("GET /slow/x = %d %q, want 504", a.status, a.body)
		}
		expect(cc, "after a 504", []string{"GET"}, []string{"/app/echo?after504=1"})
		d.app.one(t, "/app/echo?after504=1")
	})
}
