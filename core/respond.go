package core

import (
	"fmt"
	"html"
	"io"
	"net/http"
)

// writePage answers with a short HTML page for code, e.g. 403 or 404.
func writePage(w http.ResponseWriter, code int, detail string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Etag")
	h.Del("Last-Modified")
	w.WriteHeader(code)
	title := fmt.Sprintf("%d %s", code, http.StatusText(code))
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%s</title></head>\n<body><h1>%s</h1>\n<p>%s</p>\n<hr><address>resind</address></body></html>\n",
		title, title, html.EscapeString(detail))
}

func notFound(w http.ResponseWriter) {
	writePage(w, http.StatusNotFound, "The requested resource was not found on this server.")
}

func forbidden(w http.ResponseWriter) {
	writePage(w, http.StatusForbidden, "You are not allowed to access the requested resource.")
}

// redirect answers code (301 or 302) pointing to location, with a tiny body
// for clients that show it.
func redirect(w http.ResponseWriter, r *http.Request, code int, location string) {
	h := w.Header()
	h.Set("Location", location)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if r.Method == http.MethodGet {
		fmt.Fprintf(w, "<a href=\"%s\">%s</a>.\n", html.EscapeString(location), http.StatusText(code))
	}
}

// recorder notes the status and size of a response for the access log and
// the counters. It passes Flush, ReadFrom (sendfile) and, through Unwrap,
// Hijack on to the connection's writer, so streaming, static files and
// WebSocket upgrades behave as without it.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(p)
	rw.bytes += int64(n)
	return n, err
}

func (rw *recorder) ReadFrom(src io.Reader) (int64, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := rw.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{rw.ResponseWriter}, src)
	}
	rw.bytes += n
	return n, err
}

func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// code is the status sent, 200 when the handler wrote nothing.
func (rw *recorder) code() int {
	if lw, ok := rw.ResponseWriter.(*limitWriter); ok && lw.replacedWith != 0 {
		return lw.replacedWith // a broken request body's 413/408/400 (limits.go)
	}
	if rw.status == 0 {
		return http.StatusOK
	}
	return rw.status
}
