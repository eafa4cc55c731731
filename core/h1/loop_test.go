package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"resind/internal/porttest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The event loop (core/loop) answers some requests itself with h1.Parse
// and h1.AppendHead; these tests hold both to what the server of this
// package does with the same bytes.

// answerSpec is what loopHandler answers a request with: it sets hdr,
// calls WriteHeader(code) and writes body bytes.
type answerSpec struct {
	code int
	hdr  http.Header
	body int
	// stored, when set, goes out as prepared fields (PrepareFields,
	// UseFields) before hdr is set, as a proxy cache's hit does.
	stored http.Header
}

var (
	answerSpecs sync.Map // id (string) -> answerSpec
	answerIDs   atomic.Int64
)

// registerAnswer stores spec for loopHandler and returns the target of a
// request answered with it.
func registerAnswer(t testing.TB, spec answerSpec) string {
	id := strconv.FormatInt(answerIDs.Add(1), 10)
	answerSpecs.Store(id, spec)
	t.Cleanup(func() { answerSpecs.Delete(id) })
	return "/answer?id=" + id
}

// loopProbe is sent after an answer: its answer shows the connection was
// kept, its absence that it was closed.
const loopProbe = "GET /probe HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"

// loopHandler answers /answer as registered, /probe with "probe", and
// anything else (TestParseAsTheServer) with a description of the request
// (echo) and, on the loop, the field X-Loop.
func loopHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/answer":
		v, ok := answerSpecs.Load(r.URL.Query().Get("id"))
		if !ok {
			http.Error(w, "no such answer", http.StatusInternalServerError)
			return
		}
		spec := v.(answerSpec)
		if spec.stored != nil {
			UseFields(w, PrepareFields(spec.stored))
		}
		for k, vv := range spec.hdr {
			w.Header()[k] = slices.Clone(vv)
		}
		w.WriteHeader(spec.code)
		if spec.body > 0 {
			w.Write(bytes.Repeat([]byte("x"), spec.body))
		}
	case "/probe":
		io.WriteString(w, "probe")
	default:
		if _, onLoop := w.(*response); onLoop {
			w.Header().Set("X-Loop", "1")
		}
		// In a field too, for HEAD.
		rec := httptest.NewRecorder()
		echo(rec, r)
		w.Header().Set("X-Echo", strconv.Quote(rec.Body.String()))
		w.Write(rec.Body.Bytes())
	}
}

// startLoopServer starts an h1 Server running loopHandler.
func startLoopServer(t testing.TB) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(loopHandler), Fallback: &http.Server{ErrorLog: discardLog}, ErrorLog: discardLog}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// parseFor parses request as the loop would, on s's template.
func parseFor(s *Server, request string) *Parsed {
	raw := []byte(request)
	if end := HeadEnd(raw); end >= 0 {
		raw = raw[:end]
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}
	return Parse(raw, s.Template("127.0.0.1:12345", local))
}

// serverAnswer sends request to addr and returns the head of the answer
// as sent, and whether the server closed the connection after the answer
// (its body of bodyLen bytes, read and checked).
func serverAnswer(t testing.TB, addr, request string, bodyLen int64) (head string, closed bool) {
	t.Helper()
	c := porttest.Dial(t, addr)
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			t.Fatalf("%q: reading the head: %v (read %q)", request, err, b.String())
		}
		if line == "\r\n" {
			break
		}
	}
	head = b.String()
	if bodyLen > 0 {
		body := make([]byte, bodyLen)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatalf("%q: reading a body of %d bytes: %v", request, bodyLen, err)
		}
	}
	if n := br.Buffered(); n > 0 {
		extra, _ := br.Peek(n)
		t.Fatalf("%q: more than the answer came: %q", request, extra)
	}
	// The probe goes out after the whole answer is read, so that a reset
	// answering it cannot take any of the answer with it.
	if _, err := io.WriteString(c, loopProbe); err != nil {
		return head, true
	}
	res, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%q: the probe after the answer was neither answered nor refused", request)
		}
		return head, true
	}
	body, err := io.ReadAll(res.Body)
	if err != nil || string(body) != "probe" {
		t.Fatalf("%q: the probe was answered %d %q (%v)", request, res.StatusCode, body, err)
	}
	return head, false
}

// headLines splits a head into its status line and its field lines,
// sorted (h1 writes fields in map order), with every Date value replaced
// when ignoreDate. It fails unless head is CRLF-terminated lines ending in
// an empty one.
func headLines(t testing.TB, head string, ignoreDate bool) (status string, fields []string) {
	t.Helper()
	body, ok := strings.CutSuffix(head, "\r\n\r\n")
	if !ok {
		t.Fatalf("head %q does not end with a blank line", head)
	}
	lines := strings.Split(body, "\r\n")
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("head %q has a bare CR or LF", head)
		}
	}
	status, fields = lines[0], lines[1:]
	if ignoreDate {
		for i, f := range fields {
			if name, _, _ := strings.Cut(f, ":"); strings.EqualFold(name, "Date") {
				fields[i] = name + ": <date>"
			}
		}
	}
	slices.Sort(fields)
	return status, fields
}

// refusal is why AppendHead must decline an answer, as its documentation
// says, or "" when it must take it.
func refusal(method string, minor, code int, hdr http.Header) string {
	if minor != 1 {
		return "HTTP/1.0"
	}
	if code < 200 {
		return "1xx"
	}
	if _, ok := hdr["Transfer-Encoding"]; ok {
		return "Transfer-Encoding"
	}
	if _, ok := hdr["Trailer"]; ok {
		return "Trailer"
	}
	for k := range hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return "trailer prefix"
		}
	}
	if code == http.StatusNoContent || code == http.StatusNotModified {
		return ""
	}
	n, ok := validLength(hdr)
	if !ok {
		if method == http.MethodHead {
			return "" // no body written, none sent
		}
		return "no Content-Length with a body"
	}
	// (A HEAD answer's handler may write its body too: it is sniffed.)
	if _, typed := hdr["Content-Type"]; n > 0 && !typed {
		if ce := hdr["Content-Encoding"]; len(ce) == 0 || ce[0] == "" {
			return "body sniffed (no Content-Type or Content-Encoding)"
		}
	}
	return ""
}

// validLength is hdr's Content-Length when it has exactly one valid one.
func validLength(hdr http.Header) (int64, bool) {
	cl := hdr["Content-Length"]
	if len(cl) != 1 {
		return 0, false
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	return n, err == nil && n >= 0
}

// appendCase is one answer compared between AppendHead and the server.
type appendCase struct {
	method, proto, connection string
	code                      int
	hdr                       http.Header
	// headBody says a HEAD request's handler writes the body too (as
	// net/http handlers may; a proxied HEAD answer has none).
	headBody bool
	// stored: fields prepared once (PrepareFields) and used by the answer
	// before hdr is set (AppendFieldsHead), as a cache hit's; nil for none.
	stored http.Header
}

func (ac appendCase) String() string {
	return fmt.Sprintf("%s %s Connection %q, %d %q, stored %q, HEAD writes body %v", ac.method, ac.proto, ac.connection, ac.code, ac.hdr, ac.stored, ac.headBody)
}

// check runs ac through AppendHead and, when AppendHead takes it, through
// the server at addr, and compares.
func (ac appendCase) check(t testing.TB, s *Server, addr string, shutting bool) {
	t.Helper()
	var f *Fields
	if ac.stored != nil {
		if f = PrepareFields(ac.stored); f == nil {
			return // a stored header the loop frames itself: not prepared
		}
	}
	// eff is the answer's map once the stored framing fields are in it.
	eff := ac.hdr.Clone()
	if f != nil {
		for k, vv := range f.framing {
			if _, set := eff[k]; !set {
				eff[k] = vv
			}
		}
	}
	n, _ := validLength(eff)
	spec := answerSpec{code: ac.code, hdr: ac.hdr, stored: ac.stored}
	if ac.method != http.MethodHead || ac.headBody {
		spec.body = int(n)
	}
	fields := []string{"Host: a"}
	if ac.connection != "" {
		fields = append(fields, "Connection: "+ac.connection)
	}
	request := req(ac.method, registerAnswer(t, spec), ac.proto, fields...)
	p := parseFor(s, request)
	if p == nil {
		t.Fatalf("%v: Parse refused %q", ac, request)
	}

	prefix := []byte("before")
	out, closeAfter, ok := AppendFieldsHead(slices.Clone(prefix), p, ac.code, ac.hdr.Clone(), f, shutting)
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("%v: AppendHead lost what dst held: %q", ac, out)
	}
	got := string(out[len(prefix):])
	why := refusal(ac.method, p.R.ProtoMinor, ac.code, eff)
	if !ok {
		if why == "" {
			t.Errorf("%v: AppendHead declined an answer it documents it takes", ac)
		}
		if got != "" {
			t.Errorf("%v: AppendHead declined but appended %q", ac, got)
		}
		return
	}
	if why != "" {
		t.Errorf("%v: AppendHead took an answer it must decline (%s): %q", ac, why, got)
		return
	}
	if shutting {
		return // the server is not shutting down: nothing to compare with
	}

	bodyLen := int64(0)
	if ac.method != http.MethodHead && bodyAllowedForStatus(ac.code) {
		bodyLen = n
	}
	head, closed := serverAnswer(t, addr, request, bodyLen)
	_, dated := eff["Date"]
	wantStatus, wantFields := headLines(t, head, !dated)
	gotStatus, gotFields := headLines(t, got, !dated)
	if gotStatus != wantStatus || !slices.Equal(gotFields, wantFields) {
		t.Errorf("%v: AppendHead differs from the server\nserver:     %q\nAppendHead: %q", ac, head, got)
	}
	if closeAfter != closed {
		t.Errorf("%v: closeAfter %v, the server closed the connection: %v\nhead %q", ac, closeAfter, closed, head)
	}
}

// TestAppendFieldsHeadMatchesTheServer: a cache hit's answer, its stored
// fields prepared once, the hit's own set after them.
func TestAppendFieldsHeadMatchesTheServer(t *testing.T) {
	s, addr := startLoopServer(t)
	hit := func(more ...string) http.Header {
		h := http.Header{"Server": {"resind"}, "Age": {"3"}, "X-Cache": {"HIT"}}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = append(h[more[i]], more[i+1])
		}
		return h
	}
	stored := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = append(h[kv[i]], kv[i+1])
		}
		return h
	}
	date := "Mon, 02 Jan 2006 15:04:05 GMT"
	plain := stored("Content-Type", "text/plain", "Content-Length", "100", "Cache-Control", "max-age=60", "Etag", `"v1"`)
	cases := []appendCase{
		{code: 200, stored: plain, hdr: hit()},
		{code: 200, stored: stored("Content-Type", "text/plain", "Content-Length", "100", "Date", date, "Server", "origin", "Via", "1.1 a"), hdr: hit()},
		{code: 200, stored: stored("Content-Encoding", "gzip", "Content-Length", "10", "Vary", "Accept-Encoding"), hdr: hit()},
		{code: 200, stored: stored("Content-Length", "10"), hdr: hit()},
		{code: 200, stored: stored("Content-Type", "text/plain", "Content-Length", "0"), hdr: hit()},
		{code: 200, stored: stored("Content-Type", "text/plain"), hdr: hit()},
		{code: 404, stored: stored("Content-Type", "text/html", "Content-Length", "9", "Set-Cookie", "a=1", "Set-Cookie", "b=2"), hdr: hit()},
		{code: 204, stored: stored("Content-Type", "text/plain", "Content-Length", "5"), hdr: hit()},
		{code: 304, stored: stored("Content-Type", "text/plain", "Etag", `"v1"`), hdr: hit()},
		{code: 200, stored: plain, hdr: hit("Content-Length", "5", "Content-Type", "text/html")},
		{code: 200, stored: plain, hdr: hit("Connection", "close")},
	}
	for _, ac := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			for _, connection := range []string{"", "close"} {
				ac.method, ac.proto, ac.connection = method, "HTTP/1.1", connection
				ac.check(t, s, addr, false)
				ac.check(t, s, addr, true)
			}
		}
	}
}

func TestAppendHeadMatchesTheServer(t *testing.T) {
	s, addr := startLoopServer(t)
	date := "Mon, 02 Jan 2006 15:04:05 GMT"
	typed := func(cl string, more ...string) http.Header {
		h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
		if cl != "" {
			h["Content-Length"] = []string{cl}
		}
		for i := 0; i+1 < len(more); i += 2 {
			h[more[i]] = append(h[more[i]], more[i+1])
		}
		return h
	}
	shapes := []http.Header{
		typed("5"),
		typed("0"),
		typed("100"),
		typed("5000"), // past the server's 2 KiB buffer before the head
		typed(""),
		typed("5", "Date", date),
		typed("5", "Connection", "close"),
		typed("5", "Connection", "Close"), // net/http's test of it is exact
		typed("5", "Connection", "keep-alive"),
		typed("5", "Set-Cookie", "a=1", "Set-Cookie", "b=2", "Vary", "Accept", "Vary", "Accept-Encoding"),
		typed("5", "X-Crlf", "a\r\nInjected: 1", "X-Spaces", "  padded \t", "x-lower", "kept", "Bad Name", "dropped"),
		typed("5", "Etag", `"v1"`, "Cache-Control", "max-age=60", "Last-Modified", date),
		typed("abc"),
		typed("5", "Content-Length", "5"),
		{"Content-Length": {"0"}},
		{"Content-Length": {"5"}},
		{},
		{"Content-Length": {"5"}, "Content-Encoding": {"gzip"}},
		{"Content-Length": {"5"}, "Content-Encoding": {""}},
		{"Content-Length": {"5"}, "Content-Encoding": {"", "gzip"}},
		typed("5", "Transfer-Encoding", "chunked"),
		typed("5", "Transfer-Encoding", "identity"),
		typed("5", "Trailer", "X-T"),
		typed("5", http.TrailerPrefix+"X-T", "v"),
	}
	count, taken := 0, 0
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		for _, method := range []string{"GET", "HEAD"} {
			for _, connection := range []string{"", "close", "keep-alive"} {
				for _, code := range []int{200, 201, 204, 304, 404, 500, 503, 299} {
					for _, hdr := range shapes {
						for _, headBody := range []bool{false, true} {
							if headBody && method != "HEAD" {
								continue
							}
							ac := appendCase{method: method, proto: proto, connection: connection, code: code, hdr: hdr, headBody: headBody}
							ac.check(t, s, addr, false)
							count++
							if refusal(method, map[string]int{"HTTP/1.1": 1, "HTTP/1.0": 0}[proto], code, hdr) == "" {
								taken++
							}
						}
					}
				}
			}
		}
	}
	if taken < count/3 {
		t.Errorf("only %d of %d answers were compared", taken, count)
	}
}

// TestAppendHeadShutting: during Shutdown every answer closes the
// connection and says so.
func TestAppendHeadShutting(t *testing.T) {
	s, _ := startLoopServer(t)
	for _, connection := range []string{"", "keep-alive", "close"} {
		for _, hdrConn := range []string{"", "close", "Close", "keep-alive"} {
			hdr := http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"0"}}
			if hdrConn != "" {
				hdr["Connection"] = []string{hdrConn}
			}
			fields := []string{"Host: a"}
			if connection != "" {
				fields = append(fields, "Connection: "+connection)
			}
			p := parseFor(s, req("GET", "/", "HTTP/1.1", fields...))
			out, closeAfter, ok := AppendHead(nil, p, 200, hdr, true)
			if !ok || !closeAfter {
				t.Fatalf("request Connection %q, answer Connection %q: ok %v closeAfter %v", connection, hdrConn, ok, closeAfter)
			}
			res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
			if err != nil {
				t.Fatalf("%q: %v", out, err)
			}
			if !res.Close || !bytes.Contains(out, []byte("\r\nConnection: close\r\n")) {
				t.Errorf("request Connection %q, answer Connection %q: %q does not close", connection, hdrConn, out)
			}
		}
	}
}

// TestParseAsTheServer: Parse returns nil exactly for the heads the server
// hands to net/http, and otherwise the request its handler sees.
func TestParseAsTheServer(t *testing.T) {
	s, addr := startLoopServer(t)
	tests := []struct {
		name, request string
		parsed        bool
	}{
		{"GET", req("GET", "/echo?a=1", "HTTP/1.1", "Host: example.com", "Accept: */*", "X-Multi: a", "X-Multi: b"), true},
		{"HEAD", req("HEAD", "/echo", "HTTP/1.1", "Host: example.com"), true},
		{"GET close", req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: close"), true},
		{"GET keep-alive", req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: keep-alive"), true},
		{"HTTP/1.0 GET", req("GET", "/echo", "HTTP/1.0"), true},
		{"HTTP/1.0 keep-alive", req("GET", "/echo", "HTTP/1.0", "Host: a", "Connection: keep-alive"), true},
		{"pragma no-cache", req("GET", "/echo", "HTTP/1.1", "Host: a", "Pragma: no-cache"), true},
		{"escaped target", req("GET", "/a%20b/%2F?x=%41&y", "HTTP/1.1", "Host: a"), true},
		{"lower-case names", req("GET", "/echo", "HTTP/1.1", "host: a", "x-lower: 1"), true},
		{"POST", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", false},
		{"POST without body", req("POST", "/echo", "HTTP/1.1", "Host: a", "Content-Length: 0"), false},
		{"GET with body", "GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", false},
		{"GET chunked", "GET /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"Upgrade", req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket"), false},
		{"Expect", req("GET", "/echo", "HTTP/1.1", "Host: a", "Expect: 100-continue"), false},
		{"bare LF", "GET /echo HTTP/1.1\nHost: a\n\n", false},
		{"bare LF in a field", "GET /echo HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", false},
		{"absolute form", req("GET", "http://example.com/echo", "HTTP/1.1", "Host: example.com"), false},
		{"two Hosts", req("GET", "/echo", "HTTP/1.1", "Host: a", "Host: b"), false},
		{"no Host", req("GET", "/echo", "HTTP/1.1"), false},
		{"bad escape", req("GET", "/a%zz", "HTTP/1.1", "Host: a"), false},
		{"obs-fold", req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Fold: one", " two"), false},
		{"HTTP/1.2", req("GET", "/echo", "HTTP/1.2", "Host: a"), false},
		{"OPTIONS *", req("OPTIONS", "*", "HTTP/1.1", "Host: a"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := parseFor(s, tc.request)
			if (p != nil) != tc.parsed {
				t.Fatalf("Parse(%q) parsed: %v, want %v", tc.request, p != nil, tc.parsed)
			}
			c := porttest.Dial(t, addr)
			io.WriteString(c, tc.request)
			method, _, _ := strings.Cut(tc.request, " ")
			res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
			if err != nil {
				t.Fatalf("%q: %v", tc.request, err)
			}
			served, _ := io.ReadAll(res.Body)
			if method == "HEAD" {
				served = []byte(res.Header.Get("X-Echo"))
			}
			onLoop := res.Header.Get("X-Loop") != ""
			if onLoop != (p != nil) {
				t.Fatalf("%q: Parse parsed: %v, the server answered it itself: %v (%d %q)", tc.request, p != nil, onLoop, res.StatusCode, served)
			}
			if p == nil {
				return
			}
			// The request as the handler saw it, and as Parse built it.
			rec := httptest.NewRecorder()
			echo(rec, p.R)
			got := rec.Body.String()
			if method == "HEAD" {
				got = strconv.Quote(got)
			}
			if got != string(served) {
				t.Errorf("%q: the handler saw\n%s\nParse built\n%s", tc.request, served, got)
			}
			if p.R.RemoteAddr != "127.0.0.1:12345" || p.R.Body != http.NoBody {
				t.Errorf("%q: RemoteAddr %q Body %v: not the template's", tc.request, p.R.RemoteAddr, p.R.Body)
			}
		})
	}
}

// FuzzAppendHead runs AppendHead on answers made of a fuzzed status code,
// method, request Connection and header: it must not panic; what it takes
// must read back with http.ReadResponse with that status (for a header a
// backend's answer can carry) and, while not shutting down, be what the
// server writes for the same answer.
func FuzzAppendHead(f *testing.F) {
	f.Add(uint16(200), byte(0), byte(0), "X-A", "1", "", "", "", "")
	f.Add(uint16(204), byte(1), byte(1), "Content-Type", "text/html", "Etag", `"x"`, "", "")
	f.Add(uint16(304), byte(2), byte(2), "Content-Type", "text/html", "Connection", "close", "Date", "Mon, 02 Jan 2006 15:04:05 GMT")
	f.Add(uint16(404), byte(3), byte(3), "Content-Encoding", "gzip", "Set-Cookie", "a", "Set-Cookie", "b")
	f.Add(uint16(500), byte(8), byte(4), "Connection", "Close", "Trailer", "X", "Transfer-Encoding", "chunked")
	f.Add(uint16(299), byte(16), byte(5), "X-Crlf", "a\r\nb", "x-lower", " v ", "Bad Name", "x")
	f.Add(uint16(999), byte(5), byte(6), "Content-Length", "7", "Content-Length", "7", "Content-Type", "")
	f.Add(uint16(103), byte(0), byte(1), "Connection", "keep-alive", "", "", "", "")
	f.Add(uint16(200), byte(32), byte(11), "Etag", `"v"`, "Age", "1", "X-Cache", "HIT")
	f.Add(uint16(200), byte(33), byte(2), "Date", "Mon, 02 Jan 2006 15:04:05 GMT", "Server", "a", "Content-Encoding", "gzip")
	s, addr := startLoopServer(f)
	lengths := []string{"", "0", "5", "100", "3000", "abc", "-1", " 5"}
	f.Fuzz(func(t *testing.T, code uint16, variant, length byte, k1, v1, k2, v2, k3, v3 string) {
		method := [2]string{"GET", "HEAD"}[variant&1]
		connection := [4]string{"", "close", "keep-alive", "Keep-Alive, CLOSE"}[variant>>1&3]
		shutting := variant&8 != 0
		proto := "HTTP/1.1"
		if variant&16 != 0 {
			proto = "HTTP/1.0"
		}
		hdr := http.Header{}
		if l := lengths[int(length)%len(lengths)]; l != "" {
			hdr["Content-Length"] = []string{l}
		}
		if length&8 != 0 {
			hdr["Content-Type"] = []string{"text/plain"}
		}
		for _, kv := range [][2]string{{k1, v1}, {k2, v2}, {k3, v3}} {
			if kv[0] != "" {
				hdr[kv[0]] = append(hdr[kv[0]], kv[1])
			}
		}
		ac := appendCase{method: method, proto: proto, connection: connection, code: int(code) % 1000, hdr: hdr, headBody: true}
		if variant&32 != 0 {
			// The length, type and first field as prepared fields, the
			// rest set after them: a cache hit's answer.
			ac.stored, ac.hdr = http.Header{}, http.Header{}
			for k, vv := range hdr {
				if k == "Content-Length" || k == "Content-Type" || k == k1 {
					ac.stored[k] = vv
				} else {
					ac.hdr[k] = vv
				}
			}
			ac.check(t, s, addr, shutting)
			return
		}
		if n, ok := validLength(hdr); ok && n > 1<<16 {
			return // a body the handler would take long to write
		}
		ac.check(t, s, addr, shutting)

		fields := []string{"Host: a"}
		if connection != "" {
			fields = append(fields, "Connection: "+connection)
		}
		p := parseFor(s, req(method, "/", proto, fields...))
		out, closeAfter, ok := AppendHead(nil, p, ac.code, hdr.Clone(), shutting)
		if !ok {
			return
		}
		if shutting && (!closeAfter || !bytes.Contains(out, []byte("\r\nConnection: close\r\n"))) {
			t.Fatalf("%v: shutting down, closeAfter %v: %q", ac, closeAfter, out)
		}
		if !backendLike(hdr) {
			return
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%v: %q does not read back: %v", ac, out, err)
		}
		if res.StatusCode != ac.code {
			t.Fatalf("%v: %q reads back as %d", ac, out, res.StatusCode)
		}
		if _, conn := hdr["Connection"]; !conn && res.Close != closeAfter {
			t.Fatalf("%v: %q reads back with Close %v, closeAfter %v", ac, out, res.Close, closeAfter)
		}
	})
}

// backendLike reports whether hdr could come from a backend's answer as
// the proxy parses it: valid canonical names, valid values, at most one
// valid length.
func backendLike(hdr http.Header) bool {
	for k, vv := range hdr {
		if !httpguts.ValidHeaderFieldName(k) || http.CanonicalHeaderKey(k) != k {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	if cl := hdr["Content-Length"]; len(cl) > 0 {
		if _, ok := validLength(hdr); !ok || strings.TrimSpace(cl[0]) != cl[0] || strings.HasPrefix(cl[0], "+") {
			return false
		}
	}
	return true
}
