package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"resind/internal/porttest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve starts s on a loopback port and returns its address; Serve's
// result arrives on the channel.
func serve(t *testing.T, s *Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.ErrorLog == nil {
		s.ErrorLog = discardLog
	}
	if s.Fallback == nil {
		s.Fallback = &http.Server{ErrorLog: discardLog}
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), done
}

// client is one raw connection to a server.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c := porttest.Dial(t, addr)
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (cl *client) send(s string) {
	cl.t.Helper()
	if _, err := io.WriteString(cl.c, s); err != nil {
		cl.t.Fatal(err)
	}
}

// response reads one response to a request of method.
func (cl *client) response(method string) *http.Response {
	cl.t.Helper()
	res, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		cl.t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil {
		cl.t.Fatalf("reading the body: %v", err)
	}
	res.Body = io.NopCloser(strings.NewReader(string(body)))
	return res
}

func bodyOf(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// closed waits (up to the connection's deadline) for the server to close
// the connection and fails if anything else arrives first.
// closedByTimeout checks that the connection closes, and not before
// timeout has passed since start (less 50 ms of timer slack).
func (cl *client) closedByTimeout(start time.Time, timeout time.Duration) {
	cl.t.Helper()
	cl.closed(10 * time.Second)
	if d := time.Since(start); d < timeout-50*time.Millisecond {
		cl.t.Errorf("closed after %v, before the %v timeout", d, timeout)
	}
}

func (cl *client) closed(within time.Duration) {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(within))
	b, err := cl.br.ReadByte()
	if err == nil {
		rest, _ := cl.br.Peek(cl.br.Buffered())
		cl.t.Fatalf("got %q, want the connection closed", append([]byte{b}, rest...))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		cl.t.Fatalf("the connection is still open after %v", within)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// refusing reports whether addr no longer accepts connections.
func refusing(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// blocker is a handler that signals when it starts and answers when
// released.
type blocker struct {
	started chan string
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 16), release: make(chan struct{})}
}

func (b *blocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.started <- r.Method
	select {
	case <-b.release:
	case <-r.Context().Done():
		// Close or a Shutdown past its deadline: give up.
		return
	}
	io.WriteString(w, "done "+r.Method+" "+string(body))
}

func (b *blocker) wait(t *testing.T) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started")
	}
}

func TestShutdownClosesIdleAtOnce(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	addr, served := serve(t, s)
	cl := dial(t, addr)
	cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if res := cl.response("GET"); bodyOf(res) != "ok" || res.Close {
		t.Fatalf("first answer: close=%v", res.Close)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Not a wait for a timeout: an idle connection is closed at once.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with only an idle connection", d)
	}
	cl.closed(time.Second)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if !refusing(addr) {
		t.Error("the listener still accepts after Shutdown")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown returned %v, want ErrServerClosed", err)
	}
	if !refusing(ln.Addr().String()) {
		t.Error("Serve left its listener open (net/http closes it when Serve returns)")
	}
}

func TestShutdownLetsInFlightFinish(t *testing.T) {
	shutdownWaitsFor(t, "a request in progress", "GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "done GET ")
}

func TestShutdownWaitsForHandedOver(t *testing.T) {
	// A body: net/http serves it.
	shutdownWaitsFor(t, "a handed-over request", "POST",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody", "done POST body")
}

// shutdownWaitsFor sends request, starts Shutdown while the handler holds
// it, and checks that the listener closes at once, that Shutdown waits for
// the answer (wantBody, closing the connection) and then returns nil.
func shutdownWaitsFor(t *testing.T, what, method, request, wantBody string) {
	t.Helper()
	b := newBlocker()
	s := &Server{Handler: b}
	addr, _ := serve(t, s)
	cl := dial(t, addr)
	cl.send(request)
	b.wait(t)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, 5*time.Second, "the listener to close", func() bool { return refusing(addr) })
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while %s was in progress", err, what)
	default:
	}
	close(b.release)
	res := cl.response(method)
	if got := bodyOf(res); got != wantBody {
		t.Errorf("body %q", got)
	}
	if !res.Close { // ReadResponse took the Connection: close field for Close
		t.Errorf("the answer during Shutdown does not close the connection (Connection %q)", res.Header.Get("Connection"))
	}
	cl.closed(5 * time.Second)
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Shutdown did not return after %s", what)
	}
}

func TestShutdownDeadline(t *testing.T) {
	b := newBlocker()
	defer close(b.release)
	s := &Server{Handler: b}
	addr, _ := serve(t, s)
	loop := dial(t, addr)
	loop.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	b.wait(t)
	handed := dial(t, addr)
	handed.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
	b.wait(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v, want the context's error", err)
	}
	// Both connections are closed once Shutdown has given up.
	loop.closed(5 * time.Second)
	handed.closed(5 * time.Second)
}

func TestClose(t *testing.T) {
	b := newBlocker()
	defer close(b.release)
	s := &Server{Handler: b}
	addr, served := serve(t, s)
	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	b.wait(t)
	// The first request is blocked; this one is served after it, so
	// idle is active. A fresh connection that sent nothing:
	fresh := dial(t, addr)
	busy := dial(t, addr)
	busy.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	b.wait(t)
	handed := dial(t, addr)
	handed.send("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
	b.wait(t)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, c := range []*client{idle, fresh, busy, handed} {
		c.closed(5 * time.Second)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
	if !refusing(addr) {
		t.Error("the listener still accepts after Close")
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := &Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: timeout}
	addr, _ := serve(t, s)
	cl := dial(t, addr)
	start := time.Now()
	cl.send("GET / HTTP/1.1\r\nHost: a\r\n") // half a head, then nothing
	cl.closedByTimeout(start, timeout)       // nothing written, as net/http
}

// TestReadHeaderTimeoutLater checks the head timeout of a request after
// the first one, which starts with the head's first bytes.
func TestReadHeaderTimeoutLater(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), ReadHeaderTimeout: timeout, IdleTimeout: time.Minute}
	addr, _ := serve(t, s)
	cl := dial(t, addr)
	cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	cl.response("GET")
	start := time.Now()
	cl.send("GET / HTTP/1.1\r\nHo")
	cl.closedByTimeout(start, timeout) // well before the idle minute
}

func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), IdleTimeout: idle, ReadHeaderTimeout: time.Minute}
	addr, _ := serve(t, s)
	cl := dial(t, addr)
	cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	cl.response("GET")
	start := time.Now()
	cl.closedByTimeout(start, idle)
}

func TestRequestAsHandlerSeesIt(t *testing.T) {
	type seen struct {
		r     *http.Request
		local net.Addr
		ctx   context.Context
	}
	got := make(chan seen, 4)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		got <- seen{r: r, local: local, ctx: r.Context()}
		io.WriteString(w, "ok")
	})}
	addr, _ := serve(t, s)
	cl := dial(t, addr)
	cl.send("GET /a/b?c=d HTTP/1.1\r\nHost: example.com:81\r\nX-One: 1\r\n\r\n")
	cl.response("GET")
	v := <-got
	r := v.r
	if r.RemoteAddr != cl.c.LocalAddr().String() {
		t.Errorf("RemoteAddr %q, want %q", r.RemoteAddr, cl.c.LocalAddr())
	}
	if v.local == nil || v.local.String() != addr {
		t.Errorf("LocalAddrContextKey %v, want %s", v.local, addr)
	}
	if r.RequestURI != "/a/b?c=d" || r.URL.Path != "/a/b" || r.URL.RawQuery != "c=d" {
		t.Errorf("RequestURI %q URL %q", r.RequestURI, r.URL)
	}
	if r.Host != "example.com:81" || r.Header.Get("Host") != "" || r.Header.Get("X-One") != "1" {
		t.Errorf("Host %q, header %v", r.Host, r.Header)
	}
	if r.Proto != "HTTP/1.1" || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close {
		t.Errorf("Proto %q %d.%d Close %v", r.Proto, r.ProtoMajor, r.ProtoMinor, r.Close)
	}
	// By design (see conn.tmpl in server.go) the context of a request
	// answered on the loop is never cancelled: nothing reads from the
	// client while its handler runs, and a cancellable context costs four
	// allocations per proxied request. Requests handed to net/http keep
	// net/http's contexts.
	if v.ctx.Done() != nil {
		t.Error("the request's context can be cancelled; the loop's contexts are not")
	}

	cl.send("GET / HTTP/1.0\r\n\r\n")
	cl.response("GET")
	if r := (<-got).r; r.Proto != "HTTP/1.0" || r.ProtoMinor != 0 || !r.Close || r.Host != "" {
		t.Errorf("HTTP/1.0 request: Proto %q Close %v Host %q", r.Proto, r.Close, r.Host)
	}
	cl2 := dial(t, addr)
	cl2.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	cl2.response("GET")
	if r := (<-got).r; !r.Close {
		t.Error("Connection: close did not set Request.Close")
	}
}

func TestResponseController(t *testing.T) {
	flushed := make(chan struct{})
	type result struct{ flush, deadline, read, duplex, late error }
	results := make(chan result, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		var res result
		res.deadline = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		res.read = rc.SetReadDeadline(time.Now().Add(time.Minute))
		res.duplex = rc.EnableFullDuplex()
		io.WriteString(w, "first")
		res.flush = rc.Flush()
		<-flushed // the client has read "first"
		io.WriteString(w, "second")
		// A deadline in the past fails the next write to the socket.
		rc.SetWriteDeadline(time.Now().Add(-time.Second))
		w.Write(make([]byte, 64<<10))
		res.late = rc.Flush()
		results <- res
	})}
	addr, _ := serve(t, s)
	cl := dial(t, addr)
	cl.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	res, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("streamed part %q, %v", first, err)
	}
	close(flushed)
	r := <-results
	if r.flush != nil || r.deadline != nil || r.read != nil || r.duplex != nil {
		t.Errorf("Flush %v, SetWriteDeadline %v, SetReadDeadline %v, EnableFullDuplex %v", r.flush, r.deadline, r.read, r.duplex)
	}
	if r.late == nil {
		t.Error("a write past the write deadline did not fail")
	}
}

// TestConnectionsIndependent checks that a slow request on one connection
// does not hold back another, and that handed-over and loop connections
// are served at the same time.
func TestConnectionsIndependent(t *testing.T) {
	b := newBlocker()
	var once sync.Once
	defer once.Do(func() { close(b.release) })
	mux := http.NewServeMux()
	mux.Handle("/slow", b)
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast") })
	s := &Server{Handler: mux}
	addr, _ := serve(t, s)
	slow := dial(t, addr)
	slow.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	b.wait(t)
	fast := dial(t, addr)
	fast.send("GET /fast HTTP/1.1\r\nHost: a\r\n\r\nPOST /fast HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
	if got := bodyOf(fast.response("GET")); got != "fast" {
		t.Errorf("GET: %q", got)
	}
	if got := bodyOf(fast.response("POST")); got != "fast" {
		t.Errorf("POST after hand-over: %q", got)
	}
	once.Do(func() { close(b.release) })
	if got := bodyOf(slow.response("GET")); got != "done GET " {
		t.Errorf("slow: %q", got)
	}
}

// TestHandedOverHalfCloses checks that net/http can half-close a handed-over
// connection: after refusing a body it has not read, it sends its answer,
// shuts its side at once (the client sees the end of the answer), and
// closes fully only half a second later so that the unread body does not
// reset the answer away. Without CloseWrite on the handed connection the
// client waited those 500 ms for the end.
func TestHandedOverHalfCloses(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10)); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	})}
	addr, _ := serve(t, s)
	body := strings.Repeat("b", 64<<10)
	// Without the half-close every try takes the full 500 ms; a loaded
	// machine may delay one try that long, not three.
	var took []time.Duration
	for try := 0; try < 3; try++ {
		cl := dial(t, addr)
		cl.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
		res := cl.response("POST")
		if res.StatusCode != http.StatusRequestEntityTooLarge || !res.Close {
			t.Fatalf("status %d close %v", res.StatusCode, res.Close)
		}
		start := time.Now()
		cl.closed(5 * time.Second)
		d := time.Since(start)
		if d < 400*time.Millisecond {
			return
		}
		took = append(took, d)
	}
	t.Errorf("the end of the answer came %v after it (net/http half-closes at once)", took)
}

// TestShutdownFreshConnection checks that a connection which has not sent
// a request holds Shutdown for the grace net/http gives it (5 s from its
// accept, shortened here), not until its head timeout.
func TestShutdownFreshConnection(t *testing.T) {
	defer func(g time.Duration) { newConnGrace = g }(newConnGrace)
	newConnGrace = 300 * time.Millisecond
	s := &Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Minute}
	addr, _ := serve(t, s)
	fresh := dial(t, addr)
	// Wait until the server has the connection: a request on another
	// one is answered after the accept of this one.
	other := dial(t, addr)
	other.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	other.response("GET")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v with a silent connection", d)
	}
	fresh.closed(time.Second)
}

// TestPanicLogged checks that a handler's panic is logged with its value
// and stack, and http.ErrAbortHandler is not, as net/http does.
func TestPanicLogged(t *testing.T) {
	var mu sync.Mutex
	var logged strings.Builder
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/abort" {
				panic(http.ErrAbortHandler)
			}
			panic("boom at " + r.URL.Path)
		}),
		ErrorLog: log.New(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logged.Write(p)
		}), "", 0),
	}
	addr, _ := serve(t, s)
	read := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logged.String()
	}
	cl := dial(t, addr)
	cl.send("GET /abort HTTP/1.1\r\nHost: a\r\n\r\n")
	cl.closed(5 * time.Second)
	if got := read(); got != "" {
		t.Errorf("ErrAbortHandler was logged: %q", got)
	}
	cl = dial(t, addr)
	cl.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	cl.closed(5 * time.Second)
	waitFor(t, 5*time.Second, "the panic to be logged", func() bool {
		return strings.Contains(read(), "boom at /x") && strings.Contains(read(), "goroutine")
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
