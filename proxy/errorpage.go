package proxy

import (
	"html"
	"io"
	"net/http"
	"strconv"
)

// writeErrorPage answers with a short HTML page naming the target, so a
// user sees at once which cluster failed. It is for the proxy's own errors:
// 503 when no backend is available, 502 when one broke the exchange, 504
// when it exceeded load-balance-socket-timeout.
func writeErrorPage(w http.ResponseWriter, code int, target, detail string) {
	title := strconv.Itoa(code) + " " + http.StatusText(code)
	body := "<!DOCTYPE html>\n<html><head><title>" + title + "</title></head>\n<body><h1>" + title +
		"</h1>\n<p>" + html.EscapeString(detail) + " <code>" + html.EscapeString(target) + "</code>.</p>\n</body></html>\n"
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	if code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	io.WriteString(w, body)
}
