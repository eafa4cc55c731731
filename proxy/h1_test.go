package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests drive the direct path (GET and HEAD) against real backends
// on loopback.

func TestIdleConnectionTheBackendClosedIsReplacedWithoutAnError(t *testing.T) {
	t.Parallel()
	var closed, hits atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "hello")
	}))
	// The backend drops idle keep-alive connections quickly, as many do.
	be.Config.IdleTimeout = 20 * time.Millisecond
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	addr := be.Listener.Addr().String()
	fe := front(t, newTestRegistry(t).Balancer(target("app", addr)))
	for i := range 3 {
		if code, body, _ := get(t, fe.URL+"/page"); code != http.StatusOK || body != "hello" {
			t.Fatalf("GET %d: %d %q", i+1, code, body)
		}
		want := int64(i + 1)
		eventually(t, "the backend to close the idle connection", func() bool { return closed.Load() >= want })
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("3 GETs reached the backend %d times", n)
	}
}

func TestConnectionCloseFromBackendIsNotReused(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	be := newTestBackendWith(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "once")
	}, &conns)
	reg := newTestRegistry(t)
	fe := front(t, reg.Balancer(target("app", be.addr())))
	for range 3 {
		if code, body, h := get(t, fe.URL); code != http.StatusOK || body != "once" || h.Get("Connection") == "close" {
			t.Fatalf("got %d %q, Connection %q", code, body, h.Get("Connection"))
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("3 GETs answered with Connection: close used %d connections, want 3", n)
	}
	eventually(t, "no idle connection", func() bool { return statusOf(reg, be.addr()).Idle == 0 })
}

func TestKeepAliveConnectionIsReusedAcrossRequests(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	be := newTestBackendWith(t, "a", nil, &conns)
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	for range 5 {
		get(t, fe.URL)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 sequential GETs opened %d backend connections, want 1", n)
	}
}

// A sized body that arrives in segments, larger and smaller than the
// proxy's buffer, reaches the client whole, and its connection is kept.
func TestSizedBodyInSegmentsArrivesWholeAndKeepsTheConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	for _, size := range []int{100, 16 << 10, 100 << 10} {
		body := strings.Repeat("0123456789abcdef", size/16)
		be := newTestBackendWith(t, "a", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			f := w.(http.Flusher)
			for i := 0; i < len(body); i += 5000 {
				io.WriteString(w, body[i:min(i+5000, len(body))])
				f.Flush() // a segment of its own
			}
		}, &conns)
		fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
		before := conns.Load()
		for range 3 {
			if code, got, _ := get(t, fe.URL); code != 200 || got != body {
				t.Fatalf("%d bytes in segments: %d, %d bytes back", size, code, len(got))
			}
		}
		if n := conns.Load() - before; n != 1 {
			t.Errorf("3 GETs of a %d-byte body in segments opened %d backend connections, want 1", size, n)
		}
	}
}

func TestOversizedBackendResponseHeaderAnswers502(t *testing.T) {
	t.Parallel()
	huge := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("h", maxResponseHeaderBytes+1))
	}
	a, b := newTestBackend(t, "a", huge), newTestBackend(t, "b", huge)
	fe := front(t, newTestRegistry(t).Balancer(target("app", a.addr(), b.addr())))
	if code, _, _ := get(t, fe.URL); code != http.StatusBadGateway {
		t.Errorf("status %d, want 502 (tried on both backends)", code)
	}
}

func TestInterimResponsesAreSkippedForTheFinalOne(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	})
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	if code, body, _ := get(t, fe.URL); code != http.StatusOK || body != "final" {
		t.Errorf("got %d %q, want 200 \"final\"", code, body)
	}
}

func TestHeadAnswersHeadersWithoutBodyAndKeepsTheConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	be := newTestBackendWith(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		if r.Method == http.MethodGet {
			io.WriteString(w, "hello")
		}
	}, &conns)
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	res, err := http.Head(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.ContentLength != 5 {
		t.Errorf("HEAD: %d, Content-Length %d", res.StatusCode, res.ContentLength)
	}
	if code, body, _ := get(t, fe.URL); code != http.StatusOK || body != "hello" {
		t.Errorf("GET after HEAD: %d %q", code, body)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("HEAD then GET used %d backend connections, want 1", n)
	}
}

func TestChunkedResponseTrailersReachTheClient(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
		w.Header().Set("X-Checksum", "abc123")
	})
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	res, err := http.Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "part one, part two" || res.Trailer.Get("X-Checksum") != "abc123" {
		t.Errorf("body %q, trailer %v", body, res.Trailer)
	}
}

func TestClientLeavingMidBodyClosesTheBackendConnection(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first chunk")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // ends when the proxy closes the connection
		close(gone)
	})
	reg := newTestRegistry(t)
	fe := front(t, reg.Balancer(target("app", be.addr())))
	res, err := http.Get(fe.URL)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("first chunk"))
	if _, err := io.ReadFull(res.Body, buf); err != nil {
		t.Fatal(err)
	}
	res.Body.Close() // the client goes away while the body streams
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend connection stayed open after the client left")
	}
	eventually(t, "the request to end", func() bool { return statusOf(reg, be.addr()).Active == 0 })
}

// BenchmarkWriteRequest is the header rewriting of a forwarded GET: hop-by-hop
// fields dropped, X-Forwarded-* and Via added, written to the backend's
// buffer.
func BenchmarkWriteRequest(b *testing.B) {
	r := httptest.NewRequest(http.MethodGet, "http://www.example.com/lb/plain?q=1", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("User-Agent", "wrk")
	r.Header.Set("Accept", "*/*")
	r.Header.Set("Connection", "keep-alive")
	r.Header.Set("Cookie", "JSESSIONID=baaXYZ")
	bw := bufio.NewWriterSize(io.Discard, 4<<10)
	b.ReportAllocs()
	for b.Loop() {
		writeRequest(bw, r)
		bw.Flush()
	}
}

// BenchmarkCopyResponseHeader is the header rewriting of a backend's
// response on its way to the client.
func BenchmarkCopyResponseHeader(b *testing.B) {
	src := http.Header{
		"Content-Type":   {"text/plain"},
		"Content-Length": {"100"},
		"Date":           {"Mon, 23 Nov 2026 13:19:05 GMT"},
		"Cache-Control":  {"max-age=60"},
	}
	dst := make(http.Header, 8)
	b.ReportAllocs()
	for b.Loop() {
		clear(dst)
		copyResponseHeader(dst, src, nil)
	}
}
