// Command gofloor is the benchmark's floor for Go: a forwarder that does
// none of a proxy's HTTP work, to show what the Go runtime and the system
// calls alone cost per proxied request on this machine.
//
// It takes each request as wrk sends it (a head, no body, in one read),
// writes it unchanged to the next backend (round-robin over kept
// connections), reads the answer up to its Content-Length and writes it
// unchanged to the client. No parsing beyond finding the ends, no header
// rewriting, no routing, no log: not a proxy, a yardstick. Two ways:
//
//	-mode goroutine  a goroutine per connection on the net package, as
//	                 resind (and every net/http server) is built
//	-mode epoll      one thread, one epoll loop, non-blocking system calls
//	                 (golang.org/x/sys/unix), as nginx is built
//	-mode epoll-raw  the same loop with raw system calls the Go runtime
//	                 does not see: no hand-off of the thread's P around
//	                 each call, no scheduler wake-ups
//	-mode epoll-raw-http
//	                 the raw loop doing a lean proxy's HTTP work (httpwork.go):
//	                 strict parsing, routing, stickiness, header rewriting
//	                 both ways, a buffered access log (-log FILE)
//
// What separates the goroutine floor from nginx is what Go's runtime costs
// around each system call and wait (a read that finds nothing, park,
// netpoll, unpark, threads handing the P over); what separates resind from
// the goroutine floor is resind's own work. The raw loop shows what is left
// when the runtime is out of the way.
//
//	gofloor -mode goroutine -addr 127.0.0.1:9000 127.0.0.1:9001 127.0.0.1:9002
package main

import (
	"bytes"
	"flag"
	"log"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "loopback address to listen on")
	mode := flag.String("mode", "goroutine", "goroutine, epoll, epoll-raw or epoll-raw-http")
	logPath := flag.String("log", os.DevNull, "access log of -mode epoll-raw-http")
	flag.Parse()
	backends := flag.Args()
	if len(backends) == 0 {
		log.Fatal("usage: gofloor -mode goroutine|epoll|epoll-raw|epoll-raw-http [-log FILE] -addr HOST:PORT BACKEND...")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	switch *mode {
	case "goroutine":
		serveGoroutines(ln, backends)
	case "epoll", "epoll-raw", "epoll-raw-http":
		var work *httpWork
		if *mode == "epoll-raw-http" {
			if work, err = newHTTPWork(*logPath); err != nil {
				log.Fatal(err)
			}
		}
		runtime.LockOSThread()
		if err := serveEpoll(ln.(*net.TCPListener), backends, *mode != "epoll", work); err != nil {
			log.Fatal(err)
		}
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
}

var (
	crlfcrlf      = []byte("\r\n\r\n")
	contentLength = []byte("\r\nContent-Length: ")
)

// complete returns the length of the answer at the start of b, or 0 while
// its head or body is still incomplete.
func complete(b []byte) int {
	end := bytes.Index(b, crlfcrlf)
	if end < 0 {
		return 0
	}
	n := end + len(crlfcrlf)
	if i := bytes.Index(b[:end+2], contentLength); i >= 0 {
		v := b[i+len(contentLength):]
		v = v[:bytes.IndexByte(v, '\r')]
		l, err := strconv.Atoi(string(v))
		if err != nil {
			return 0
		}
		n += l
	}
	if len(b) < n {
		return 0
	}
	return n
}

// ---------------------------------------------------------------- goroutines

func serveGoroutines(ln net.Listener, backends []string) {
	idle := make([]chan net.Conn, len(backends))
	for i := range idle {
		idle[i] = make(chan net.Conn, 1024)
	}
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			in := make([]byte, 8<<10)
			out := make([]byte, 16<<10)
			for {
				n, err := c.Read(in)
				if err != nil || !bytes.HasSuffix(in[:n], crlfcrlf) {
					return
				}
				i := int(next.Add(1) % uint64(len(backends)))
				var b net.Conn
				select {
				case b = <-idle[i]:
				default:
					if b, err = net.Dial("tcp", backends[i]); err != nil {
						return
					}
				}
				m, ok := exchange(b, in[:n], out)
				if !ok {
					b.Close()
					return
				}
				select {
				case idle[i] <- b:
				default:
					b.Close()
				}
				if _, err := c.Write(out[:m]); err != nil {
					return
				}
			}
		}()
	}
}

// exchange writes req to b and reads the whole answer into out.
func exchange(b net.Conn, req, out []byte) (int, bool) {
	if _, err := b.Write(req); err != nil {
		return 0, false
	}
	m := 0
	for {
		k, err := b.Read(out[m:])
		if err != nil {
			return 0, false
		}
		m += k
		if n := complete(out[:m]); n > 0 {
			return n, n == m
		}
		if m == len(out) {
			return 0, false
		}
	}
}
