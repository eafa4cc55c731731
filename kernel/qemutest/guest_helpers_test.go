//go:build qemuguest

package qemutest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"resind/kernel"
	"resind/proxy"
)

// The guest runs these tests as root on a kernel of its own: /resin.ko is
// loaded on port 80 with short timeouts, the backends are Go servers in
// this process or resind itself, loopback only.

const front = "127.0.0.1:80"

var procDir = kernel.DefaultDir

func command(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runCmd runs a command with a bound of 30 s and returns its output.
func runCmd(name string, args ...string) (string, error) {
	return runCmdFor(30*time.Second, name, args...)
}

// runCmdFor is runCmd bounded by d.
func runCmdFor(d time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func openProc(t *testing.T) *kernel.Proc {
	t.Helper()
	p, err := kernel.Open(procDir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func setSruns(t *testing.T, sruns ...kernel.Srun) {
	t.Helper()
	if err := openProc(t).SetSruns(sruns); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backend is an app-tier stand-in: it echoes what it got and names itself.
type backend struct {
	name  string
	index int
	addr  string
	conns atomic.Int64 // connections accepted
	srv   *http.Server
}

func startBackend(t *testing.T, name string, index int) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, index: index, addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", name)
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, no length: chunked
		for range 16 {
			w.Write(chunk)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints) // an interim response before the answer
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("X-Server", name)
		io.WriteString(w, "hinted")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("X-Server", name)
		w.Header().Set("X-Forwarded-For-Seen", r.Header.Get("X-Forwarded-For"))
		if r.URL.Query().Has("login") {
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: proxy.NewSessionID(index), Path: "/"})
		}
		fmt.Fprintf(w, "%s %s %d %x", name, r.Method, len(body), sha256.Sum256(body))
	})
	b.srv = &http.Server{Handler: mux, ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *backend) srun() kernel.Srun {
	s, err := kernel.ParseSrun(strings.Replace(b.addr, ":", " ", 1)+" "+strconv.Itoa(b.index), 0)
	if err != nil {
		panic(err)
	}
	return s
}

// client is a keep-alive HTTP client of the module counting its dials.
type client struct {
	*http.Client
	dials atomic.Int64
}

func newClient() *client {
	c := &client{}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c.Client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 64, DisableCompression: true,
	}}
	return c
}

func (c *client) do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

func (c *client) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+front+path, nil)
	return c.do(t, req)
}

// raw writes req on a fresh connection and returns everything the module
// sends until it closes the connection or wait passes.
func raw(t *testing.T, req string, wait time.Duration) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", front, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	io.WriteString(c, req)
	b, _ := io.ReadAll(c)
	return string(b)
}

// statusOf is the status code of the first response in s, 0 for none.
func statusOf(s string) int {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(s)), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func readStat(t *testing.T, name string) int64 {
	t.Helper()
	b, err := os.ReadFile(procDir + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatalf("stats has no %q:\n%s", name, b)
	return 0
}
