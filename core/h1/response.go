package h1

import (
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// bufferBeforeChunking is how much body a handler may write before the
// head is sent: an answer that is complete within it gets a
// Content-Length, a longer one without one is chunked (as net/http does).
const bufferBeforeChunking = 2048

// serveRequest builds the http.Request of h, runs the handler and finishes
// the answer. It reports whether the connection stays open.
func (cn *conn) serveRequest(h *head, u *url.URL) (keep bool) {
	return cn.answer(h, newRequest(cn.tmpl, h, u), cn.s.Handler)
}

// newRequest builds the http.Request of h on the template tmpl.
func newRequest(tmpl *http.Request, h *head, u *url.URL) *http.Request {
	// A copy of the connection's template carries its context: one
	// allocation where building a request and WithContext make two.
	r := new(http.Request)
	fillRequest(r, tmpl, h, u)
	return r
}

// fillRequest makes r the request of h on the template tmpl.
func fillRequest(r, tmpl *http.Request, h *head, u *url.URL) {
	if h.pragmaNoCC {
		h.header["Cache-Control"] = []string{"no-cache"}
	}
	*r = *tmpl
	r.Method = h.method
	r.URL = u
	r.Proto = protos[h.minor]
	r.ProtoMajor, r.ProtoMinor = 1, h.minor
	r.Header = h.header
	r.Host = h.host
	r.Close = h.close
	r.RequestURI = h.uri
}

// answer runs handler for r (of head h) and finishes the answer.
func (cn *conn) answer(h *head, r *http.Request, handler http.Handler) (keep bool) {
	w := &response{cn: cn, req: r, head: h, header: make(http.Header, headerHint), buf: cn.body[:0]}
	defer func() {
		if v := recover(); v != nil {
			cn.panicked(v)
			if w.wroteHead {
				// As net/http: an answer already begun goes out as far
				// as it got (cut short, with no last chunk, so that it
				// cannot pass for complete) before the connection
				// closes; one not begun is not sent at all.
				cn.bw.Flush()
			}
			keep = false
		}
	}()
	handler.ServeHTTP(w, r)
	return w.finish()
}

var protos = [2]string{"HTTP/1.0", "HTTP/1.1"}

// headerHint sizes an answer's header map: up to 8 fields a map is one
// small group (about 300 bytes); a larger hint allocates a table of four
// times that on every request. A cache hit's map holds six (h1.UseFields);
// a proxied answer with more fields grows it.
const headerHint = 8

// response is the http.ResponseWriter of one request on the loop. The head
// is written when the handler first flushes, writes more than
// bufferBeforeChunking bytes, or returns.
type response struct {
	cn     *conn
	req    *http.Request
	head   *head
	header http.Header
	// sent is the header as it was when the handler first asked for it
	// after WriteHeader, if it did before the head was written: as in
	// net/http, later changes are not sent (but trailers are).
	sent http.Header

	status      int  // 0 until WriteHeader
	wroteHead   bool // the head is in the write buffer
	chunked     bool
	closeAfter  bool
	contentLen  int64 // declared Content-Length, -1 if none
	written     int64 // body bytes written by the handler
	buf         []byte
	trailers    []string
	handlerDone atomic.Bool
	// fields are written ahead of header's, which loses what they have
	// (UseFields).
	fields *Fields
	// deadlines says the handler set the connection's deadlines, which
	// end with its request (as net/http clears them after each).
	deadlines bool
}

func (w *response) Header() http.Header {
	if w.status >= 200 && !w.wroteHead && w.sent == nil {
		w.sent = w.header.Clone()
	}
	return w.header
}

func (w *response) WriteHeader(code int) {
	if w.handlerDone.Load() {
		w.cn.s.logf("h1: superfluous WriteHeader(%d) after the handler returned", code)
		return
	}
	if w.status != 0 && w.status >= 200 {
		w.cn.s.logf("h1: superfluous WriteHeader(%d) for %s", code, w.req.URL.Path)
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational: sent at once with the header as it is now.
		bw := w.cn.bw
		writeStatusLine(bw, w.req.ProtoMinor, code)
		writeFields(bw, w.header, notWith1xx, nil)
		bw.WriteString("\r\n")
		bw.Flush()
		return
	}
	w.setStatus(code)
}

// setStatus records the final status and the length the handler declared.
func (w *response) setStatus(code int) {
	w.status = code
	w.contentLen = -1
	if cl := w.header["Content-Length"]; len(cl) > 0 {
		// An invalid one stays in the header: net/http drops it from
		// the handler's map but sends the copy it took of the header
		// (then chunks on HTTP/1.1, or sends it as is on 1.0).
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.contentLen = n
		}
	}
}

func (w *response) bodyAllowed() bool {
	return bodyAllowedForStatus(w.status)
}

func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199, code == 204, code == 304:
		return false
	}
	return true
}

func (w *response) Write(p []byte) (int, error) {
	if w.handlerDone.Load() {
		return 0, http.ErrHandlerTimeout
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	// The bytes count even when refused, as in net/http: the answer
	// is then not the declared length and the connection closes.
	w.written += int64(len(p))
	if w.contentLen >= 0 && w.written > w.contentLen {
		return 0, http.ErrContentLength
	}
	if !w.wroteHead {
		if len(w.buf)+len(p) <= bufferBeforeChunking {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.writeHead(false, p)
	}
	return len(p), w.writeBody(p)
}

func (w *response) WriteString(s string) (int, error) {
	// The common small answer goes to the buffer without a copy to []byte.
	if w.status == 0 && !w.handlerDone.Load() {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHead && w.status != 0 && w.bodyAllowed() && !w.handlerDone.Load() &&
		len(w.buf)+len(s) <= bufferBeforeChunking &&
		(w.contentLen < 0 || w.written+int64(len(s)) <= w.contentLen) {
		w.written += int64(len(s))
		w.buf = append(w.buf, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// ReadFrom lets a file go out with sendfile, as net/http's writer does
// (a body known to fit the write buffer is copied through it instead): the
// first sniffLen bytes go through Write (the head may need them for
// its Content-Type, and src is read before anything is sent); then, once
// the head is written and the body is neither chunked nor dropped (HEAD,
// 204, 304), the rest goes from src straight to the connection. A body
// longer than its Content-Length closes the connection, as with Write in
// net/http's ReadFrom.
func (w *response) ReadFrom(src io.Reader) (n int64, err error) {
	rf, ok := w.cn.c.(io.ReaderFrom)
	if !ok || small(src) {
		return io.Copy(writerOnly{w}, src)
	}
	if !w.wroteHead {
		n, err = io.Copy(writerOnly{w}, io.LimitReader(src, sniffLen))
		if err != nil || n < sniffLen {
			return n, err
		}
		if w.handlerDone.Load() {
			return n, http.ErrHandlerTimeout
		}
		if !w.wroteHead {
			w.writeHead(false, nil)
		}
	}
	if w.chunked || !w.bodyAllowed() || w.req.Method == http.MethodHead || w.handlerDone.Load() {
		m, err := io.Copy(writerOnly{w}, src)
		return n + m, err
	}
	if err := w.cn.bw.Flush(); err != nil {
		return n, err
	}
	m, err := rf.ReadFrom(src)
	w.written += m
	return n + m, err
}

// small reports whether src is known to hold no more than the write
// buffer: such a body goes out with its head in one write, which costs
// less than a write and a sendfile (a 1.5 KB file: 28k req/s against 21k).
func small(src io.Reader) bool {
	lr, ok := src.(*io.LimitedReader)
	return ok && lr.N <= writeBufferSize
}

// writerOnly hides ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// writeBody writes p as body bytes, chunked or not, after the head.
func (w *response) writeBody(p []byte) error {
	if w.req.Method == http.MethodHead {
		return nil
	}
	bw := w.cn.bw
	if w.chunked {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		return err
	}
	_, err := bw.Write(p)
	return err
}

// Flush sends the head and what the body has so far.
func (w *response) Flush() {
	if w.handlerDone.Load() {
		return
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHead {
		w.writeHead(false, nil)
	}
	w.cn.bw.Flush()
}

// FlushError is Flush with the write error (http.ResponseController).
func (w *response) FlushError() error {
	w.Flush()
	if w.handlerDone.Load() {
		return nil
	}
	return w.cn.bw.Flush()
}

// EnableFullDuplex is there for http.ResponseController, as in net/http;
// a request answered here has no body to read while writing.
func (w *response) EnableFullDuplex() error { return nil }

// SetReadDeadline and SetWriteDeadline let http.ResponseController set
// the connection's deadlines.
func (w *response) SetReadDeadline(t time.Time) error {
	w.deadlines = true
	return w.cn.c.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	w.deadlines = true
	return w.cn.c.SetWriteDeadline(t)
}

// writeHead puts the status line and header fields in the write buffer,
// then the buffered body. final says the handler has returned, so that a
// buffered body's length is all there is; p is the write that overflowed
// the buffer, if any (sniffed with it). The framing follows net/http's
// chunkWriter.writeHeader step by step.
func (w *response) writeHead(final bool, p []byte) {
	w.wroteHead = true
	h := w.header
	if w.sent != nil {
		h = w.sent
	}
	code := w.status
	hasBody := w.bodyAllowed()
	isHEAD := w.req.Method == http.MethodHead
	trailers := false
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = true
			break
		}
	}
	for _, v := range h["Trailer"] {
		trailers = true
		for _, k := range strings.Split(v, ",") {
			if k = textproto.TrimString(k); k != "" {
				if k = http.CanonicalHeaderKey(k); httpguts.ValidTrailerHeader(k) {
					w.trailers = append(w.trailers, k)
				}
			}
		}
	}
	var te string
	if v := h["Transfer-Encoding"]; len(v) > 0 {
		te = v[0]
	}
	hasTE := te != ""
	if _, ok := h["Content-Length"]; !ok && final && !trailers && !hasTE && hasBody && (!isHEAD || w.written > 0) {
		h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
		w.contentLen = w.written
	}
	hasCL := w.contentLen >= 0
	var connection string // added to the fields
	if w.head.keepAlive10 && (isHEAD || hasCL || !hasBody) {
		if _, ok := h["Connection"]; !ok {
			connection = "keep-alive"
		}
	} else if w.req.ProtoMinor == 0 || w.head.wantsClose {
		w.closeAfter = true
	}
	shutting := w.cn.s.inShut.Load()
	if c := h["Connection"]; len(c) > 0 && c[0] == "close" || shutting {
		w.closeAfter = true
	}
	if hasBody {
		_, haveType := h["Content-Type"]
		if ce := h["Content-Encoding"]; !haveType && !hasTE && (len(ce) == 0 || ce[0] == "") {
			if sniff := w.buf; len(sniff) > 0 || len(p) > 0 {
				if len(sniff) < sniffLen && len(p) > 0 {
					sniff = append(sniff[:len(sniff):len(sniff)], p[:min(len(p), sniffLen-len(sniff))]...)
				}
				h["Content-Type"] = []string{http.DetectContentType(sniff)}
			}
		}
	} else {
		if code == http.StatusNotModified {
			delete(h, "Content-Type")
		}
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{httpDate()}
	}
	if hasCL && hasTE && te != "identity" {
		delete(h, "Content-Length")
		hasCL = false
	}
	switch {
	case isHEAD || !hasBody:
		delete(h, "Transfer-Encoding")
	case hasCL:
		delete(h, "Transfer-Encoding")
	case w.req.ProtoMinor == 1 && te == "identity":
		// No length, no chunking: the body ends with the connection.
		w.closeAfter = true
		delete(h, "Transfer-Encoding")
	case w.req.ProtoMinor == 1:
		w.chunked = true
		if v := h["Transfer-Encoding"]; te == "chunked" || len(v) == 0 {
			h["Transfer-Encoding"] = []string{"chunked"}
		} else {
			// net/http sends the handler's codings (even an empty
			// one), then its own.
			h["Transfer-Encoding"] = append(v[:len(v):len(v)], "chunked")
		}
	default:
		// HTTP/1.0 without a length: the end of the body is the end of
		// the connection.
		w.closeAfter = true
		delete(h, "Transfer-Encoding")
	}
	if w.chunked {
		delete(h, "Content-Length")
	}
	if w.closeAfter && (shutting || !looseToken(first(h["Connection"]), "close")) {
		delete(h, "Connection")
		if w.req.ProtoMinor == 1 {
			connection = "close"
		}
	}
	if connection != "" {
		h["Connection"] = []string{connection}
	}
	bw := w.cn.bw
	writeStatusLine(bw, w.req.ProtoMinor, code)
	if w.fields != nil {
		bw.Write(w.fields.block)
	}
	writeFields(bw, h, w.trailers, w.fields)
	bw.WriteString("\r\n")
	if len(w.buf) > 0 {
		buf := w.buf
		w.buf = nil // the connection's: not to be written again
		w.writeBody(buf)
	}
}

// sniffLen is how much of a body http.DetectContentType looks at.
const sniffLen = 512

// notWith1xx are the fields an informational answer leaves out.
var notWith1xx = []string{"Content-Length", "Transfer-Encoding"}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// finish completes the answer after the handler returned and reports
// whether the connection may carry another request.
func (w *response) finish() bool {
	w.handlerDone.Store(true)
	if w.status == 0 {
		w.setStatus(http.StatusOK)
	}
	if !w.wroteHead {
		w.writeHead(true, nil)
	}
	bw := w.cn.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeField(bw, k, v)
			}
		}
		for k, vv := range w.header {
			// As net/http: the name after the prefix is sent as is.
			if after, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(after) {
				for _, v := range vv {
					writeField(bw, after, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if w.bodyAllowed() && w.req.Method != http.MethodHead && w.contentLen >= 0 && w.written != w.contentLen {
		// Shorter than declared: the client would wait for the rest.
		w.closeAfter = true
	}
	err := bw.Flush()
	if w.deadlines {
		w.cn.c.SetReadDeadline(time.Time{})
		w.cn.c.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		return false
	}
	return !w.closeAfter
}

func writeStatusLine(bw interface {
	WriteString(string) (int, error)
}, minor, code int) {
	if minor == 0 {
		bw.WriteString("HTTP/1.0 ")
	} else {
		bw.WriteString("HTTP/1.1 ")
	}
	bw.WriteString(statusLine(code))
}

// statusLine is the status line after the version: "200 OK\r\n".
func statusLine(code int) string {
	if line, ok := statusLines[code]; ok {
		return line
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + text + "\r\n"
}

var statusLines = func() map[int]string {
	m := make(map[int]string)
	for code := 100; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			m[code] = strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
	return m
}()

type stringWriter interface {
	WriteString(string) (int, error)
}

// writeFields writes h as header fields, leaving out those written
// already (UseFields), the trailers and
// the TrailerPrefix fields, and values net/http would refuse to send.
func writeFields(bw stringWriter, h http.Header, trailers []string, written *Fields) {
	for k, vv := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || isTrailer(k, trailers) || !httpguts.ValidHeaderFieldName(k) || written != nil && written.has(k) {
			continue
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
}

func isTrailer(k string, trailers []string) bool {
	for _, t := range trailers {
		if t == k {
			return true
		}
	}
	return false
}

// headerValueReplacer is how net/http cleans a value before sending it: a
// CR or LF inside becomes a space, so a value cannot start a new field.
var headerValueReplacer = strings.NewReplacer("\n", " ", "\r", " ")

func writeField(bw stringWriter, k, v string) {
	if strings.IndexByte(v, '\n') >= 0 || strings.IndexByte(v, '\r') >= 0 {
		v = headerValueReplacer.Replace(v)
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(textproto.TrimString(v))
	bw.WriteString("\r\n")
}

// httpDate is the Date field's value, formatted once per second.
func httpDate() string {
	now := time.Now().Unix()
	if d := dateCache.Load(); d != nil && d.unix == now {
		return d.text
	}
	d := &cachedDate{unix: now, text: time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}

type cachedDate struct {
	unix int64
	text string
}

var dateCache atomic.Pointer[cachedDate]

var _ io.StringWriter = (*response)(nil)
