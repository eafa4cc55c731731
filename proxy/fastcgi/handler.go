package fastcgi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Pool hands out connections to one FastCGI application and takes them
// back. AddressPool dials a fixed address (PHP-FPM); resind's app package
// implements it for a supervised pool of processes.
type Pool interface {
	// Get returns a connection ready for a request, waiting at most until
	// ctx ends. An error that is not ctx's means the application cannot be
	// reached.
	Get(ctx context.Context) (*Conn, error)
	// Put gives c back after a request; reusable false closes it.
	Put(c *Conn, reusable bool)
}

// Script is where a request lands in the file system, for the CGI
// variables SCRIPT_NAME, SCRIPT_FILENAME, PATH_INFO and DOCUMENT_ROOT.
type Script struct {
	// Name is the URI path of the script (SCRIPT_NAME), including the
	// web-app's context path.
	Name string
	// Filename is the absolute file (SCRIPT_FILENAME).
	Filename string
	// PathInfo is what follows the script in the path (often "").
	PathInfo string
	// Root is the document root (the web-app's root directory).
	Root string
}

// Handler sends requests to a FastCGI application and writes its answers.
// When the application cannot be reached it answers 502, when it does not
// answer within Timeout 504, each with a short page naming Name.
type Handler struct {
	Pool Pool
	// Name names the application in pages and logs: an address or a
	// command.
	Name string
	// Timeout bounds the whole exchange, from waiting for a connection to
	// the last byte of the answer; 0 for none.
	Timeout time.Duration
	// Params are added to every request's CGI variables (after them, so
	// they win).
	Params []Pair
	// MaxBody is the largest request body of unknown length (chunked) that
	// is buffered to give the responder its CONTENT_LENGTH (default 64 MiB).
	MaxBody int64
	Log     *zap.Logger
}

// ServeHTTP serves r with the script named by its path and no document
// root; resind's core calls Serve with the web-app's root instead.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.Serve(w, r, Script{Name: r.URL.Path})
}

// Serve sends r to the application as a request for s.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, s Script) {
	log := h.Log
	if log == nil {
		log = zap.NewNop()
	}
	ctx := r.Context()
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	var body []byte
	length := r.ContentLength
	if r.Body != nil && r.Body != http.NoBody && length != 0 {
		limit := h.MaxBody
		if limit <= 0 {
			limit = 64 << 20
		}
		if length > 0 {
			limit = length
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return // the client went away
		}
		if int64(len(b)) > limit {
			ErrorPage(w, http.StatusRequestEntityTooLarge, "The request body is too large for", h.Name)
			return
		}
		body, length = b, int64(len(b))
	}
	params := h.params(r, s, length)
	stderr := func(b []byte) {
		for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			log.Info("app stderr", zap.String("app", h.Name), zap.String("line", line))
		}
	}

	var res *Response
	var c *Conn
	for attempt := 0; ; attempt++ {
		var err error
		c, err = h.Pool.Get(ctx)
		if err != nil {
			h.fail(w, r, ctx, err, "could not reach")
			return
		}
		var in io.Reader
		if len(body) > 0 {
			in = bytes.NewReader(body)
		}
		res, err = c.Do(ctx, params, in, stderr)
		if err == nil {
			break
		}
		reused := c.reused && attempt == 0
		h.Pool.Put(c, false)
		// An idle connection the responder had closed looks the same as a
		// responder that died of this request: only a request that may be
		// sent twice (RFC 9110 9.2.2) is tried again, as net/http does.
		if ctx.Err() == nil && reused && isStale(err) && replayable(r) {
			continue
		}
		h.fail(w, r, ctx, err, "failed to answer")
		return
	}

	hdr := w.Header()
	for k, vv := range res.Header {
		if isHop(k) {
			continue
		}
		hdr[k] = vv
	}
	w.WriteHeader(res.StatusCode)
	flusher, _ := w.(http.Flusher)
	if res.Header.Get("Content-Length") != "" {
		flusher = nil
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				res.Finish()
				h.Pool.Put(c, false)
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			res.Finish()
			h.Pool.Put(c, false)
			if r.Context().Err() != nil {
				return
			}
			log.Warn("FastCGI application broke its answer", zap.String("app", h.Name), zap.Error(rerr))
			panic(http.ErrAbortHandler) // do not end it as if it were complete
		}
	}
	h.Pool.Put(c, res.Finish())
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fail answers a request that got no answer: 504 when the time ran out,
// 502 otherwise; nothing when the client went away.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, ctx context.Context, err error, what string) {
	if r.Context().Err() != nil {
		return
	}
	log := h.Log
	if log == nil {
		log = zap.NewNop()
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		log.Warn("FastCGI application timed out", zap.String("app", h.Name), zap.Duration("timeout", h.Timeout))
		ErrorPage(w, http.StatusGatewayTimeout, "No answer in time from the application", h.Name)
		return
	}
	log.Warn("FastCGI application failed", zap.String("app", h.Name), zap.String("uri", r.RequestURI), zap.Error(err))
	ErrorPage(w, http.StatusBadGateway, "The server "+what+" the application", h.Name)
}

// isStale reports whether err is what a write to, or read from, a
// connection the responder closed while it was idle looks like.
func isStale(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "broken pipe") ||
		strings.Contains(err.Error(), "connection reset")
}

// replayable reports whether r may be sent to the application a second
// time: an idempotent method, or a request that says it carries an
// idempotency key.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != "" || r.Header.Get("X-Idempotency-Key") != ""
}

func isHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// params are the CGI/1.1 variables (RFC 3875) of r for s, then h.Params.
func (h *Handler) params(r *http.Request, s Script, length int64) []Pair {
	ps := make([]Pair, 0, 24+len(r.Header))
	add := func(n, v string) { ps = append(ps, Pair{n, v}) }
	add("GATEWAY_INTERFACE", "CGI/1.1")
	add("SERVER_SOFTWARE", "resind")
	add("SERVER_PROTOCOL", r.Proto)
	add("REQUEST_METHOD", r.Method)
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	add("REQUEST_URI", uri)
	add("QUERY_STRING", r.URL.RawQuery)
	add("SCRIPT_NAME", s.Name)
	add("SCRIPT_FILENAME", s.Filename)
	add("PATH_INFO", s.PathInfo)
	if s.PathInfo != "" && s.Root != "" {
		add("PATH_TRANSLATED", s.Root+s.PathInfo)
	}
	add("DOCUMENT_ROOT", s.Root)
	host := r.Host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		host = hn
	}
	add("SERVER_NAME", host)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if a, p, err := net.SplitHostPort(la.String()); err == nil {
			add("SERVER_ADDR", a)
			add("SERVER_PORT", p)
		}
	}
	if a, p, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		add("REMOTE_ADDR", a)
		add("REMOTE_PORT", p)
	} else {
		add("REMOTE_ADDR", r.RemoteAddr)
	}
	if r.TLS != nil {
		add("HTTPS", "on")
		add("REQUEST_SCHEME", "https")
	} else {
		add("REQUEST_SCHEME", "http")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		add("CONTENT_TYPE", ct)
	}
	if length > 0 {
		add("CONTENT_LENGTH", strconv.FormatInt(length, 10))
	} else {
		add("CONTENT_LENGTH", "")
	}
	for k, vv := range r.Header {
		switch k {
		case "Content-Type", "Content-Length", "Connection", "Proxy":
			// Proxy: never HTTP_PROXY, which CGI programs take for their
			// outgoing proxy ("httpoxy").
			continue
		}
		add("HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_")), strings.Join(vv, ", "))
	}
	return append(ps, h.Params...)
}

// ErrorPage answers with a short HTML page for resind's own gateway errors
// (502, 504), naming the application so that an operator sees at once which
// one failed.
func ErrorPage(w http.ResponseWriter, code int, detail, app string) {
	title := fmt.Sprintf("%d %s", code, http.StatusText(code))
	body := "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head>\n<body><h1>" + title +
		"</h1>\n<p>" + html.EscapeString(detail) + " <code>" + html.EscapeString(app) + "</code>.</p>\n<hr><address>resind</address></body></html>\n"
	hd := w.Header()
	for _, k := range []string{"Content-Encoding", "Etag", "Last-Modified", "Location"} {
		hd.Del(k)
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body)
}
