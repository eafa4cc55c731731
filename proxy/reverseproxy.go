package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ServeHTTP proxies r to a backend of the target. A connect failure moves
// the request to the next backend (nothing was sent). A request that was
// sent and failed, or answered 503, is tried once more elsewhere only when
// it is idempotent, has no body and nothing was written to the client; a
// POST body is never sent twice. When no backend is left the client gets a
// prompt 503 page.
func (bl *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	upgrade := upgradeType(r.Header)
	var body *guardedBody
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		body = &guardedBody{rc: r.Body}
	}
	// GET and HEAD go the direct way (h1.go), bounded by a deadline on the
	// connection; the rest through the Transport, bounded by the context.
	fast := direct(r, body, upgrade)
	ctx := r.Context()
	var header http.Header
	if !fast {
		if bl.socketTimeout > 0 && upgrade == "" {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, bl.socketTimeout)
			defer cancel()
		}
		header = outboundHeader(r, upgrade)
	}
	retryable := body == nil && upgrade == "" && idempotent(r.Method)

	var tried triedSet
	resent := false
	next, nextTrial := -1, false
	for {
		i, trial := next, nextTrial
		if i < 0 {
			i, trial = bl.pick(r, &tried)
		}
		next = -1
		if i < 0 {
			if ce := bl.log.Check(zap.DebugLevel, "no backend available"); ce != nil {
				ce.Write(zap.String("cluster", bl.name), zap.String("uri", r.RequestURI))
			}
			bl.unavailable(w, http.StatusServiceUnavailable)
			return
		}
		tried.add(i)
		b := bl.members[i].b
		start := nanotime()
		var res *http.Response
		var err error
		if fast {
			res, err = b.direct.roundTrip(r, bl.socketTimeout)
		} else {
			res, err = b.transport.Load().RoundTrip(outRequest(ctx, r, header, body, b.addr))
		}
		if err != nil {
			b.finish()
			if r.Context().Err() != nil {
				b.abandon(trial) // the client went away; nothing to answer
				return
			}
			var de *DialError
			if errors.As(err, &de) && !body.touched() {
				b.dialFailed(trial, err)
				continue
			}
			b.failed(trial, err)
			if ctx.Err() != nil || fast && isTimeout(err) {
				bl.log.Warn("backend timed out", append(b.fields(), zap.Duration("timeout", bl.socketTimeout))...)
				bl.unavailable(w, http.StatusGatewayTimeout)
				return
			}
			if retryable && !resent {
				resent = true
				bl.log.Info("retrying on another backend", append(b.fields(), zap.String("method", r.Method), zap.Error(err))...)
				continue
			}
			bl.log.Warn("backend failed", append(b.fields(), zap.String("method", r.Method), zap.Error(err))...)
			bl.unavailable(w, http.StatusBadGateway)
			return
		}
		latency := time.Duration(nanotime() - start)
		if res.StatusCode == http.StatusServiceUnavailable {
			b.markBusy(trial)
			if retryable && !resent {
				// Retry only if someone else can take it; else the
				// backend's own 503 is the best answer.
				if next, nextTrial = bl.pick(r, &tried); next >= 0 {
					resent = true
					res.Body.Close()
					b.finish()
					continue
				}
			}
		} else {
			b.succeeded(trial, latency)
		}
		if res.StatusCode == http.StatusSwitchingProtocols {
			bl.serveUpgrade(w, r, res, b, upgrade)
			return
		}
		bl.writeResponse(w, r, res, b)
		return
	}
}

// outRequest is r as sent to addr: same method, path (with any
// ;jsessionid=), Host and body, with the proxy's header.
func outRequest(ctx context.Context, r *http.Request, header http.Header, body *guardedBody, addr string) *http.Request {
	out := r.WithContext(ctx)
	u := new(url.URL)
	*u = *r.URL
	u.Scheme, u.Host = "http", addr
	out.URL = u
	out.Header = header
	out.RequestURI = ""
	out.Close = false
	if out.Host == "" {
		out.Host = addr
	}
	if body == nil {
		out.Body, out.ContentLength = nil, 0
	} else {
		out.Body = body
		// Lets the Transport resend on a fresh connection when a pooled
		// one failed before anything of the body was read.
		out.GetBody = body.again
	}
	return out
}

// idempotent reports whether method is idempotent (RFC 9110 §9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// guardedBody is a request body handed to the Transport. Close does
// nothing, so that a failed connect (after which the Transport closes the
// body) leaves it intact for the next backend; touched records whether any
// of it may have been sent, after which it is never sent again.
type guardedBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (g *guardedBody) Read(p []byte) (int, error) {
	g.read.Store(true)
	return g.rc.Read(p)
}

// Close leaves r.Body to the server, which closes it after the handler.
func (g *guardedBody) Close() error { return nil }

// errBodySent stops the Transport from resending a body it has read.
var errBodySent = errors.New("request body already sent, not resending it")

func (g *guardedBody) again() (io.ReadCloser, error) {
	if g.touched() {
		return nil, errBodySent
	}
	return g, nil
}

func (g *guardedBody) touched() bool { return g != nil && g.read.Load() }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeResponse streams res to the client. A body of unknown length is
// flushed after every read, so each chunk reaches the client when the
// backend sends it; nothing is buffered beyond one read.
func (bl *Balancer) writeResponse(w http.ResponseWriter, r *http.Request, res *http.Response, b *backend) {
	defer b.finish()
	defer res.Body.Close()
	copyResponseHeader(w.Header(), res.Header, res.Trailer)
	w.WriteHeader(res.StatusCode)
	var flusher http.Flusher
	if res.ContentLength == -1 {
		flusher, _ = w.(http.Flusher)
		if flusher != nil {
			flusher.Flush() // headers now, before a slow first chunk
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	// A body of known length is read a buffer at a time before it is
	// written: one that fits leaves with the head in one write, instead of
	// a write per piece the backend's segments arrive in (16 KB answers:
	// two or three writes a request, one now).
	remaining := res.ContentLength
	for {
		var n int
		var rerr error
		if remaining > 0 {
			// The body's own EOF is read on the next turn (at once for a
			// sized body), which lets it give its connection back.
			n, rerr = io.ReadFull(res.Body, buf[:min(int64(len(buf)), remaining)])
			remaining -= int64(n)
		} else {
			n, rerr = res.Body.Read(buf)
		}
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if r.Context().Err() != nil {
				return
			}
			b.recordFailure()
			bl.log.Warn("backend broke the response body", append(b.fields(), zap.Error(rerr))...)
			// Abort rather than end the response as if it were complete.
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range res.Trailer {
		w.Header()[http.TrailerPrefix+k] = vv
	}
}
