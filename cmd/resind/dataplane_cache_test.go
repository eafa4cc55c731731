package main

// The epoll data plane is to answer plain fresh proxy-cache hits on its
// loops and hand everything else (misses, conditionals, ranges, no-cache,
// stale) to the ordinary path. TestDataPlaneCacheHitsMatch holds the two
// data planes to the same client-visible answers for cache traffic: the
// same requests, on raw kept-alive connections, against a web tier whose
// cluster has a <proxy-cache> in front of a LoadBalance rule, must get
// byte-for-byte the same answers (status line, every header field with
// its spelling, body) on both planes, with only a Date of the web tier's
// own and the value of Age normalised. The
// requests the origin received, the access log and the cache's counters on
// /resin-admin are part of the transcript too.
//
// Besides the comparison, each plane checks what a user would notice: the
// second GET is an X-Cache HIT and never reaches the origin, a HEAD hit
// has no body, conditionals and ranges are answered from the entry, what
// may not be stored always reaches the origin, and Connection: close is
// honoured.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// dcConf is a web tier whose cluster caches (64 MB in memory, as bench's
// web-c) what its LoadBalance rule fetches from the cluster "app": one
// origin server the test scripts.
const dcConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="origin" address="127.0.0.1" port="{{.Origin}}"/>
  </cluster>
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.WebCluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <proxy-cache memory-size="64M"/>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/web">
        <resin:LoadBalance regexp="^/c/" cluster="app"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

// dcLastModified is the Last-Modified of the resources that have one, and
// the If-Modified-Since every conditional request sends.
const dcLastModified = "Mon, 02 Jan 2006 15:04:05 GMT"

// dcOriginDate is the Date of every answer of the origin: a clock of its
// own, fixed, so that an answer carrying the origin's Date (relayed or
// stored) shows apart from one carrying the web tier's, whose Date is
// normalised.
const dcOriginDate = "Tue, 15 Nov 1994 08:12:31 GMT"

// dcResource is one path the origin answers, always the same way.
type dcResource struct {
	path      string
	cacheable bool     // the cache may keep it (cache/storable.go)
	req       []string // fields every request for it carries
	status    int
	fields    [][2]string // the origin's fields; Content-Type only when listed
	body      []byte
	chunked   bool // answered without Content-Length, flushed midway
}

func (r *dcResource) field(name string) string {
	for _, f := range r.fields {
		if strings.EqualFold(f[0], name) {
			return f[1]
		}
	}
	return ""
}

// dcResources are the scripted answers.
var dcResources = func() []*dcResource {
	fresh := [2]string{"Cache-Control", "max-age=60"}
	text := [2]string{"Content-Type", "text/plain; charset=utf-8"}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz) // no name, no time: the same bytes each run
	io.WriteString(zw, strings.Repeat("compressed by the origin; ", 20))
	zw.Close()
	return []*dcResource{
		{path: "/c/typed", cacheable: true, status: 200, fields: [][2]string{fresh, text},
			body: []byte("a typed body\n")},
		{path: "/c/validators", cacheable: true, status: 200,
			fields: [][2]string{fresh, {"Content-Type", "text/html"}, {"ETag", `"v1"`}, {"Last-Modified", dcLastModified}},
			body:   []byte("<p>" + strings.Repeat("v", 93) + "</p>")},
		{path: "/c/lastmod", cacheable: true, status: 200,
			fields: [][2]string{fresh, text, {"Last-Modified", dcLastModified}},
			body:   []byte("only a Last-Modified")},
		{path: "/c/weak", cacheable: true, status: 200,
			fields: [][2]string{fresh, text, {"ETag", `W/"w1"`}},
			body:   []byte("a weak entity tag")},
		{path: "/c/gzip", cacheable: true, req: []string{"Accept-Encoding: gzip"}, status: 200,
			fields: [][2]string{fresh, {"Content-Encoding", "gzip"}, {"Vary", "Accept-Encoding"}},
			body:   gz.Bytes()},
		{path: "/c/vary", cacheable: true, req: []string{"Accept-Encoding: br"}, status: 200,
			fields: [][2]string{fresh, text, {"Vary", "Accept-Encoding"}},
			body:   []byte("identity, whatever was accepted")},
		{path: "/c/server", cacheable: true, status: 200,
			fields: [][2]string{fresh, text, {"Server", "origin-httpd/2.4"}},
			body:   []byte("the origin names itself")},
		{path: "/c/via", cacheable: true, status: 200,
			fields: [][2]string{fresh, text, {"Via", "1.0 upstream-cache"}},
			body:   []byte("came through a cache before")},
		{path: "/c/hops", cacheable: true, status: 200,
			fields: [][2]string{fresh, text, {"Connection", "X-Private"}, {"X-Private", "hop"},
				{"Keep-Alive", "timeout=9"}, {"X-End", "end-to-end"}},
			body: []byte("hop-by-hop fields to drop")},
		{path: "/c/empty", cacheable: true, status: 200, fields: [][2]string{fresh, text}, body: []byte{}},
		{path: "/c/100", cacheable: true, status: 200,
			fields: [][2]string{fresh, {"Content-Type", "application/octet-stream"}}, body: dpPattern(100)},
		{path: "/c/64k", cacheable: true, status: 200,
			fields: [][2]string{fresh, {"Content-Type", "application/octet-stream"}}, body: dpPattern(64 << 10)},
		{path: "/c/chunked", cacheable: true, status: 200, fields: [][2]string{fresh, text},
			body: []byte("sent in pieces, without Content-Length"), chunked: true},
		// Last of the stored ones: the loop lends these to the ordinary
		// path (a body whose type the server sniffs).
		{path: "/c/untyped", cacheable: true, status: 200, fields: [][2]string{fresh},
			body: []byte("no Content-Type at all")},
		{path: "/c/404", cacheable: true, status: 404, fields: [][2]string{fresh, text},
			body: []byte("not here, for a minute")},
		{path: "/c/nostore", status: 200, fields: [][2]string{{"Cache-Control", "no-store"}, text},
			body: []byte("never kept")},
		{path: "/c/private", status: 200, fields: [][2]string{{"Cache-Control", "private, max-age=60"}, text},
			body: []byte("for one user")},
		{path: "/c/cookie", status: 200, fields: [][2]string{fresh, text, {"Set-Cookie", "sid=abc123; Path=/"}},
			body: []byte("comes with a cookie")},
	}
}()

// ---------------------------------------------------------------------
// The origin: a net/http server answering dcResources, counting and
// recording what it receives.

type dcOrigin struct {
	port int
	res  map[string]*dcResource

	mu    sync.Mutex
	count map[string]int
	seen  []string // "METHOD URI [fields]", in arrival order
	taken int      // seen[:taken] are in the transcript
}

func newDCOrigin(t *testing.T) *dcOrigin {
	o := &dcOrigin{res: map[string]*dcResource{}, count: map[string]int{}}
	for _, r := range dcResources {
		o.res[r.path] = r
	}
	ln, port := dpListen(t)
	o.port = port
	srv := &http.Server{Handler: o, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

func (o *dcOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/resin/") {
		// The web tier's cluster traffic: this is not a resind server.
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	o.mu.Lock()
	o.count[r.URL.Path]++
	n := o.count[r.URL.Path]
	o.seen = append(o.seen, fmt.Sprintf("%s %s %s", r.Method, r.RequestURI, dpHeaderLine(r.Header)))
	o.mu.Unlock()

	res := o.res[r.URL.Path]
	if res == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h["Content-Type"] = nil // no sniffing: only the listed one
	for _, f := range res.fields {
		h.Add(f[0], f[1])
	}
	h.Set("X-Served", strconv.Itoa(n)) // the origin's count for the path
	h.Set("Date", dcOriginDate)
	if res.status == 200 && dcNotModified(r, res) {
		for _, k := range []string{"Content-Type", "Content-Encoding", "Connection", "X-Private", "Keep-Alive"} {
			delete(h, k)
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if !res.chunked {
		h.Set("Content-Length", strconv.Itoa(len(res.body)))
	}
	w.WriteHeader(res.status)
	if r.Method == http.MethodHead {
		return
	}
	if res.chunked {
		half := len(res.body) / 2
		w.Write(res.body[:half])
		w.(http.Flusher).Flush()
		w.Write(res.body[half:])
		return
	}
	w.Write(res.body)
}

// dcNotModified is the origin's own evaluation of the request's condition.
func dcNotModified(r *http.Request, res *dcResource) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		etag := res.field("ETag")
		return etag != "" && strings.TrimPrefix(inm, "W/") == strings.TrimPrefix(etag, "W/")
	}
	ims, lm := r.Header.Get("If-Modified-Since"), res.field("Last-Modified")
	if ims == "" || lm == "" {
		return false
	}
	it, err1 := http.ParseTime(ims)
	lt, err2 := http.ParseTime(lm)
	return err1 == nil && err2 == nil && !lt.After(it)
}

func (o *dcOrigin) requests(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[path]
}

// fresh returns what the origin received since the last call.
func (o *dcOrigin) fresh() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := slices.Clone(o.seen[o.taken:])
	o.taken = len(o.seen)
	return out
}

// ---------------------------------------------------------------------
// One plane's installation.

type dcSite struct {
	*site
	t      *testing.T
	mode   string
	addr   string // web-a's HTTP listener
	http   int
	origin *dcOrigin

	transcript []string
}

func newDCSite(t *testing.T, m dpMode) *dcSite {
	t.Helper()
	s := newSite(t)
	d := &dcSite{site: s, t: t, mode: m.name, origin: newDCOrigin(t), http: freePort(t)}
	d.addr = fmt.Sprintf("127.0.0.1:%d", d.http)
	s.write("resin.xml", dcConf, struct{ Origin, WebCluster, HTTP int }{d.origin.port, freePort(t), d.http})
	s.writeRaw("web/index.html", "web page")
	s.dpStart("web-a", m)
	// Once web-a has answered its listeners are served, and a loop would
	// have said so.
	if resp, body := get(t, "http://"+d.addr+"/index.html"); resp.StatusCode != 200 || body != "web page" {
		t.Fatalf("GET /index.html = %d %q", resp.StatusCode, body)
	}
	s.dpCheckMode("web-a", d.addr, m)
	return d
}

// note appends line to the transcript, the ports of this run written as
// names.
func (d *dcSite) note(line string) {
	line = strings.ReplaceAll(line, d.addr, "<web-a>")
	line = strings.ReplaceAll(line, fmt.Sprintf("127.0.0.1:%d", d.origin.port), "<origin>")
	d.transcript = append(d.transcript, line)
}

// ---------------------------------------------------------------------
// The client: requests written as bytes, answers read as bytes.

type dcConn struct {
	t    *testing.T
	d    *dcSite
	name string
	c    net.Conn
	br   *bufio.Reader
	n    int    // requests sent
	prev string // the label of the previous answer
}

// dcField is one header field as it came on the wire.
type dcField struct{ name, value string }

// dcAnswer is one response as read from the connection.
type dcAnswer struct {
	statusLine string
	status     int
	fields     []dcField // in wire order
	body       []byte
}

func (a dcAnswer) get(name string) string {
	for _, f := range a.fields {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

func (a dcAnswer) values(name string) []string {
	var out []string
	for _, f := range a.fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

func (d *dcSite) dial(t *testing.T, name string) *dcConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", d.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &dcConn{t: t, d: d, name: name, c: c, br: bufio.NewReader(c)}
}

// do sends method uri with the given fields and reads the answer; what is
// the step's name in the transcript ("hit", "range" ...). The answer, and
// what the origin received meanwhile, go to the transcript.
func (cc *dcConn) do(what, method, uri string, lines ...string) dcAnswer {
	cc.t.Helper()
	cc.n++
	label := fmt.Sprintf("%s#%02d %s %s (%s)", cc.name, cc.n, method, uri, what)
	cc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(cc.c, dpReq(method, uri, lines...)); err != nil {
		cc.t.Fatalf("%s: writing the request: %v", label, err)
	}
	a := cc.read(label, method)
	cc.d.note(label + " | " + a.statusLine)
	for _, f := range dcSorted(a.fields) {
		cc.d.note(label + " | " + f.name + ": " + dcNormal(f))
	}
	cc.d.note(label + " | " + dcBodyLine(a.body))
	for _, s := range cc.d.origin.fresh() {
		cc.d.note(label + " | origin received " + s)
	}
	cc.prev = label
	return a
}

// read reads one answer to a request of method, framed as RFC 9112 §6.3
// says.
func (cc *dcConn) read(label, method string) dcAnswer {
	cc.t.Helper()
	line, err := cc.br.ReadString('\n')
	if err != nil {
		cc.t.Fatalf("%s: no answer: %v (read %q)", label, err, line)
	}
	var a dcAnswer
	if !strings.HasPrefix(line, "HTTP/1.1 ") || !strings.HasSuffix(line, "\r\n") || len(line) < 14 {
		cc.t.Fatalf("%s: the answer starts with %q, not a status line: the previous answer (%s) sent more than it said", label, line, cc.prev)
	}
	a.statusLine = strings.TrimSuffix(line, "\r\n")
	if a.status, err = strconv.Atoi(a.statusLine[9:12]); err != nil {
		cc.t.Fatalf("%s: status line %q", label, a.statusLine)
	}
	for {
		line, err := cc.br.ReadString('\n')
		if err != nil || !strings.HasSuffix(line, "\r\n") {
			cc.t.Fatalf("%s: header cut short: %q (%v)", label, line, err)
		}
		if line == "\r\n" {
			break
		}
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			cc.t.Fatalf("%s: malformed field line %q", label, line)
		}
		a.fields = append(a.fields, dcField{name, strings.Trim(value, " \t")})
	}
	switch {
	case method == http.MethodHead || a.status < 200 || a.status == 204 || a.status == 304:
	case slices.ContainsFunc(a.values("Transfer-Encoding"), func(v string) bool { return strings.Contains(strings.ToLower(v), "chunked") }):
		a.body = cc.readChunked(label)
	case len(a.values("Content-Length")) > 0:
		cls := a.values("Content-Length")
		n, err := strconv.Atoi(cls[0])
		if err != nil || n < 0 || len(cls) > 1 && slices.ContainsFunc(cls, func(v string) bool { return v != cls[0] }) {
			cc.t.Fatalf("%s: Content-Length %q", label, cls)
		}
		a.body = make([]byte, n)
		if _, err := io.ReadFull(cc.br, a.body); err != nil {
			cc.t.Fatalf("%s: body cut short: %v", label, err)
		}
	default:
		// Close-delimited.
		if a.body, err = io.ReadAll(cc.br); err != nil {
			cc.t.Fatalf("%s: reading a close-delimited body: %v", label, err)
		}
	}
	return a
}

func (cc *dcConn) readChunked(label string) []byte {
	cc.t.Helper()
	var body []byte
	for {
		line, err := cc.br.ReadString('\n')
		if err != nil {
			cc.t.Fatalf("%s: chunk size: %v", label, err)
		}
		sz, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sz, 16, 32)
		if err != nil || n < 0 {
			cc.t.Fatalf("%s: chunk size line %q", label, line)
		}
		if n == 0 {
			for { // trailer section
				l, err := cc.br.ReadString('\n')
				if err != nil {
					cc.t.Fatalf("%s: trailer: %v", label, err)
				}
				if l == "\r\n" {
					return body
				}
			}
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(cc.br, chunk); err != nil || !bytes.HasSuffix(chunk, []byte("\r\n")) {
			cc.t.Fatalf("%s: chunk of %d bytes: %v", label, n, err)
		}
		body = append(body, chunk[:n]...)
	}
}

// closedByServer reports whether the server ends the connection, sending
// nothing more, within a few seconds.
func (cc *dcConn) closedByServer() (bool, string) {
	cc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 256)
	n, err := cc.br.Read(b)
	switch {
	case n > 0:
		return false, fmt.Sprintf("%d more bytes: %q", n, b[:n])
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, "still open after 5s"
	case err != nil:
		return true, err.Error()
	}
	return false, "no error"
}

// dcSorted is fields sorted by name, case-insensitively; repeated fields
// keep their order.
func dcSorted(fields []dcField) []dcField {
	out := slices.Clone(fields)
	slices.SortStableFunc(out, func(a, b dcField) int {
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	return out
}

var dcSmallNumber = regexp.MustCompile(`^[0-9]$`)

// dcNormal is f's value with what differs from run to run replaced: the
// value of a Date of the web tier's (the origin's is fixed), and of Age
// while it is a few seconds (an entry is 0 or 1 s old depending on timing;
// anything else is kept, to show).
func dcNormal(f dcField) string {
	switch {
	case strings.EqualFold(f.name, "Date"):
		if _, err := http.ParseTime(f.value); err == nil && f.value != dcOriginDate {
			return "<web tier's date>"
		}
	case strings.EqualFold(f.name, "Age"):
		if dcSmallNumber.MatchString(f.value) {
			return "<seconds>"
		}
	}
	return f.value
}

func dcBodyLine(b []byte) string {
	if len(b) <= 64 && utf8.Valid(b) {
		return fmt.Sprintf("body %d bytes %q", len(b), b)
	}
	return fmt.Sprintf("body %d bytes sha256:%x", len(b), sha256.Sum256(b))
}

// ---------------------------------------------------------------------
// Comparing the planes.

// dcDiff is a line diff of a against b (LCS), "-" for a's lines, "+" for
// b's, with two lines of context around each change and at most limit
// changed lines shown.
func dcDiff(a, b []string, limit int) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		line string
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i]})
			i++
		default:
			ops = append(ops, op{'+', b[j]})
			j++
		}
	}
	const context = 2
	var out strings.Builder
	shown, last := 0, -1
	for k, o := range ops {
		if o.kind == ' ' {
			continue
		}
		if shown == limit {
			fmt.Fprintf(&out, "... (more differences)\n")
			break
		}
		from := k - context
		if from <= last {
			from = last + 1
		} else if last >= 0 || from > 0 {
			out.WriteString("  ...\n")
		}
		from = max(from, 0)
		for c := from; c < k; c++ {
			fmt.Fprintf(&out, "  %s\n", ops[c].line)
		}
		fmt.Fprintf(&out, "%c %s\n", o.kind, o.line)
		shown++
		last = k
		// Trailing context, unless another change follows soon.
		for c := k + 1; c < len(ops) && c <= k+context && ops[c].kind == ' '; c++ {
			if slices.ContainsFunc(ops[c:min(len(ops), k+2*context+1)], func(o op) bool { return o.kind != ' ' }) {
				break
			}
			fmt.Fprintf(&out, "  %s\n", ops[c].line)
			last = c
		}
	}
	return out.String()
}

// dcCompare fails t with a diff when the planes' transcripts differ.
func dcCompare(t *testing.T, g, e []string, mode string) {
	t.Helper()
	if slices.Equal(g, e) {
		return
	}
	t.Errorf("the %s data plane answers cache traffic differently from the goroutine path (%d and %d transcript lines; - goroutine, + %[1]s):\n%[4]s",
		mode, len(g), len(e), dcDiff(g, e, 40))
}

// ---------------------------------------------------------------------
// The scenario.

// dcCacheStatus is the part of /resin-admin/api/status this test reads.
type dcCacheStatus struct {
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	FastPath uint64 `json:"fast_path_requests"`
	Caches   []struct {
		Cluster       string `json:"cluster"`
		Hits          uint64 `json:"hits"`
		Misses        uint64 `json:"misses"`
		Revalidations uint64 `json:"revalidations"`
		Stores        uint64 `json:"stores"`
		Evictions     uint64 `json:"evictions"`
		Bytes         int64  `json:"bytes"`
		Entries       int64  `json:"entries"`
	} `json:"caches"`
}

// dcHit is a request the cache answers with a fresh hit.
type dcHit struct {
	res    *dcResource
	method string
}

// dcHits sends hits on a new connection named name, the last asking to
// close, checks each is answered from the cache and that the server
// closes after the last, and returns how many requests it sent.
func dcHits(t *testing.T, d *dcSite, name string, hits []dcHit) int {
	t.Helper()
	cc := d.dial(t, name)
	for i, h := range hits {
		res, last := h.res, i == len(hits)-1
		lines := slices.Clone(res.req)
		if last {
			lines = append(lines, "Connection: close")
		}
		a := cc.do("hit", h.method, res.path, lines...)
		if a.status != res.status || a.get("X-Cache") != "HIT" || a.get("Age") == "" ||
			h.method == "GET" && !bytes.Equal(a.body, res.body) {
			t.Errorf("%s: %s %s = %d X-Cache %q Age %q with %d bytes, want %d HIT with an Age and %d bytes",
				name, h.method, res.path, a.status, a.get("X-Cache"), a.get("Age"), len(a.body), res.status, len(res.body))
		}
		if h.method == "HEAD" && a.get("Content-Length") != strconv.Itoa(len(res.body)) {
			t.Errorf("%s: HEAD %s: Content-Length %q, want %d", name, res.path, a.get("Content-Length"), len(res.body))
		}
		if last {
			if !slices.ContainsFunc(a.values("Connection"), func(v string) bool { return strings.EqualFold(v, "close") }) {
				t.Errorf("%s: the answer to a request with Connection: close says Connection %q", name, a.values("Connection"))
			}
			// (A body after a HEAD's head would show here, or as the
			// next answer's status line.)
			if closed, why := cc.closedByServer(); !closed {
				t.Errorf("%s: after answering a request with Connection: close the server did not close the connection: %s", name, why)
			}
		}
	}
	return len(hits)
}

// dcAccessStamp is the time of an access log line.
var dcAccessStamp = regexp.MustCompile(`\[[^\]]*\]`)

// dcStatusSize is the byte count of an access log line for the status API.
var dcStatusSize = regexp.MustCompile(`("GET /resin-admin/api/status HTTP/1\.1" 200 )\d+`)

// TestDataPlaneCacheHitsMatch: for every scripted resource, on one
// kept-alive connection, a GET that fills the cache, a GET hit, a HEAD
// hit, a GET with If-None-Match, one with If-Modified-Since, one with
// Range: bytes=0-9, one with Cache-Control: no-cache and a last GET (on
// the epoll plane the loop lends the connection to the ordinary path for
// each request it does not answer itself, and takes it back); then hits
// only: a second connection with a GET and a HEAD of every stored
// resource, and a connection per stored resource (GET, HEAD, GET), each
// ending with Connection: close — the requests the epoll plane answers
// itself. Both planes must answer alike, byte for byte.
func TestDataPlaneCacheHitsMatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	got := map[string][]string{}
	t.Cleanup(func() {
		// Runs after the subtests: compare the planes that passed (a plane run
		// alone with -run, or a failed one, has its own report).
		g := got["goroutine"]
		for _, m := range dpModes[1:] {
			if e := got[m.name]; g != nil && e != nil {
				dcCompare(t, g, e, m.name)
			}
		}
	})
	for _, m := range dpModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			d := newDCSite(t, m)
			dcScenario(t, d)
			if !t.Failed() {
				mu.Lock()
				got[m.name] = d.transcript
				mu.Unlock()
			}
		})
	}
}

func dcScenario(t *testing.T, d *dcSite) {
	requests := 2 // GET /index.html and /resin-admin/api/status, by newDCSite

	// The first connection: every kind of request, for every resource.
	c1 := d.dial(t, "c1")
	for _, res := range dcResources {
		p, body := res.path, res.body
		// etag is what If-None-Match sends: the resource's own, or one
		// that matches nothing.
		etag := res.field("ETag")
		if etag == "" {
			etag = `"other"`
		}
		fill := c1.do("fill", "GET", p, res.req...)
		hit := c1.do("hit", "GET", p, res.req...)
		head := c1.do("head", "HEAD", p, res.req...)
		inm := c1.do("if-none-match", "GET", p, append(slices.Clone(res.req), "If-None-Match: "+etag)...)
		ims := c1.do("if-modified-since", "GET", p, append(slices.Clone(res.req), "If-Modified-Since: "+dcLastModified)...)
		rng := c1.do("range", "GET", p, append(slices.Clone(res.req), "Range: bytes=0-9")...)
		before := d.origin.requests(p)
		c1.do("no-cache", "GET", p, append(slices.Clone(res.req), "Cache-Control: no-cache")...)
		last := c1.do("hit after no-cache", "GET", p, res.req...)
		requests += 8

		for what, a := range map[string]dcAnswer{"fill": fill, "hit": hit, "if-modified-since without a match": ims, "last": last} {
			if what == "if-modified-since without a match" && res.field("Last-Modified") != "" {
				continue
			}
			if a.status != res.status || !bytes.Equal(a.body, body) {
				t.Errorf("%s: GET %s = %d with %d bytes, want %d with the origin's %d", what, p, a.status, len(a.body), res.status, len(body))
			}
		}
		if !res.cacheable {
			// What may not be kept always comes from the origin.
			if n := d.origin.requests(p); n != 8 {
				t.Errorf("the origin received %d requests for %s (not storable), want all 8", n, p)
			}
			if x := hit.get("X-Cache"); x == "HIT" {
				t.Errorf("GET %s (not storable) the second time: X-Cache %s", p, x)
			}
			continue
		}

		if x := fill.get("X-Cache"); x != "MISS" {
			t.Errorf("first GET %s: X-Cache %q, want MISS", p, x)
		}
		if x := hit.get("X-Cache"); x != "HIT" {
			t.Errorf("second GET %s: X-Cache %q, want HIT", p, x)
		}
		if hit.get("Age") == "" {
			t.Errorf("second GET %s: a hit without Age", p)
		}
		if head.status != res.status || head.get("X-Cache") != "HIT" || head.get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("HEAD %s = %d X-Cache %q Content-Length %q, want %d HIT %d",
				p, head.status, head.get("X-Cache"), head.get("Content-Length"), res.status, len(body))
		}
		// (A body after the HEAD's head would have been read as the next
		// answer's status line: read fails on it.)
		if before != 1 {
			t.Errorf("after a GET, a GET, a HEAD, two conditionals and a range of %s the origin received %d requests, want 1 (the fill)", p, before)
		}
		if n := d.origin.requests(p); n != 2 {
			t.Errorf("after the no-cache GET of %s the origin received %d requests, want 2", p, n)
		}
		if x := last.get("X-Cache"); x != "HIT" {
			t.Errorf("GET %s after the no-cache one: X-Cache %q, want HIT", p, x)
		}
		if res.status != 200 {
			continue
		}
		if res.field("ETag") != "" {
			if inm.status != 304 || len(inm.body) != 0 || inm.get("ETag") != res.field("ETag") || inm.get("X-Cache") != "HIT" {
				t.Errorf("GET %s with If-None-Match %s = %d ETag %q X-Cache %q, want 304 from the cache", p, etag, inm.status, inm.get("ETag"), inm.get("X-Cache"))
			}
		} else if inm.status != 200 || !bytes.Equal(inm.body, body) {
			t.Errorf("GET %s with If-None-Match %s (no ETag) = %d, want the whole 200", p, etag, inm.status)
		}
		if res.field("Last-Modified") != "" && ims.status != 304 {
			t.Errorf("GET %s with If-Modified-Since its Last-Modified = %d, want 304", p, ims.status)
		}
		switch {
		case len(body) >= 10:
			if cr := fmt.Sprintf("bytes 0-9/%d", len(body)); rng.status != 206 || rng.get("Content-Range") != cr || !bytes.Equal(rng.body, body[:10]) {
				t.Errorf("GET %s with Range bytes=0-9 = %d Content-Range %q body %q, want 206 %q %q", p, rng.status, rng.get("Content-Range"), rng.body, cr, body[:10])
			}
		case len(body) == 0:
			if rng.status != 416 {
				t.Errorf("GET %s (empty) with Range bytes=0-9 = %d, want 416", p, rng.status)
			}
		}
	}

	// Then only hits, which the epoll plane may answer on its loops: one
	// connection asking for every stored resource, a GET and a HEAD, and one
	// connection per resource (GET, HEAD, GET); each ends with a request
	// asking to close. None of them reaches the origin.
	counts := map[string]int{}
	var cacheable []*dcResource
	for _, res := range dcResources {
		if res.cacheable {
			cacheable = append(cacheable, res)
			counts[res.path] = d.origin.requests(res.path)
		}
	}
	var all []dcHit
	for _, res := range cacheable {
		all = append(all, dcHit{res, "GET"}, dcHit{res, "HEAD"})
	}
	requests += dcHits(t, d, "c2", append(all, dcHit{cacheable[0], "GET"}))
	for i, res := range cacheable {
		requests += dcHits(t, d, fmt.Sprintf("c%d", 3+i), []dcHit{{res, "GET"}, {res, "HEAD"}, {res, "GET"}})
	}
	for p, n := range counts {
		if got := d.origin.requests(p); got != n {
			t.Errorf("hits reached the origin for %s: %d requests, were %d", p, got, n)
		}
	}

	// The access log: one line per request, alike on both planes (sorted,
	// once the times are out: the connections' last lines may be written
	// in either order).
	var lines []string
	eventually(t, 10*time.Second, fmt.Sprintf("web-a's access log to hold %d lines", requests), func() bool {
		b, _ := os.ReadFile(filepath.Join(d.dir, "log", "web-a-access.log"))
		lines = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		return len(b) > 0 && len(lines) >= requests
	})
	if len(lines) != requests {
		t.Errorf("web-a's access log holds %d lines for %d requests", len(lines), requests)
	}
	for i, l := range lines {
		lines[i] = dcAccessStamp.ReplaceAllString(l, "[<time>]")
		// The status API's answer (newDCSite's check of the plane)
		// differs by plane in its length: it names the plane.
		lines[i] = dcStatusSize.ReplaceAllString(lines[i], "$1<bytes>")
	}
	slices.Sort(lines)
	for _, l := range lines {
		d.note("access log | " + l)
	}

	// The operator's counters.
	_, body := get(t, "http://"+d.addr+"/resin-admin/api/status")
	var st dcCacheStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Caches) != 1 {
		t.Fatalf("/resin-admin/api/status: %v, caches %+v\n%s", err, st.Caches, body)
	}
	c := st.Caches[0]
	d.note(fmt.Sprintf("status | requests=%d errors=%d", st.Requests, st.Errors))
	d.note(fmt.Sprintf("status | cache %s hits=%d misses=%d revalidations=%d stores=%d evictions=%d entries=%d bytes=%d",
		c.Cluster, c.Hits, c.Misses, c.Revalidations, c.Stores, c.Evictions, c.Entries, c.Bytes))
}

// TestDataPlaneLentConnectionComesBack: a connection whose first request is
// a cache miss is lent to the ordinary path for that request only, and the
// hits after it on the same connection are answered by the epoll plane
// itself, as /resin-admin's fast-path count shows (none on the goroutine
// plane), hits pipelined in one write among them. Were it handed over for
// good, the count would stay at zero.
func TestDataPlaneLentConnectionComesBack(t *testing.T) {
	t.Parallel()
	for _, m := range dpModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			d := newDCSite(t, m)
			res := dcResources[0]
			cc := d.dial(t, "c")
			const hits = 5
			for i := range 1 + hits {
				a := cc.do("get", "GET", res.path, res.req...)
				want := "HIT"
				if i == 0 {
					want = "MISS"
				}
				if a.status != 200 || a.get("X-Cache") != want || !bytes.Equal(a.body, res.body) {
					t.Fatalf("GET %s #%d = %d X-Cache %q %q, want 200 %s %q", res.path, i, a.status, a.get("X-Cache"), a.body, want, res.body)
				}
			}
			// A second miss on the connection now on the loop: lent again,
			// back again.
			other := dcResources[1]
			for i := range 2 {
				if a := cc.do("get", "GET", other.path, other.req...); a.status != 200 || i == 1 && a.get("X-Cache") != "HIT" {
					t.Fatalf("GET %s #%d = %d X-Cache %q", other.path, i, a.status, a.get("X-Cache"))
				}
			}
			// Three hits pipelined in one write: the loop answers them one
			// after the other.
			const pipelined = 3
			cc.c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(cc.c, strings.Repeat(dpReq("GET", res.path, res.req...), pipelined)); err != nil {
				t.Fatalf("writing %d pipelined requests: %v", pipelined, err)
			}
			for i := range pipelined {
				a := cc.read(fmt.Sprintf("pipelined #%d", i+1), "GET")
				if a.status != 200 || a.get("X-Cache") != "HIT" || !bytes.Equal(a.body, res.body) {
					t.Fatalf("pipelined GET %s #%d = %d X-Cache %q %q, want 200 HIT %q", res.path, i+1, a.status, a.get("X-Cache"), a.body, res.body)
				}
			}
			_, body := get(t, "http://"+d.addr+"/resin-admin/api/status")
			var st dcCacheStatus
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatalf("/resin-admin/api/status: %v\n%s", err, body)
			}
			want := uint64(0)
			if m.epoll() {
				want = hits + 1 + pipelined
			}
			if st.FastPath != want {
				t.Errorf("%s plane: fast_path_requests = %d of %d requests, want %d (the hits after each miss, pipelined ones too)", m.name, st.FastPath, st.Requests, want)
			}
		})
	}
}
