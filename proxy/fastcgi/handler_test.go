package fastcgi

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the connections a responder accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// responder serves h over FastCGI with Go's net/http/fcgi on a loopback
// port and returns its address and accept counter.
func responder(t *testing.T, h http.HandlerFunc) (string, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	go fcgi.Serve(cl, h)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), cl
}

func TestHandlerPassesCGIVariablesHeadersAndBody(t *testing.T) {
	t.Parallel()
	addr, _ := responder(t, func(w http.ResponseWriter, r *http.Request) {
		env := fcgi.ProcessEnv(r)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Script", env["SCRIPT_FILENAME"])
		w.Header().Set("X-Remote", r.RemoteAddr)
		w.Header().Set("X-Session", r.Header.Get("X-Resin-Session-Id"))
		w.WriteHeader(201)
		io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(body))
	})
	h := &Handler{Pool: NewAddressPool(addr), Name: addr, Timeout: 5 * time.Second}
	r := httptest.NewRequest("POST", "/app/index.php?a=1", strings.NewReader("payload"))
	r.RemoteAddr = "192.0.2.7:4321"
	r.Header.Set("X-Resin-Session-Id", "aaaSESSION")
	w := httptest.NewRecorder()
	h.Serve(w, r, Script{Name: "/app/index.php", Filename: "/srv/app/index.php", Root: "/srv/app"})
	if w.Code != 201 || w.Body.String() != "POST /app/index.php?a=1 payload" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	if got := w.Header(); got.Get("X-Script") != "/srv/app/index.php" || got.Get("X-Remote") != "192.0.2.7:4321" || got.Get("X-Session") != "aaaSESSION" {
		t.Errorf("header %v", got)
	}
}

func TestHandlerKeepsConnectionsBetweenRequests(t *testing.T) {
	t.Parallel()
	addr, cl := responder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	h := &Handler{Pool: NewAddressPool(addr), Name: addr, Timeout: 5 * time.Second}
	for i := 0; i < 20; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
		if w.Code != 200 || w.Body.String() != "hi" {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body.String())
		}
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d connections, want 1", n)
	}
}

func TestHandlerAnswers502WhenTheApplicationIsUnreachable(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	h := &Handler{Pool: NewAddressPool(addr), Name: addr, Timeout: 5 * time.Second}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 502 || !strings.Contains(w.Body.String(), addr) {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
}

func TestHandlerAnswers504WhenTheApplicationIsSlow(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	addr, _ := responder(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	h := &Handler{Pool: NewAddressPool(addr), Name: addr, Timeout: 200 * time.Millisecond}
	w := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/slow", nil))
	if w.Code != 504 || !strings.Contains(w.Body.String(), "in time") {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("504 after %v", d)
	}
}

// staleIdle makes the pool's idle connection one the responder has closed.
func staleIdle(pool *AddressPool) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	pool.idle[0].nc.(*net.TCPConn).CloseRead()
	pool.idle[0].nc.Close()
	stale := NewConn(pool.idle[0].nc)
	stale.reused = true
	stale.idle = time.Now() // young enough for the pool to hand it out
	pool.idle[0] = stale
}

func TestHandlerRetriesOnceWhenAnIdleConnectionWasClosed(t *testing.T) {
	t.Parallel()
	addr, cl := responder(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	pool := NewAddressPool(addr)
	h := &Handler{Pool: pool, Name: addr, Timeout: 5 * time.Second}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	staleIdle(pool)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Errorf("after a stale connection: %d %q (%d connections)", w.Code, w.Body.String(), cl.n.Load())
	}
}

// A POST that fails on a kept connection may have been what killed the
// responder: it is answered 502, not sent again (unless it says it carries
// an idempotency key).
func TestHandlerDoesNotReplayAPostOnAClosedIdleConnection(t *testing.T) {
	t.Parallel()
	var posts atomic.Int64
	addr, _ := responder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			posts.Add(1)
		}
		io.WriteString(w, "ok")
	})
	pool := NewAddressPool(addr)
	h := &Handler{Pool: pool, Name: addr, Timeout: 5 * time.Second}
	for _, tc := range []struct {
		key  string
		want int
	}{{"", 502}, {"k-1", 200}} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		staleIdle(pool)
		before := posts.Load()
		r := httptest.NewRequest("POST", "/", strings.NewReader("a=1"))
		if tc.key != "" {
			r.Header.Set("Idempotency-Key", tc.key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("POST (Idempotency-Key %q) on a closed idle connection: %d, want %d", tc.key, w.Code, tc.want)
		}
		if n := posts.Load() - before; tc.want == 502 && n != 0 {
			t.Errorf("the POST reached the responder %d times after the 502", n)
		}
	}
}

func TestHandlerSendsLargeAndChunkedBodies(t *testing.T) {
	t.Parallel()
	addr, _ := responder(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Length", r.Header.Get("Content-Length"))
		fmt.Fprintf(w, "%d %x", len(b), sha256.Sum256(b))
	})
	h := &Handler{Pool: NewAddressPool(addr), Name: addr, Timeout: 10 * time.Second}
	big := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16) // past several records and writes
	for _, chunked := range []bool{false, true} {
		r := httptest.NewRequest("POST", "/upload", bytes.NewReader(big))
		if chunked {
			r.ContentLength = -1 // as a chunked request arrives
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		want := fmt.Sprintf("%d %x", len(big), sha256.Sum256(big))
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("chunked=%v: %d %q, want %q", chunked, w.Code, w.Body.String(), want)
		}
	}
	small := &Handler{Pool: NewAddressPool(addr), Name: addr, Timeout: 10 * time.Second, MaxBody: 1000}
	r := httptest.NewRequest("POST", "/upload", bytes.NewReader(big))
	r.ContentLength = -1
	w := httptest.NewRecorder()
	small.ServeHTTP(w, r)
	if w.Code != 413 {
		t.Errorf("a chunked body past MaxBody: %d, want 413", w.Code)
	}
}
