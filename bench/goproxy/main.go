// Command goproxy is the benchmark's yardstick for Go: the standard
// library's httputil.ReverseProxy, round-robin over the backends, with the
// transport's idle pool sized for the load. It shows what net/http costs
// before resind adds anything.
//
//	goproxy -addr 127.0.0.1:9000 127.0.0.1:9001 127.0.0.1:9002
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "loopback address to listen on")
	flag.Parse()
	backends := flag.Args()
	if len(backends) == 0 {
		log.Fatal("usage: goproxy -addr HOST:PORT BACKEND...")
	}
	var next atomic.Uint64
	transport := &http.Transport{
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			b := backends[next.Add(1)%uint64(len(backends))]
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = b
			pr.SetXForwarded()
		},
		Transport: transport,
	}
	srv := &http.Server{Addr: *addr, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
