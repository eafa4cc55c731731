package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// The event loop's side of a Balancer (core/loop). The loop runs the
// exchange of a body-less GET or HEAD itself, on its own sockets, and
// keeps every backend's state through these calls, as ServeHTTP does: one
// truth for health, warm-up, busy and failure counts, whichever path a
// request took. What the loop does not finish itself it hands to Finish,
// which completes the exchange as ServeHTTP would.

// Exchange is one request of the event loop proxied through a Balancer.
type Exchange struct {
	bl     *Balancer
	r      *http.Request
	tried  triedSet
	i      int
	trial  bool
	start  int64
	resent bool
}

// Start begins the exchange of r; Next picks its first backend. The
// Exchange is a value, to be kept where the caller keeps its own state.
func (bl *Balancer) Start(r *http.Request) Exchange {
	return Exchange{bl: bl, r: r, i: -1}
}

// Next picks and claims the next backend, skipping those tried; false
// when none is left.
func (x *Exchange) Next() bool {
	x.i, x.trial = x.bl.pick(x.r, &x.tried)
	if x.i < 0 {
		return false
	}
	x.tried.add(x.i)
	x.start = nanotime()
	return true
}

func (x *Exchange) b() *backend { return x.bl.members[x.i].b }

// Addr is the picked backend's address.
func (x *Exchange) Addr() string { return x.b().addr }

// Timeouts are the picked backend's connect timeout, socket timeout (of
// the Balancer, as ServeHTTP uses it) and idle time.
func (x *Exchange) Timeouts() (connect, socket, idle time.Duration) {
	t := x.b().cfg.Load().timeout
	return t.LoadBalanceConnectTimeout, x.bl.socketTimeout, t.LoadBalanceIdleTime
}

// DialFailed records that the picked backend could not be reached: nothing
// was sent, so the caller picks the next one.
func (x *Exchange) DialFailed(err error) {
	b := x.b()
	b.finish()
	b.dialFailed(x.trial, &DialError{Addr: b.addr, Err: err})
}

// Failed records an exchange that broke after the request was sent. It
// reports whether the request may go to another backend: once, as
// ServeHTTP retries an idempotent request without a body.
func (x *Exchange) Failed(err error) (retry bool) {
	b := x.b()
	b.finish()
	b.failed(x.trial, err)
	if x.resent {
		return false
	}
	x.resent = true
	x.bl.log.Info("retrying on another backend", append(b.fields(), zap.String("method", x.r.Method), zap.Error(err))...)
	return true
}

// Answered records the head of an answer with status. For a 503 it marks
// the backend busy and, when the request was not resent yet and another
// backend can take it, claims that one and reports retry: the caller
// drops this answer and sends the request again. Otherwise the answer is
// the one the client gets, and Done ends the exchange after its body.
func (x *Exchange) Answered(status int) (retry bool) {
	b := x.b()
	if status != http.StatusServiceUnavailable {
		b.succeeded(x.trial, time.Duration(nanotime()-x.start))
		return false
	}
	b.markBusy(x.trial)
	if x.resent {
		return false
	}
	i, trial := x.bl.pick(x.r, &x.tried)
	if i < 0 {
		return false
	}
	b.finish()
	x.resent = true
	x.i, x.trial = i, trial
	x.tried.add(i)
	x.start = nanotime()
	return true
}

// Broken records a body that broke off after its head was answered.
func (x *Exchange) Broken(err error) {
	b := x.b()
	b.recordFailure()
	x.bl.log.Warn("backend broke the response body", append(b.fields(), zap.Error(err))...)
}

// Done ends the exchange with the picked backend.
func (x *Exchange) Done() { x.b().finish() }

// Abandon ends an exchange whose client went away before an answer: it
// says nothing about the backend.
func (x *Exchange) Abandon() {
	b := x.b()
	b.finish()
	b.abandon(x.trial)
}

// TimedOut records that the picked backend did not answer within the
// socket timeout; the client gets 504 (Unavailable).
func (x *Exchange) TimedOut(err error) {
	b := x.b()
	b.finish()
	b.failed(x.trial, err)
	x.bl.log.Warn("backend timed out", append(b.fields(), zap.Duration("timeout", x.bl.socketTimeout))...)
}

// AppendRequest appends the request r as sent to a backend: the head
// ServeHTTP's direct path writes.
func AppendRequest(dst []byte, r *http.Request) []byte {
	w := bytesWriter{dst}
	writeRequest(&w, r)
	return w.b
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// ParseAnswer parses the head of a backend's answer to r at the start of
// buf: nil while the head is incomplete, or when it is not of the common
// kind (then ok is false and Finish takes the exchange over); else the
// response, with the backend's header as ReadResponse reads it
// (ClientHeader makes the client's of it), and the head's length. A 1xx
// interim answer is returned too (the caller skips it).
func ParseAnswer(buf []byte, r *http.Request) (res *http.Response, n int, ok bool) {
	if bytes.Index(buf, crlfcrlf) < 0 {
		// A line ended by LF alone: ReadResponse reads such a head,
		// which may be complete already.
		if len(buf) >= maxResponseHeaderBytes || bareLF(buf) {
			return nil, 0, false
		}
		return nil, 0, true
	}
	if res, n = interim(buf, r); res != nil {
		return res, n, true
	}
	res, n = parseHead(buf, r)
	if res == nil {
		return nil, 0, false
	}
	if _, trailer := res.Header["Trailer"]; trailer {
		return nil, 0, false
	}
	return res, n, true
}

// interim recognises a 1xx answer other than 101 (which ServeHTTP treats
// as an error on this path): "HTTP/1.x 1xx ...", fields, blank line, as
// ReadResponse reads it (ServeHTTP's path skips what it reads so, and
// fails on what it refuses, which Finish then does too).
func interim(buf []byte, r *http.Request) (*http.Response, int) {
	if len(buf) < 13 || !bytes.HasPrefix(buf, []byte("HTTP/1.")) || buf[8] != ' ' || buf[9] != '1' {
		return nil, 0
	}
	if buf[10] == '0' && buf[11] == '1' {
		return nil, 0
	}
	head := buf[:bytes.Index(buf, crlfcrlf)+len(crlfcrlf)]
	if bareLF(head) {
		return nil, 0 // ReadResponse would end the head elsewhere
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), r)
	if err != nil || res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
		return nil, 0
	}
	return res, len(head)
}

// bareLF reports whether b has an LF not preceded by a CR.
func bareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// ClientHeader turns an answer's header, in place, into what the client
// gets through ServeHTTP: hop-by-hop fields out, Via added, and server
// (core's Server field) when the backend sent none.
func ClientHeader(h http.Header, server []string) {
	removeHopHeaders(h)
	addVia(h)
	if _, ok := h["Server"]; !ok {
		h["Server"] = server
	}
}

// Finish completes, with blocking I/O, an exchange the loop began and
// cannot end itself: the request went out on c, whose first answer bytes
// are in buffered. The response is read as the Transport would read it and
// written to w as ServeHTTP writes it; c is closed afterwards.
func (x *Exchange) Finish(w http.ResponseWriter, c net.Conn, buffered []byte, socketTimeout time.Duration) {
	defer c.Close()
	b := x.b()
	if socketTimeout > 0 {
		c.SetDeadline(time.Now().Add(socketTimeout))
	}
	// The head is bounded as on ServeHTTP's direct path; the body is not.
	lr := &limitedReader{c: io.MultiReader(bytes.NewReader(buffered), c), on: true, n: maxResponseHeaderBytes}
	br := bufio.NewReaderSize(lr, 16<<10)
	var res *http.Response
	var err error
	for {
		res, err = http.ReadResponse(br, x.r)
		if err != nil || res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	lr.on = false
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		err = errUnexpected1xx
	}
	if err != nil {
		if isTimeout(err) {
			x.TimedOut(err)
			x.Unavailable(w, http.StatusGatewayTimeout)
			return
		}
		b.finish()
		b.failed(x.trial, err)
		x.bl.log.Warn("backend failed", append(b.fields(), zap.String("method", x.r.Method), zap.Error(err))...)
		x.Unavailable(w, http.StatusBadGateway)
		return
	}
	if res.StatusCode == http.StatusServiceUnavailable {
		b.markBusy(x.trial)
	} else {
		b.succeeded(x.trial, time.Duration(nanotime()-x.start))
	}
	x.bl.writeResponse(w, x.r, res, b)
}

// Unavailable writes the page ServeHTTP answers with when no backend is
// left (503), one broke the exchange (502) or did not answer in time
// (504).
func (x *Exchange) Unavailable(w http.ResponseWriter, code int) { x.bl.unavailable(w, code) }

// unavailable is the Balancer's page for code: 503, 504, else 502.
func (bl *Balancer) unavailable(w http.ResponseWriter, code int) {
	switch code {
	case http.StatusServiceUnavailable:
		writeErrorPage(w, code, bl.name, "No server is available for")
	case http.StatusGatewayTimeout:
		writeErrorPage(w, code, bl.name, "No answer in time from")
	default:
		writeErrorPage(w, http.StatusBadGateway, bl.name, "The server failed to answer for")
	}
}
