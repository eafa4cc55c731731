// Package loop is resind's epoll data plane for plain listeners
// (docs/dataplane.md): one event loop per P, each a goroutine with its own
// epoll set, answering the requests that are only proxied — a body-less
// GET or HEAD that a <resin:LoadBalance> rule, or an <resin:HttpProxy> to
// addresses, sends to its backends, and the plain fresh hits of a
// <proxy-cache> in front of them — without a goroutine per connection,
// with system calls the Go runtime does not see while the loop is busy.
//
// The loop answers only what it can answer completely; it never answers
// anything a client could tell from the ordinary path's answer. Everything
// else goes on the ordinary path, core/h1 and then net/http, with the
// connection, the bytes already read and, once a request went out to a
// backend, the exchange itself (proxy.Exchange.Finish):
//   - heads that core/h1 would hand to net/http (a body among them),
//     HTTP/1.0, and requests whose route is not such a rule (Route
//     returns no Balancer): the connection is handed over for good before
//     anything is sent, with any requests pipelined after;
//   - requests of such a route the loop does not answer itself (a cache
//     miss, a condition, a range; a session to issue): the connection is
//     lent to core/h1 for that request and comes back (h1.Server.Lend);
//   - answers other than the common kind (no Content-Length, trailers, a
//     body whose type would be sniffed), 502, 503 and 504 pages: the
//     exchange is finished with blocking I/O on a goroutine, and the
//     connection, lent likewise, comes back after it.
//
// Requests pipelined in one write are answered one after the other, each
// as if it had come alone once the answer before it was out.
//
// The backend's state (health, warm-up, busy, failures, stickiness) is the
// Balancer's, kept through proxy.Exchange: both paths see one truth.
//
// It is resind's default on Linux (core.Options.Dataplane; cmd/resind
// reads RESIND_DATAPLANE, whose value goroutine turns it off).
package loop

import (
	"net/http"
	"runtime"
	"time"

	"go.uber.org/zap"

	"resind/core/h1"
	"resind/proxy"
)

// Target is where a request the loop may answer goes.
type Target struct {
	// Balancer proxies the request; nil leaves it to H1.
	Balancer *proxy.Balancer
	// Lend, without a Balancer, says the request's route is one the
	// loop serves though not this request: the connection is lent to H1
	// for it and comes back, as for a cache miss.
	Lend bool
	// Cache, when not nil, is the cache in front of Balancer: the loop
	// sends a plain fresh hit itself and leaves anything else (misses
	// included) to H1, which answers it through the cache.
	Cache Cache
}

// Cache answers requests from a proxy cache.
type Cache interface {
	// Hit appends to dst the whole answer to p (head, and body unless
	// none is sent) when the cache answers p with a plain fresh hit that
	// needs nothing of the ordinary path, and records the hit; hdr is an
	// empty map for the answer's fields, the callee's to fill. It returns
	// the answer's status and body length and whether the connection
	// ends after it; ok false (dst as it was) leaves p to H1.
	Hit(dst []byte, p *h1.Parsed, hdr http.Header, shutting bool) (out []byte, status int, body int64, closeAfter, ok bool)
}

// Config is what a loop server needs from the server it runs for.
type Config struct {
	// H1 serves every connection the loop hands over; its
	// ReadHeaderTimeout and IdleTimeout apply to the loop's connections.
	H1 *h1.Server
	// Route returns where r goes: a Target without a Balancer leaves r
	// to H1.
	Route func(r *http.Request) Target
	// Served records a request the loop answered itself.
	Served func(r *http.Request, status int, bytes int64, start time.Time)
	// Account wraps a handler that finishes a request the loop began in
	// the accounting ServeHTTP does.
	Account func(http.Handler) http.Handler
	Log     *zap.Logger
	// Loops is the number of event loops; DefaultLoops when 0.
	Loops int
}

// DefaultLoops is the number of event loops of a listener when
// Config.Loops is 0: GOMAXPROCS-1, at least 1, so that one P is left to
// the rest of the process.
func DefaultLoops() int { return max(runtime.GOMAXPROCS(0)-1, 1) }
