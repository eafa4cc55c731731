package cache

import (
	"errors"
	"net/http"
)

// errAbandoned is returned to the origin handler when nobody wants the
// rest of a response: its client is gone and it will not be stored.
var errAbandoned = errors.New("proxy cache: response abandoned")

// captureMode is what a capture does with the response once its status
// and header are known.
type captureMode uint8

const (
	modeUnset   captureMode = iota
	modeForward             // to the client only
	modeTee                 // to the client and into the buffer
	modeHold                // into the buffer only; passed on if it outgrows it
	modeSwallow             // nowhere: the cache answers instead (304 refresh, stale-if-error)
)

// capture is the ResponseWriter the origin handler writes a cacheable
// request's response into. decide picks the mode when the header is
// written; the body is buffered up to limit bytes while the mode keeps it,
// so a response larger than max-entry-size is still delivered whole to
// the client, just not stored.
type capture struct {
	client http.ResponseWriter // nil for a background revalidation
	xcache []string
	decide func(status int, h http.Header) captureMode

	h           http.Header
	status      int
	mode        captureMode
	wroteHeader bool
	buf         []byte
	limit       int64
	keep        bool // buf still holds the whole body so far
	clientGone  bool
}

func newCapture(client http.ResponseWriter, limit int64, xcache []string, decide func(int, http.Header) captureMode) *capture {
	return &capture{client: client, xcache: xcache, decide: decide, h: make(http.Header), limit: limit, clientGone: client == nil}
}

func (cw *capture) Header() http.Header { return cw.h }

// WriteHeader decides the mode. Informational responses are dropped: the
// cache answers with the final response only.
func (cw *capture) WriteHeader(code int) {
	if cw.wroteHeader || code < 200 {
		return
	}
	cw.wroteHeader = true
	cw.status = code
	cw.mode = cw.decide(code, cw.h)
	switch cw.mode {
	case modeTee, modeHold:
		cw.keep = true
		if n := contentLength(cw.h); n > 0 && n <= cw.limit {
			cw.buf = make([]byte, 0, n)
		}
	}
	if cw.mode == modeForward || cw.mode == modeTee {
		cw.sendHeader()
	}
}

func (cw *capture) sendHeader() {
	if cw.clientGone {
		return
	}
	dst := cw.client.Header()
	for k, v := range cw.h {
		dst[k] = v
	}
	dst["X-Cache"] = cw.xcache
	cw.client.WriteHeader(cw.status)
}

func (cw *capture) Write(p []byte) (int, error) {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
	switch cw.mode {
	case modeSwallow:
		return len(p), nil
	case modeHold:
		if cw.keep && int64(len(cw.buf)+len(p)) <= cw.limit {
			cw.buf = append(cw.buf, p...)
			return len(p), nil
		}
		// Too big to store: hand over what was held and stream the rest.
		cw.mode, cw.keep = modeForward, false
		cw.sendHeader()
		held := cw.buf
		cw.buf = nil
		if _, err := cw.toClient(held); err != nil {
			return 0, err
		}
		return cw.toClient(p)
	case modeTee:
		if cw.keep {
			if int64(len(cw.buf)+len(p)) <= cw.limit {
				cw.buf = append(cw.buf, p...)
			} else {
				cw.keep, cw.buf = false, nil
			}
		}
		if _, err := cw.toClient(p); err != nil && !cw.keep {
			return 0, err
		}
		return len(p), nil
	}
	return cw.toClient(p)
}

// toClient writes p to the client. Once the client is gone it fails with
// errAbandoned unless the body is still being captured.
func (cw *capture) toClient(p []byte) (int, error) {
	if !cw.clientGone {
		n, err := cw.client.Write(p)
		if err == nil {
			return n, nil
		}
		cw.clientGone = true
	}
	if cw.keep {
		return len(p), nil
	}
	return 0, errAbandoned
}

// Flush passes a flush on to a client that is being streamed to.
func (cw *capture) Flush() {
	if cw.clientGone || (cw.mode != modeForward && cw.mode != modeTee) {
		return
	}
	if f, ok := cw.client.(http.Flusher); ok {
		f.Flush()
	}
}

// finish completes a response the origin handler left without a header.
func (cw *capture) finish() {
	if !cw.wroteHeader {
		cw.WriteHeader(http.StatusOK)
	}
}

// contentLength returns the declared length, -1 when unknown.
func contentLength(h http.Header) int64 {
	v := h["Content-Length"]
	if len(v) != 1 || v[0] == "" {
		return -1
	}
	var n int64
	for i := 0; i < len(v[0]); i++ {
		c := v[0][i]
		if c < '0' || c > '9' || n > 1<<50 {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
