// Command hello is the small application resind's tests and bench/apps run
// three ways: as a CGI program (-cgi, or when GATEWAY_INTERFACE is set), as
// a FastCGI responder on fd 0 (-fcgi, the socket resind hands it) and as an
// HTTP server on $PORT or $RESIND_APP_SOCKET.
//
//	/          "hello"
//	/pid       its process id
//	/env       the session id, client address and forwarded-for it saw
//	/slow      sleeps ?ms= milliseconds (default 10s) before answering
//	/crash     exits at once with status 3
//	/stderr    writes a line to stderr, then answers
//	/spawn     starts a child `sleep 300` and answers its pid
//	/health    200, or 500 once /sick was requested
//
// Any path ending in one of these names, or ?op=name, does the same.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/fcgi"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	asCGI := flag.Bool("cgi", false, "serve one CGI request")
	asFCGI := flag.Bool("fcgi", false, "serve FastCGI on fd 0")
	flag.Parse()
	h := handler()
	switch {
	case *asCGI || os.Getenv("GATEWAY_INTERFACE") != "":
		if err := cgi.Serve(h); err != nil {
			log.Fatal(err)
		}
	case *asFCGI:
		if err := fcgi.Serve(nil, h); err != nil {
			log.Fatal(err)
		}
	default:
		network, addr := "tcp", "127.0.0.1:"+os.Getenv("PORT")
		if s := os.Getenv("RESIND_APP_SOCKET"); s != "" {
			network, addr = "unix", s
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			log.Fatal(err)
		}
		log.Fatal(http.Serve(ln, h))
	}
}

func handler() http.Handler {
	mux := http.NewServeMux()
	hello := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello\n")
	}
	mux.HandleFunc("/", hello)
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", os.Getpid())
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if host == "" {
			host = r.RemoteAddr
		}
		fmt.Fprintf(w, "session=%s\nforwarded-for=%s\nremote=%s\n",
			r.Header.Get("X-Resin-Session-Id"), r.Header.Get("X-Forwarded-For"), host)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil {
			ms = 10000
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, "slow\n")
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		os.Exit(3)
	})
	mux.HandleFunc("/stderr", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "hello from stderr")
		io.WriteString(w, "logged\n")
	})
	var sick atomic.Bool
	mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		io.WriteString(w, "sick\n")
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/spawn", func(w http.ResponseWriter, r *http.Request) {
		c := exec.Command("sleep", "300")
		if err := c.Start(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d\n", c.Process.Pid)
	})
	// Every path below a prefix answers hello too, so that the app can sit
	// under any web-app and rule.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if op := r.URL.Query().Get("op"); op != "" {
			p = "/" + op // for a CGI script, whose path is its own
		}
		for _, name := range []string{"/pid", "/env", "/slow", "/crash", "/stderr", "/spawn", "/sick", "/health"} {
			if len(p) >= len(name) && p[len(p)-len(name):] == name {
				r.URL.Path = name
				break
			}
		}
		mux.ServeHTTP(w, r)
	})
}
