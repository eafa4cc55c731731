// Command backend is the origin server of the benchmarks: a tiny net/http
// server answering every request with a small fixed body. Paths containing
// "/cached" are answered with Cache-Control: max-age=60 so that proxy caches
// may keep them; every other path says nothing about caching.
//
//	backend -addr 127.0.0.1:9001 [-size 100]
//
// GET /_count answers the number of requests served so far (not counting
// itself), so the benchmark can check that cache hits never reached it.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "loopback address to listen on")
	size := flag.Int("size", 100, "bytes in each response body")
	flag.Parse()

	body := bytes.Repeat([]byte("x"), *size)
	if *size > 0 {
		body[len(body)-1] = '\n'
	}
	length := strconv.Itoa(len(body))
	var served atomic.Int64

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_count" {
			w.Write([]byte(strconv.FormatInt(served.Load(), 10) + "\n"))
			return
		}
		served.Add(1)
		hdr := w.Header()
		hdr["Content-Type"] = []string{"text/plain"}
		hdr["Content-Length"] = []string{length}
		if strings.Contains(r.URL.Path, "/cached") {
			hdr["Cache-Control"] = []string{"max-age=60"}
		}
		w.Write(body)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
