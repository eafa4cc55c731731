package core

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"resind/conf"
)

func TestNewRefusesAnUnknownServer(t *testing.T) {
	t.Parallel()
	_, err := New(testConfig(testHost("", nil)), Options{ServerID: "nope"})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("New = %v, want an error naming the server", err)
	}
	if _, err := New(testConfig(testHost("", nil)), Options{}); err == nil {
		t.Fatal("New without id on a two-server config should fail")
	}
}

func TestLoadBalanceToAMissingClusterIsRefusedWithItsPosition(t *testing.T) {
	t.Parallel()
	lb := testRule(conf.LoadBalance, `^/`, "")
	lb.Cluster = "missing"
	_, err := New(testConfig(testHost("", nil, testApp("", t.TempDir(), lb))), Options{ServerID: "web-a"})
	var ce *conf.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), lb.Pos.String()+": ") || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("New = %v, want a *conf.Error at %s naming the cluster", err, lb.Pos)
	}
}

func TestListenAndServeAnswerOnEveryListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "home"})
	s := newServer(t, testConfig(testHost("", nil, testApp("", dir))))
	base := startServer(t, s)
	if addrs := s.Addrs(); len(addrs) != 2 || !strings.HasPrefix(addrs[0], "http 127.0.0.1:") ||
		!strings.HasPrefix(addrs[1], "cluster 127.0.0.1:") || strings.HasSuffix(addrs[0], ":0") {
		t.Fatalf("Addrs = %v", addrs)
	}
	for _, u := range []string{base + "/", "http://" + addrOf(t, s, "cluster") + "/"} {
		if resp, body := get(t, u); resp.StatusCode != 200 || body != "home" {
			t.Errorf("GET %s = %d %q", u, resp.StatusCode, body)
		}
	}
}

func TestListenFailureNamesTheAddressAndLeavesNothingBound(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().(*net.TCPAddr)
	free.Close()

	cfg := testConfig(testHost("", nil))
	sc := cfg.Clusters[0].Servers[0]
	sc.HTTP = []conf.Listener{{Address: "127.0.0.1", Port: freeAddr.Port}}
	sc.Port = busy.Addr().(*net.TCPAddr).Port
	s := newServer(t, cfg)
	err = s.Listen()
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("Listen = %v, want an error naming %s", err, busy.Addr())
	}
	// The <http> port bound before the failure was released.
	ln, err := net.Listen("tcp", freeAddr.String())
	if err != nil {
		t.Fatalf("%s still bound after the failed Listen: %v", freeAddr, err)
	}
	ln.Close()
}

func TestApplySwapsInANewRule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "home"})
	s := newServer(t, testConfig(testHost("", nil, testApp("", dir))))
	base := startServer(t, s)
	if resp, _ := get(t, base+"/moved"); resp.StatusCode != 404 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	if err := s.Apply(testConfig(testHost("", nil, testApp("", dir, testRule(conf.Redirect, `^/moved`, "/index.html"))))); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, base+"/moved"); resp.StatusCode != 302 {
		t.Fatalf("after Apply: %d, want 302", resp.StatusCode)
	}
	if st := s.Status(); !st.LastReload.OK || st.LastReload.Time.IsZero() {
		t.Errorf("LastReload = %+v", st.LastReload)
	}
}

func TestApplyRefusesABadSnapshotAndKeepsTheOld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newServer(t, testConfig(testHost("", nil, testApp("", dir, testRule(conf.Forbidden, `^/x`, "")))))
	base := startServer(t, s)

	lb := testRule(conf.LoadBalance, `^/`, "")
	lb.Cluster = "gone"
	err := s.Apply(testConfig(testHost("", nil, testApp("", dir, lb))))
	if err == nil {
		t.Fatal("Apply of a LoadBalance to a missing cluster succeeded")
	}
	if resp, _ := get(t, base+"/x"); resp.StatusCode != 403 {
		t.Errorf("old rule gone after a refused Apply: %d", resp.StatusCode)
	}
	st := s.Status()
	if st.LastReload.OK || !strings.Contains(st.LastReload.Error, lb.Pos.String()) {
		t.Errorf("LastReload = %+v, want the refusal at %s", st.LastReload, lb.Pos)
	}

	// A configuration without this server is refused too.
	other := testConfig(testHost("", nil))
	other.Clusters[0].Servers = other.Clusters[0].Servers[1:]
	if err := s.Apply(other); err == nil || !strings.Contains(err.Error(), "web-a") {
		t.Errorf("Apply without this server = %v", err)
	}

	// Refused records an edit conf.Load could not read.
	s.Refused(errors.New("resin.xml:3: bad"))
	if st := s.Status(); st.LastReload.OK || st.LastReload.Error != "resin.xml:3: bad" {
		t.Errorf("after Refused: %+v", st.LastReload)
	}
	if err := s.Apply(testConfig(testHost("", nil, testApp("", dir)))); err != nil || !s.Status().LastReload.OK {
		t.Errorf("a good Apply after refusals: %v %+v", err, s.Status().LastReload)
	}
}

func TestApplyOpensNewListenersAndClosesVanishedOnes(t *testing.T) {
	t.Parallel()
	for _, dp := range []string{"", DataplaneEpoll} {
		t.Run("dataplane="+dp, func(t *testing.T) {
			t.Parallel()
			applyOpensAndCloses(t, dp)
		})
	}
}

// applyOpensAndCloses: a listener a reload adds answers; one it removes
// stops accepting before Apply returns (with the epoll data plane too,
// whose loops accept on duplicates of the socket).
func applyOpensAndCloses(t *testing.T, dp string) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.html": "home"})
	cfg := testConfig(testHost("", nil, testApp("", dir)))
	s := newServerOn(t, cfg, dp)
	startServer(t, s)
	first := addrOf(t, s, "http")
	port := func(a string) int { _, p, _ := net.SplitHostPort(a); n, _ := strconv.Atoi(p); return n }

	// Add a second <http> on a fixed port; the first (port 0) stays as is.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	second := ln.Addr().String()
	ln.Close()
	cfg2 := testConfig(testHost("", nil, testApp("", dir)))
	cfg2.Clusters[0].Servers[0].HTTP = append(cfg2.Clusters[0].Servers[0].HTTP, conf.Listener{Address: "127.0.0.1", Port: port(second)})
	if err := s.Apply(cfg2); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Addrs(), " "); !strings.Contains(got, "http "+first) || !strings.Contains(got, "http "+second) {
		t.Fatalf("Addrs after adding = %v", s.Addrs())
	}
	if resp, body := get(t, "http://"+second+"/"); resp.StatusCode != 200 || body != "home" {
		t.Errorf("new listener: %d %q", resp.StatusCode, body)
	}

	// Remove the first: it stops accepting.
	cfg3 := testConfig(testHost("", nil, testApp("", dir)))
	cfg3.Clusters[0].Servers[0].HTTP = []conf.Listener{{Address: "127.0.0.1", Port: port(second)}}
	if err := s.Apply(cfg3); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(s.Addrs(), " "), first) {
		t.Errorf("Addrs still lists %s: %v", first, s.Addrs())
	}
	if c, err := net.DialTimeout("tcp", first, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections", first)
	}
	if resp, _ := get(t, "http://"+second+"/"); resp.StatusCode != 200 {
		t.Errorf("remaining listener: %d", resp.StatusCode)
	}
}

func TestShutdownLetsASlowRequestFinish(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("", nil)))
	arrived, release := make(chan struct{}), make(chan struct{})
	s.Mount("/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "finally")
	}))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := addrOf(t, s, "http")

	type result struct {
		code int
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{code: resp.StatusCode, body: string(b)}
	}()
	<-arrived

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// New connections are refused once Shutdown has begun.
	eventually(t, 5*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.code != 200 || r.body != "finally" {
		t.Fatalf("slow request = %d %q %v, want 200 finally", r.code, r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after Shutdown", err)
	}
}

func TestShutdownCutsOffRequestsAtTheDeadline(t *testing.T) {
	t.Parallel()
	s := newServer(t, testConfig(testHost("", nil)))
	arrived, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s.Mount("/stuck", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	go http.Get("http://" + addrOf(t, s, "http") + "/stuck")
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline error", err)
	}
}

func TestStatusCountsRequestsAndErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "a"})
	s := newServer(t, testConfig(testHost("", nil, testApp("", dir))))
	s.Mount("/boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
	base := startServer(t, s)
	for _, p := range []string{"/a.txt", "/a.txt", "/missing", "/boom"} {
		get(t, base+p)
	}
	// A request is counted as it ends, which may be just after the client
	// has read the whole response.
	eventually(t, 5*time.Second, "the four requests to be counted as ended", func() bool {
		st := s.Status()
		return st.Latency.Count() == 4 && st.Errors == 1
	})
	st := s.Status()
	if st.Requests != 4 || st.Errors != 1 {
		t.Errorf("Requests=%d Errors=%d, want 4 and 1", st.Requests, st.Errors)
	}
	if n := st.Latency.Count(); n != 4 || st.Latency.Sum <= 0 || len(st.Latency.Counts) != len(LatencyBuckets)+1 {
		t.Errorf("latency histogram %+v, want 4 requests", st.Latency)
	}
	if st.ServerID != "web-a" || st.ClusterID != "web" || st.ConfigFile != "/test/resin.xml" || len(st.Listeners) != 2 ||
		st.Version == "" || st.PID == 0 || st.Started.IsZero() {
		t.Errorf("Status = %+v", st)
	}
}

func TestAccessLogWritesCombinedFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "abc"})
	var buf syncBuffer
	s, err := New(testConfig(testHost("", nil, testApp("", dir))), Options{ServerID: "web-a", AccessLog: &buf})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, s)
	get(t, base+"/a.txt?x=1", "Referer", "http://ref.test/", "User-Agent", `ua "quoted"`)
	get(t, base+"/missing")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx) // flushes
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log %q, want 2 lines", buf.String())
	}
	want := `"GET /a.txt?x=1 HTTP/1.1" 200 3 "http://ref.test/" "ua \"quoted\""`
	if !strings.HasPrefix(lines[0], "127.0.0.1 - - [") || !strings.HasSuffix(lines[0], want) {
		t.Errorf("line %q, want 127.0.0.1 - - [...] %s", lines[0], want)
	}
	if !strings.Contains(lines[1], `"GET /missing HTTP/1.1" 404 `) {
		t.Errorf("line %q", lines[1])
	}
}

func TestInFlightRequestFinishesOnItsSnapshotAfterApply(t *testing.T) {
	t.Parallel()
	arrived, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "slow answer")
	}))
	defer backend.Close()
	dir := t.TempDir()
	hp := testRule(conf.HttpProxy, `^/slow`, "")
	hp.Backends = []conf.Backend{{Address: backend.Listener.Addr().String()}}
	s := newServer(t, testConfig(testHost("", nil, testApp("", dir, hp))))
	base := startServer(t, s)

	type result struct {
		code int
		body string
	}
	got := make(chan result, 1)
	go func() {
		resp, body := get(t, base+"/slow")
		got <- result{resp.StatusCode, body}
	}()
	<-arrived
	if err := s.Apply(testConfig(testHost("", nil, testApp("", dir)))); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, base+"/slow"); resp.StatusCode != 404 {
		t.Errorf("new request after Apply = %d, want 404 (rule removed)", resp.StatusCode)
	}
	close(release)
	if r := <-got; r.code != 200 || r.body != "slow answer" {
		t.Errorf("in-flight request = %d %q, want 200 from the old snapshot's backend", r.code, r.body)
	}
	if st := s.Status(); len(st.Backends) != 0 {
		t.Errorf("backend still registered after its rule vanished: %+v", st.Backends)
	}
}

func TestLoadBalanceToOwnClusterDoesNotLoop(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	lb := testRule(conf.LoadBalance, `^/`, "")
	lb.Cluster = "web"
	cfg := testConfig(testHost("", nil, testApp("", t.TempDir(), lb)))
	cfg.Clusters[0].Servers = cfg.Clusters[0].Servers[:1]
	cfg.Clusters[0].Servers[0].Port = port
	s := newServer(t, cfg)
	if !strings.Contains(strings.Join(s.Status().Warnings, "\n"), "own cluster") {
		t.Errorf("no warning about balancing to the own cluster: %q", s.Status().Warnings)
	}
	base := startServer(t, s)
	if resp, _ := get(t, base+"/x"); resp.StatusCode != http.StatusLoopDetected {
		t.Errorf("GET = %d, want 508", resp.StatusCode)
	}
}
