package core

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"resind/internal/porttest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"resind/conf"
)

// limitedServer runs web-a with lim and socket-timeout, serving files from
// a root holding index.html, with /echo mounted: it reads the whole body
// and answers its length, or 500 when reading failed (as a proxy would
// answer 502).
func limitedServer(t *testing.T, lim conf.Limits, socketTimeout time.Duration, tlsc *conf.TLS) (*Server, string) {
	t.Helper()
	return limitedServerOn(t, lim, socketTimeout, tlsc, "")
}

// limitedServerOn is limitedServer on the data plane dp
// (Options.Dataplane).
func limitedServerOn(t *testing.T, lim conf.Limits, socketTimeout time.Duration, tlsc *conf.TLS, dp string) (*Server, string) {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"index.html": "home", "a/b.txt": "b"})
	cfg := testConfig(testHost("", nil, testApp("/", root)))
	for _, s := range cfg.Clusters[0].Servers {
		s.Limits = lim
		s.Timeout.SocketTimeout = socketTimeout
		s.HTTP[0].TLS = tlsc
	}
	s := newServerOn(t, cfg, dp)
	s.Mount("/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d %s", n, r.URL.Path)
	}))
	runServer(t, s)
	kind := "http"
	if tlsc != nil {
		kind = "https"
	}
	return s, addrOf(t, s, kind)
}

// rawExchange writes raw to a new connection to addr and returns the status
// line of the answer ("" when the connection closed without one).
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c := porttest.Dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func TestRequestLimitsAnswerTheirStatus(t *testing.T) {
	t.Parallel()
	lim := conf.Limits{URLLengthMax: 256, HeaderSizeMax: 4 << 10, HeaderCountMax: 10, BodySizeMax: 1000, HeaderTimeout: 5 * time.Second}
	_, addr := limitedServer(t, lim, 5*time.Second, nil)
	many := strings.Repeat("X-A: b\r\n", 11)
	for _, tc := range []struct{ name, raw, want string }{
		{"ok", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
		{"long target", "GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 Request URI Too Long"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 9<<10) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"ten headers", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 9) + "\r\n", "HTTP/1.1 200 OK"},
		{"declared body too large", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", "HTTP/1.1 413 Request Entity Too Large"},
		{"body at the limit", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + strings.Repeat("a", 1000), "HTTP/1.1 200 OK"},
		{"chunked body too large", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n" + strings.Repeat("a", 1001) + "\r\n0\r\n\r\n", "HTTP/1.1 413 Request Entity Too Large"},
	} {
		if got := rawExchange(t, addr, tc.raw); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDotSegmentsAreResolvedOnceForEveryone(t *testing.T) {
	t.Parallel()
	_, addr := limitedServer(t, conf.DefaultLimits, 5*time.Second, nil)
	for raw, want := range map[string]string{
		"/x/../echo/a":          "0 /echo/a",
		"/echo/./a/%2e%2e/b":    "0 /echo/b",
		"/echo/a/%2E%2E/%2e/c/": "0 /echo/c/",
	} {
		c, _ := net.Dial("tcp", addr)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", raw)
		b, _ := io.ReadAll(c)
		c.Close()
		if !bytes.HasSuffix(b, []byte("\r\n\r\n"+want)) {
			t.Errorf("%s: the handler saw %q, want %q", raw, b, want)
		}
	}
	if got := rawExchange(t, addr, "GET /../index.html HTTP/1.1\r\nHost: x\r\n\r\n"); got != "HTTP/1.1 404 Not Found" {
		t.Errorf("above the root: %q", got)
	}
}

func TestSlowHeadersAndSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	lim := conf.DefaultLimits
	lim.HeaderTimeout = 500 * time.Millisecond
	_, addr := limitedServer(t, lim, time.Second, nil)

	// Headers that never end: the connection is closed after the header
	// timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("slow headers: connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("slow headers held the connection %s", d)
	}

	// A body that stops: 408 after socket-timeout.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	start = time.Now()
	io.WriteString(c2, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c2).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408") {
		t.Fatalf("stalled body: %q %v", line, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stalled body held the request %s", d)
	}
}

func TestConnectionMaxQueuesTheNextConnection(t *testing.T) {
	t.Parallel()
	for _, dp := range []string{"", DataplaneEpoll} {
		t.Run("dataplane="+dp, func(t *testing.T) {
			t.Parallel()
			connectionMaxQueues(t, dp)
		})
	}
}

// connectionMaxQueues: with connection-max 2 and two kept-alive clients, a
// third waits in the kernel's queue until one of them closes (on the
// epoll data plane, the loop stops accepting and looks again each tick).
func connectionMaxQueues(t *testing.T, dp string) {
	lim := conf.DefaultLimits
	lim.ConnectionMax = 2
	_, addr := limitedServerOn(t, lim, 5*time.Second, nil, dp)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c) // kept alive: each holds a slot
	}
	third, err := net.Dial("tcp", addr) // the kernel accepts it; resind does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	fmt.Fprint(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("a third connection was served while two held the limit of 2")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the queued connection after a slot freed: %v %v", resp, err)
	}
}

// A connection under connection-max keeps the TCP connection's ReadFrom
// (static files go out with sendfile through it), gives its slot back once
// however often it is closed, and Close ends an Accept waiting for a slot.
func TestLimitListenerKeepsSendfileAndCountsEachConnectionOnce(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 1)
	defer ln.Close()
	accept := func() (net.Conn, error) {
		porttest.Dial(t, inner.Addr().String())
		return ln.Accept()
	}
	c, err := accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Errorf("accepted %T: no ReadFrom, so no sendfile for static files", c)
	}
	c.Close()
	c.Close() // a second close must not free a second slot
	c, err = accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	porttest.Dial(t, inner.Addr().String()) // waits: the one slot is taken
	waited := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		waited <- err
	}()
	select {
	case err := <-waited:
		t.Fatalf("a second connection was accepted (%v) with the limit of 1 held", err)
	case <-time.After(200 * time.Millisecond):
	}
	ln.Close()
	select {
	case err := <-waited:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept waiting for a slot after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end an Accept waiting for a slot")
	}
}

// testCert writes a self-signed certificate for 127.0.0.1 and returns its
// TLS setting and a pool trusting it.
func testCert(t *testing.T) (*conf.TLS, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &conf.TLS{CertificateFile: cf, CertificateKeyFile: kf, MinVersion: tls.VersionTLS12}, pool
}

func TestTLSListenerSpeaksHTTP2AndModernTLSOnly(t *testing.T) {
	t.Parallel()
	tc, pool := testCert(t)
	_, addr := limitedServer(t, conf.DefaultLimits, 5*time.Second, tc)

	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := h2.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(body) != "home" {
		t.Errorf("h2 GET = %d %s %q", resp.StatusCode, resp.Proto, body)
	}
	// A request through HTTP/2 keeps the limits: a long target is 414.
	if resp, err := h2.Get("https://" + addr + "/" + strings.Repeat("a", 9<<10)); err != nil || resp.StatusCode != 414 {
		t.Errorf("h2 long target: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// ... without closing the connection the other streams share.
	reused := false
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	if resp, err := h2.Do(req); err != nil || resp.StatusCode != 200 || !reused {
		t.Errorf("h2 GET after a 414: %v %v, connection reused %v", resp, err, reused)
	} else {
		resp.Body.Close()
	}

	for name, cfg := range map[string]*tls.Config{
		"TLS 1.1":  {RootCAs: pool, MaxVersion: tls.VersionTLS11},
		"CBC only": {RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
	} {
		c, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			c.Close()
			t.Errorf("%s: handshake succeeded", name)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	c.Close()
}

func TestEscapeControls(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/a/b": "/a/b", "/a\r\nSet-Cookie: x=1": "/a%0D%0ASet-Cookie: x=1", "\x00\x7f": "%00%7F"} {
		if got := escapeControls(in); got != want {
			t.Errorf("escapeControls(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasDotSegment(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]bool{"/a/b": false, "/a/.b": false, "/a/..b": false, "/a/.": true, "/a/..": true,
		"/./a": true, "/a/../b": true, "/": false, "/.well-known/x": false, "/...": false} {
		if got := hasDotSegment(p); got != want {
			t.Errorf("hasDotSegment(%q) = %v", p, got)
		}
	}
}

func TestRedirectTargetCannotSplitTheResponse(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("", []*conf.Rule{testRule(conf.Redirect, `^/old/(.*)`, "/new/$1")})))
	w := serve(s, "GET", "/old/a%0d%0aSet-Cookie:%20owned=1")
	loc := w.Header().Get("Location")
	if w.Code != 302 || strings.ContainsAny(loc, "\r\n") || len(w.Header()["Set-Cookie"]) != 0 {
		t.Fatalf("302 %q, headers %v", loc, w.Header())
	}
	if !strings.Contains(loc, "/new/a%0D%0ASet-Cookie:%20owned=1") {
		t.Errorf("Location %q does not carry the path encoded", loc)
	}
}

// FuzzRawRequest sends arbitrary bytes to a listening server with every
// limit set low: the server must answer or close, never panic, and the
// handler must never see a path with dot segments.
func FuzzRawRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"GET /echo/%2e%2e/./a/../b HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"GET http://h/echo/x HTTP/1.1\nHost: y\n\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	root := f.TempDir()
	os.WriteFile(filepath.Join(root, "index.html"), []byte("home"), 0o644)
	cfg := testConfig(testHost("", nil, testApp("/", root)))
	for _, s := range cfg.Clusters[0].Servers {
		s.Limits = conf.Limits{URLLengthMax: 512, HeaderSizeMax: 2048, HeaderCountMax: 8, BodySizeMax: 256, HeaderTimeout: 200 * time.Millisecond}
		s.Timeout.SocketTimeout = 200 * time.Millisecond
	}
	var panics atomic.Int64
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(panicWatch{&panics}), zap.WarnLevel))
	s, err := New(cfg, Options{ServerID: "web-a", DataDir: f.TempDir(), Log: log})
	if err != nil {
		f.Fatal(err)
	}
	var dotted atomic.Int64
	s.Mount("/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasDotSegment(r.URL.Path) {
			if _, ok := cleanPath(r.URL.Path); ok {
				dotted.Add(1)
			}
		}
		io.Copy(io.Discard, r.Body)
	}))
	if err := s.Listen(); err != nil {
		f.Fatal(err)
	}
	go s.Serve()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	addr := strings.TrimPrefix(s.Addrs()[0], "http ")
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(raw)
		c.(*net.TCPConn).CloseWrite()
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the server neither answered nor closed: %v", err)
		}
		if n := panics.Load(); n > 0 {
			t.Fatalf("the server panicked on %q", raw)
		}
		if n := dotted.Load(); n > 0 {
			t.Fatalf("a handler saw dot segments for %q", raw)
		}
	})
}

// panicWatch counts log lines that report a panic.
type panicWatch struct{ n *atomic.Int64 }

func (p panicWatch) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("panic")) {
		p.n.Add(1)
	}
	return len(b), nil
}

func TestRequestLimitsFollowAReload(t *testing.T) {
	t.Parallel()
	lim := conf.DefaultLimits
	s, addr := limitedServer(t, lim, 5*time.Second, nil)
	long := "GET /" + strings.Repeat("a", 600) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	if got := rawExchange(t, addr, long); got != "HTTP/1.1 404 Not Found" {
		t.Fatalf("before the reload: %q", got)
	}
	cfg := s.rt.Load().cfg
	next := *cfg.Clusters[0]
	next.Servers = nil
	for _, sc := range cfg.Clusters[0].Servers {
		c := *sc
		c.Limits.URLLengthMax = 512
		next.Servers = append(next.Servers, &c)
	}
	ncfg := *cfg
	ncfg.Clusters = []*conf.Cluster{&next}
	if err := s.Apply(&ncfg); err != nil {
		t.Fatal(err)
	}
	if got := rawExchange(t, addr, long); got != "HTTP/1.1 414 Request URI Too Long" {
		t.Errorf("after a reload lowering url-length-max: %q", got)
	}
}

// BenchmarkGuard is the cost the limits add to a GET with a browser's
// dozen header fields: compare guard+server with server.
func BenchmarkGuard(b *testing.B) {
	cfg := testConfig(testHost("", nil))
	for _, s := range cfg.Clusters[0].Servers {
		s.Limits = conf.DefaultLimits
	}
	s, err := New(cfg, Options{ServerID: "web-a", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	rt := s.rt.Load()
	g := &guard{s: s, key: rt.listeners[0].key, lim: conf.DefaultLimits}
	r, _ := http.NewRequest("GET", "/shop/catalog/item.html?id=42", nil)
	r.RequestURI = "/shop/catalog/item.html?id=42"
	for _, h := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Cookie", "Referer", "User-Agent", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Upgrade-Insecure-Requests"} {
		r.Header.Set(h, "some value")
	}
	s.Mount("/shop", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w := httptest.NewRecorder()
	b.Run("server", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.ServeHTTP(w, r)
		}
	})
	b.Run("guard+server", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g.ServeHTTP(w, r)
		}
	})
}
