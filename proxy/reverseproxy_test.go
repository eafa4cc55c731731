package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// echoHeaders answers with the request line and headers the backend saw.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "X-Resp-Hop")
	w.Header().Set("X-Resp-Hop", "secret")
	w.Header().Set("Proxy-Authenticate", "Basic")
	w.Header().Set("X-End", "kept")
	json.NewEncoder(w).Encode(map[string]any{"uri": r.RequestURI, "host": r.Host, "header": r.Header})
}

func TestHopByHopHeadersRemovedAndForwardedHeadersSet(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", echoHeaders)
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	req, _ := http.NewRequest(http.MethodGet, fe.URL+"/shop;jsessionid=baa123?q=1", nil)
	req.Host = "www.example.com"
	req.Header.Set("Connection", "X-Hop, keep-alive")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Via", "1.0 edge")
	req.Header.Set("X-End", "kept")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var seen struct {
		URI, Host string
		Header    http.Header
	}
	if err := json.NewDecoder(res.Body).Decode(&seen); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "Te"} {
		if v, ok := seen.Header[k]; ok {
			t.Errorf("backend received hop-by-hop %s: %v", k, v)
		}
	}
	want := map[string]string{
		"X-Forwarded-For":   "203.0.113.9, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "www.example.com",
		"Via":               "1.0 edge, 1.1 resind",
		"X-End":             "kept",
	}
	for k, v := range want {
		if got := strings.Join(seen.Header[k], ","); got != v {
			t.Errorf("backend saw %s: %q, want %q", k, got, v)
		}
	}
	if seen.URI != "/shop;jsessionid=baa123?q=1" {
		t.Errorf("backend saw URI %q; the path must be passed unchanged", seen.URI)
	}
	if seen.Host != "www.example.com" {
		t.Errorf("backend saw Host %q", seen.Host)
	}
	for _, k := range []string{"X-Resp-Hop", "Proxy-Authenticate"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("client received hop-by-hop %s: %q", k, v)
		}
	}
	if res.Header.Get("X-End") != "kept" || res.Header.Get("Via") != "1.1 resind" {
		t.Errorf("response headers: X-End %q, Via %q", res.Header.Get("X-End"), res.Header.Get("Via"))
	}
}

func TestStreamingResponseFirstChunkArrivesBeforeBackendFinishes(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	})
	done := sync.OnceFunc(func() { close(release) })
	t.Cleanup(done) // before the backend's Close, which waits for it
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fe.URL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	done() // the backend finishes only now
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestChunkedRequestBodyIsForwarded(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %s", strings.Join(r.TransferEncoding, ","), len(body), body[:10])
	})
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	pr, pw := io.Pipe()
	go func() {
		for i := range 100 {
			fmt.Fprintf(pw, "chunk%04d|", i)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPut, fe.URL+"/upload", pr)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if string(got) != "chunked 1000 chunk0000|" {
		t.Errorf("backend saw %q, want the whole chunked body", got)
	}
}

func TestExpectContinueBodyIsForwarded(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, fe.URL, strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if got, _ := io.ReadAll(res.Body); string(got) != "payload" {
		t.Errorf("backend echoed %q", got)
	}
}

func TestClientCancelCancelsUpstreamRequest(t *testing.T) {
	t.Parallel()
	started, cancelled := make(chan struct{}), make(chan struct{})
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	reg := newTestRegistry(t)
	fe := front(t, reg.Balancer(target("app", be.addr())))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fe.URL, nil)
	errc := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend's request was not cancelled when the client went away")
	}
	<-errc
	eventually(t, "the request to end", func() bool { return statusOf(reg, be.addr()).Active == 0 })
	if s := statusOf(reg, be.addr()); s.State != "up" {
		t.Errorf("a client going away made the backend %q", s.State)
	}
}

func TestSocketTimeoutAnswers504(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	tg := target("app", be.addr())
	tg.Backends[0].Timeout.LoadBalanceSocketTimeout = 50 * time.Millisecond
	fe := front(t, newTestRegistry(t).Balancer(tg))
	if code, _, _ := get(t, fe.URL); code != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", code)
	}
}

func TestWebSocketUpgradeIsPassedThrough(t *testing.T) {
	t.Parallel()
	be := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		io.Copy(conn, brw) // echo
	})
	fe := front(t, newTestRegistry(t).Balancer(target("app", be.addr())))
	conn, err := net.Dial("tcp", fe.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("upgrade answered %d, Upgrade %q", res.StatusCode, res.Header.Get("Upgrade"))
	}
	for _, msg := range []string{"ping\n", "second message\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
	}
}

func BenchmarkProxyGet(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	defer be.Close()
	bl := NewRegistry(nil).Balancer(Target{Name: "app", Backends: []Backend{{ID: "a", Address: be.Listener.Addr().String()}}})
	fe := httptest.NewServer(bl)
	defer fe.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(fe.URL)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
}
