package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHttpProxyNeverSendsAPostTwice(t *testing.T) {
	t.Parallel()
	// Both backends read the body, then drop the connection without an
	// answer: the request was sent, so it must not be sent again.
	var posts atomic.Int64
	drop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if r.Method == "POST" {
			posts.Add(1)
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	b1, b2 := httptest.NewServer(drop), httptest.NewServer(drop)
	defer b1.Close()
	defer b2.Close()

	s := newSite(t)
	d := reloadData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)},
		Rule: fmt.Sprintf(`<resin:HttpProxy regexp="^/api/"><addresses>%s %s</addresses></resin:HttpProxy>`,
			b1.Listener.Addr(), b2.Listener.Addr())}
	s.write("resin.xml", reloadConf, d)
	s.start("web-a")

	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/api/order", d.HTTP), "text/plain", strings.NewReader("one order"))
	if err != nil {
		t.Fatalf("POST: the web tier dropped the client's connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Errorf("POST answered %d though no backend answered", resp.StatusCode)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("the POST reached the backends %d times, want exactly once", n)
	}
}

func TestHttpProxySetsForwardingHeaders(t *testing.T) {
	t.Parallel()
	seen := make(chan http.Header, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("X-Seen-Host", r.Host)
		seen <- h
		w.Header().Set("Connection", "X-Private")
		w.Header().Set("X-Private", "hop")
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	s := newSite(t)
	d := reloadData{ports: ports{HTTP: freePort(t), Cluster: freePort(t)},
		Rule: fmt.Sprintf(`<resin:HttpProxy regexp="^/api/" addresses="%s"/>`, backend.Listener.Addr())}
	s.write("resin.xml", reloadConf, d)
	s.start("web-a")

	resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/api/x", d.HTTP), "Host", "shop.example", "Connection", "X-Hop", "X-Hop", "secret")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	h := <-seen
	if !strings.Contains(h.Get("X-Forwarded-For"), "127.0.0.1") || h.Get("X-Forwarded-Host") != "shop.example" ||
		h.Get("X-Forwarded-Proto") != "http" || h.Get("Via") == "" {
		t.Errorf("forwarding headers: %v", h)
	}
	if h.Get("X-Hop") != "" {
		t.Errorf("a header named by Connection reached the backend")
	}
	if resp.Header.Get("X-Private") != "" {
		t.Errorf("a header named by the backend's Connection reached the client")
	}
}
