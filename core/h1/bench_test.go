package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// benchmarkServe measures one kept-alive GET through the server at a
// time over loopback: parse, handler, answer. Compare -benchmem between
// the loop and net/http.
func benchmarkServe(b *testing.B, serve func(net.Listener, http.Handler)) {
	body := strings.Repeat("x", 100)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.Header()["Content-Length"] = []string{"100"}
		io.WriteString(w, body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go serve(ln, h)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	get := &http.Request{Method: http.MethodGet}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, get)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

func BenchmarkServeLoop(b *testing.B) {
	benchmarkServe(b, func(ln net.Listener, h http.Handler) {
		(&Server{Handler: h, ErrorLog: discardLog}).Serve(ln)
	})
}

func BenchmarkServeNetHTTP(b *testing.B) {
	benchmarkServe(b, func(ln net.Listener, h http.Handler) {
		(&http.Server{Handler: h, ErrorLog: discardLog}).Serve(ln)
	})
}
