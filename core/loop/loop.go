// Package loop is resind's epoll data plane for plain listeners
// (docs/dataplane.md): one event loop per P, each a goroutine with its own
// epoll set, answering the requests that are only proxied — a body-less
// GET or HEAD that a <resin:LoadBalance> rule sends to a cluster — without
// a goroutine per connection, with system calls the Go runtime does not
// see while the loop is busy.
//
// The loop answers only what it can answer completely; it never answers
// anything a client could tell from the ordinary path's answer. Everything
// else goes on the ordinary path, core/h1 and then net/http, with the
// connection, the bytes already read and, once a request went out to a
// backend, the exchange itself (proxy.Exchange.Finish):
//   - heads that core/h1 would hand to net/http, HTTP/1.0, pipelined
//     requests, and requests whose route is not a plain LoadBalance rule
//     (Route returns nil): the connection is handed over before anything
//     is sent;
//   - answers other than the common kind (no Content-Length, trailers, a
//     body whose type would be sniffed), 502, 503 and 504 pages: the
//     exchange is finished with blocking I/O on a goroutine, and the
//     connection is served by core/h1 from then on.
//
// The backend's state (health, warm-up, busy, failures, stickiness) is the
// Balancer's, kept through proxy.Exchange: both paths see one truth.
//
// It is resind's default on Linux (core.Options.Dataplane; cmd/resind
// reads RESIND_DATAPLANE, whose value goroutine turns it off).
package loop

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"resind/core/h1"
	"resind/proxy"
)

// Config is what a loop server needs from the server it runs for.
type Config struct {
	// H1 serves every connection the loop hands over; its
	// ReadHeaderTimeout and IdleTimeout apply to the loop's connections.
	H1 *h1.Server
	// Route returns the Balancer that answers r entirely, or nil to
	// leave r to H1.
	Route func(r *http.Request) *proxy.Balancer
	// Served records a request the loop answered itself.
	Served func(r *http.Request, status int, bytes int64, start time.Time)
	// Account wraps a handler that finishes a request the loop began in
	// the accounting ServeHTTP does.
	Account func(http.Handler) http.Handler
	Log     *zap.Logger
	// Loops is the number of event loops; GOMAXPROCS when 0.
	Loops int
}
