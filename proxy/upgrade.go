package proxy

import (
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// serveUpgrade completes a protocol switch (WebSocket): it answers the
// client with the backend's 101, then copies bytes both ways until either
// side closes. The backend connection is res.Body, which the Transport
// makes writable for a 101.
func (bl *Balancer) serveUpgrade(w http.ResponseWriter, r *http.Request, res *http.Response, b *backend, reqUp string) {
	defer b.finish()
	resUp := upgradeType(res.Header)
	backConn, ok := res.Body.(io.ReadWriteCloser)
	if !ok || !strings.EqualFold(reqUp, resUp) {
		res.Body.Close()
		bl.log.Warn("backend switched to an unrequested protocol",
			append(b.fields(), zap.String("requested", reqUp), zap.String("answered", resUp))...)
		writeErrorPage(w, http.StatusBadGateway, bl.name, "Bad protocol switch from")
		return
	}
	defer backConn.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		bl.log.Warn("cannot take over the client connection for an upgrade", append(b.fields(), zap.Error(err))...)
		writeErrorPage(w, http.StatusInternalServerError, bl.name, "Cannot switch protocols for")
		return
	}
	defer conn.Close()

	copyResponseHeader(w.Header(), res.Header, nil)
	h := w.Header()
	h["Connection"] = []string{"Upgrade"}
	h["Upgrade"] = []string{resUp}
	out := &http.Response{
		Status:     res.Status,
		StatusCode: res.StatusCode,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
	}
	if err := out.Write(brw); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	// Bytes the client sent after its request may already sit in brw.
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ := brw.Reader.Peek(n)
		if _, err := backConn.Write(pending); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	pipe := func(dst io.Writer, src io.Reader) {
		io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(backConn, conn)
	go pipe(conn, backConn)
	// When either direction ends, the deferred closes end the other.
	<-done
}
