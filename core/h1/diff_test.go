package h1

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"resind/internal/porttest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The differential tests send the same bytes to a net/http.Server and to
// an h1.Server running the same handlers and compare what comes back. The
// comparison is of the bytes a client receives, normalised only where the
// two may legitimately differ:
//
//   - the Date field's value (the clock moves);
//   - the order of header fields and of trailer fields (h1 writes them in
//     map order, net/http sorted; order carries no meaning, RFC 9110 5.3);
//   - the chunk boundaries of a chunked body, which is compared decoded
//     (net/http cuts chunks where its 2 KiB buffer fills, h1 where the
//     handler writes; RFC 9112 7.1: chunk sizes carry no meaning);
//   - a reset read as a close (which one a client sees after the server
//     closes depends on timing, not on the server).
//
// Everything else — status lines, field names and values, bodies, where a
// response ends, whether the connection is closed after it — must be the
// same.
//
// Known differences, not covered here on purpose:
//
//   - A request's context on the loop is never cancelled (see conn.tmpl);
//     net/http cancels it when the client goes away or the handler
//     returns.
//   - The loop's ResponseWriter has no Hijack, CloseNotify or ReadFrom:
//     requests that upgrade are handed to net/http before a handler runs,
//     but a handler hijacking a plain GET would fail, and io.Copy to it
//     does not use sendfile.
//   - net/http sends the header as it was at WriteHeader (or the first
//     Write) even if the handler changes it through a map it kept from
//     before; the loop copies it only when the handler calls Header()
//     after WriteHeader (what setting trailers does), so changes made
//     through a kept map before the head is written are sent.
//   - A field also declared as a trailer is never sent in the head
//     (net/http sends it there too if it had a value at WriteHeader).
//   - With IdleTimeout zero, ReadHeaderTimeout bounds the wait between
//     requests (net/http: ReadTimeout, none if zero).

// bigBody is larger than both servers' buffer before chunking (2 KiB).
var bigBody = strings.Repeat("0123456789abcdef", 200) // 3200 bytes

// diffHandler is the set of handlers both servers run, by path.
// diffFiles is the directory of the files the file handlers serve, made
// by TestMain.
var diffFiles string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "h1-test-")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "big"), []byte(bigBody+bigBody+bigBody), 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "small"), []byte("<p>small</p>"), 0o644)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "mid"), []byte(bigBody), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	diffFiles = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func diffHandler() http.Handler {
	mux := http.NewServeMux()
	h := func(path string, f func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(path, f)
	}
	h("/small", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, world\n")
	})
	h("/small-bytes", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello, world\n"))
	})
	h("/empty", func(w http.ResponseWriter, r *http.Request) {})
	h("/large", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(bigBody))
	})
	h("/large-pieces", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(bigBody); i += 100 {
			io.WriteString(w, bigBody[i:i+100])
		}
	})
	h("/large-after-small", func(w http.ResponseWriter, r *http.Request) {
		// The first write alone sniffs as text/plain; with what
		// follows it is HTML.
		io.WriteString(w, "<html")
		io.WriteString(w, "><body>"+bigBody+"</body></html>")
	})
	// Files, as static content is served: http.ServeContent copies the
	// file through the writer's ReadFrom (sendfile on a TCP connection).
	bigFile, smallFile := filepath.Join(diffFiles, "big"), filepath.Join(diffFiles, "small")
	modTime := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	serveFile := func(name string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(name)
			if err != nil {
				panic(err)
			}
			defer f.Close()
			http.ServeContent(w, r, "", modTime, f)
		}
	}
	h("/file", serveFile(bigFile))
	h("/file-small", serveFile(smallFile))
	h("/file-mid", serveFile(filepath.Join(diffFiles, "mid"))) // fits the write buffer with its head
	h("/copy-unsized", func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(bigFile)
		defer f.Close()
		io.Copy(w, struct{ io.Reader }{f}) // no length: chunked
	})
	h("/copy-cl", func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(bigFile)
		defer f.Close()
		w.Header().Set("Content-Length", strconv.Itoa(3*len(bigBody)))
		io.Copy(w, io.LimitReader(f, int64(3*len(bigBody))))
	})
	h("/copy-cl-short", func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(bigFile)
		defer f.Close()
		w.Header().Set("Content-Length", strconv.Itoa(4*len(bigBody)))
		io.Copy(w, f) // a quarter short: the connection closes
	})
	h("/copy-after-write", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>"+bigBody)
		f, _ := os.Open(bigFile)
		defer f.Close()
		io.Copy(w, f)
	})
	// Bodies larger than the write buffer in one write: with the head
	// they leave in one writev.
	huge := strings.Repeat(bigBody, 7) // 22400 bytes
	h("/huge", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, huge)
	})
	h("/huge-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(huge)))
		w.Write([]byte(huge))
	})
	h("/huge-pieces", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2*len(huge)))
		w.Write([]byte(huge[:100]))
		w.Write([]byte(huge))
		w.Write([]byte(huge[100:]))
	})
	h("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	h("/cl-large", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(bigBody)))
		io.WriteString(w, bigBody)
	})
	h("/cl-overflow", func(w http.ResponseWriter, r *http.Request) {
		// Declared 10, the second write would make it 11.
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
		if _, err := io.WriteString(w, "world!"); !errors.Is(err, http.ErrContentLength) {
			panic(fmt.Sprintf("overlong write: %v", err))
		}
	})
	h("/cl-exact-then-more", func(w http.ResponseWriter, r *http.Request) {
		// The body is complete; the extra write fails. net/http counts
		// the failed bytes as written and so closes the connection.
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
		if _, err := io.WriteString(w, "!"); !errors.Is(err, http.ErrContentLength) {
			panic(fmt.Sprintf("overlong write: %v", err))
		}
	})
	h("/cl-short", func(w http.ResponseWriter, r *http.Request) {
		// Declared more than written: the connection must close.
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "hello")
	})
	h("/cl-invalid", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "abc")
	})
	h("/204", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "0")
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-A", "a")
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "body"); !errors.Is(err, http.ErrBodyNotAllowed) {
			panic(fmt.Sprintf("write to 204: %v", err))
		}
	})
	h("/304", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", "10")
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusNotModified)
	})
	h("/103", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", "</style.css>; rel=preload; as=style")
		w.Header().Set("Content-Length", "2") // not sent with the 103
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Add("Link", "</script.js>; rel=preload; as=script")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok")
	})
	h("/sniff", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>hi</body></html>")
	})
	h("/nosniff", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html><body>hi</body></html>")
	})
	h("/encoded", func(w http.ResponseWriter, r *http.Request) {
		// A Content-Encoding turns sniffing off.
		w.Header().Set("Content-Encoding", "x-custom")
		io.WriteString(w, "<html><body>hi</body></html>")
	})
	h("/nodate", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		io.WriteString(w, "x")
	})
	h("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "second")
	})
	h("/flush-empty", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
	})
	h("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum, x-other")
		w.Header().Add("Trailer", "Content-Length") // not allowed as a trailer
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set("X-Other", "def")
		w.Header().Set("Content-Length", "99")
	})
	h("/trailer-prefix", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		w.Header().Set(http.TrailerPrefix+"x-lower", "lower")
		io.WriteString(w, "body")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	h("/trailer-prefix-late", func(w http.ResponseWriter, r *http.Request) {
		// Set only after the body: net/http has already taken the
		// header as written, so no trailer is announced (and the
		// answer has a Content-Length).
		io.WriteString(w, "body")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	h("/crlf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Injected", "a\r\nSet-Cookie: evil=1")
		w.Header().Set("X-Lf", "b\nc")
		w.Header()["X-Spaces"] = []string{"  padded \t"}
		w.Header()["X-Vt"] = []string{"v\v"}
		w.Header()["X-Nbsp"] = []string{"n\u00a0"}
		w.Header()["Bad Name"] = []string{"x"}
		w.Header()["Bad:Name"] = []string{"x"}
		w.Header()[""] = []string{"empty name"}
		w.Header()["x-lower-case"] = []string{"kept as is"}
		io.WriteString(w, "ok")
	})
	h("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	h("/close-capital", func(w http.ResponseWriter, r *http.Request) {
		// net/http compares the first value with "close" exactly.
		w.Header().Set("Connection", "Close")
		io.WriteString(w, "bye")
	})
	h("/keep-alive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "keep-alive")
		io.WriteString(w, "hi")
	})
	h("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	})
	h("/panic-after-write", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		panic("boom")
	})
	h("/panic-after-flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("boom")
	})
	h("/panic-after-large", func(w http.ResponseWriter, r *http.Request) {
		// The answer has begun (past the 2 KiB buffer) when the handler
		// panics: the client gets it cut short.
		io.WriteString(w, bigBody)
		panic("boom")
	})
	h("/abort", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	h("/late-header", func(w http.ResponseWriter, r *http.Request) {
		// Changes after WriteHeader are not sent.
		w.WriteHeader(http.StatusAccepted)
		w.Header().Set("X-Late", "1")
		io.WriteString(w, "x")
	})
	h("/twice", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "x")
	})
	h("/status-299", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(299)
	})
	h("/te-identity", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "identity")
		io.WriteString(w, bigBody)
	})
	h("/te-chunked-small", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "chunked")
		io.WriteString(w, "small")
	})
	h("/te-gzip", func(w http.ResponseWriter, r *http.Request) {
		// A coding of the handler's own: net/http keeps it and chunks
		// after it.
		w.Header()["Transfer-Encoding"] = []string{"gzip", "x-other"}
		io.WriteString(w, "not really gzip")
	})
	h("/te-and-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Transfer-Encoding", "chunked")
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	})
	h("/past-deadline", func(w http.ResponseWriter, r *http.Request) {
		// A write deadline set by a handler ends with its request:
		// the next answer on the connection must not inherit it.
		w.Header().Set("Content-Length", "4")
		io.WriteString(w, "done")
		w.(http.Flusher).Flush()
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(-time.Second))
	})
	h("/echo", echo)
	h("/", echo)
	return mux
}

// echo describes the request as the handler sees it (all but RemoteAddr,
// which differs between the two servers' connections).
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var b strings.Builder
	fmt.Fprintf(&b, "method=%q uri=%q url=%q host=%q proto=%q %d.%d close=%v\n",
		r.Method, r.RequestURI, r.URL.String(), r.Host, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Close)
	fmt.Fprintf(&b, "contentLength=%d te=%q body=%q err=%v trailer=%q\n",
		r.ContentLength, r.TransferEncoding, body, err, r.Trailer)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header[k])
	}
	_, hasLocal := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	_, hasServer := r.Context().Value(http.ServerContextKey).(*http.Server)
	fmt.Fprintf(&b, "localAddr=%v server=%v\n", hasLocal, hasServer)
	io.WriteString(w, b.String())
}

var discardLog = log.New(io.Discard, "", 0)

// pair is a net/http server and an h1 server running the same handler.
type pair struct {
	std, h1 string // addresses
}

func startPair(t testing.TB, handler http.Handler) pair {
	t.Helper()
	return startPairWith(t, handler, 0)
}

// startPairWith starts a pair with MaxHeaderBytes set on both.
func startPairWith(t testing.TB, handler http.Handler, maxHeaderBytes int) pair {
	t.Helper()
	stdLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h1Ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	std := &http.Server{Handler: handler, ErrorLog: discardLog, MaxHeaderBytes: maxHeaderBytes}
	fast := &Server{Handler: handler, Fallback: &http.Server{ErrorLog: discardLog}, ErrorLog: discardLog, MaxHeaderBytes: maxHeaderBytes}
	go std.Serve(stdLn)
	go fast.Serve(h1Ln)
	t.Cleanup(func() {
		std.Close()
		fast.Close()
	})
	return pair{std: stdLn.Addr().String(), h1: h1Ln.Addr().String()}
}

// exchange is what a client sends on one connection.
type exchange struct {
	name  string
	parts []string // written in turn, with a short pause between
	// n is how many final (non-1xx) responses to read before the probe;
	// zero means one per request line in parts.
	n int
	// halfClose closes the client's sending side after the parts.
	halfClose bool
}

var requestLine = regexp.MustCompile(`(?m)^([A-Z]+) \S+ HTTP/1\.[01]\r?$`)

// probe is sent after the expected responses: its answer shows the
// connection was kept (and that it was left in a clean state), its absence
// that it was closed.
const probe = "GET /small?probe HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"

// run sends ex to addr and returns the normalised transcript of what came
// back.
func (ex exchange) run(t testing.TB, addr string) string {
	t.Helper()
	c := porttest.Dial(t, addr)
	defer c.Close()
	var methods []string
	for i, p := range ex.parts {
		if i > 0 {
			// A pause long enough for the server to read what came so
			// far on its own. No event says it has; the comparison holds
			// however the bytes were split.
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := c.Write([]byte(p)); err != nil {
			break // the server closed early; what it said is compared
		}
	}
	for _, m := range requestLine.FindAllStringSubmatch(strings.Join(ex.parts, ""), -1) {
		methods = append(methods, m[1])
	}
	n := ex.n
	if n == 0 {
		n = len(methods)
	}
	if ex.halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	var out []string
	finals := 0
	for finals < n {
		method := "GET"
		if finals < len(methods) {
			method = methods[finals]
		}
		text, final, err := readReply(br, method)
		if text != "" {
			out = append(out, text)
		}
		if err != nil {
			return strings.Join(append(out, "end: "+endOf(err)), "\n")
		}
		if final {
			finals++
		}
	}
	if !ex.halfClose {
		if _, err := c.Write([]byte(probe)); err != nil {
			return strings.Join(append(out, "end: closed (probe not sent)"), "\n")
		}
	}
	for {
		text, _, err := readReply(br, "GET")
		if text != "" {
			out = append(out, "after: "+text)
		}
		if err != nil {
			return strings.Join(append(out, "end: "+endOf(err)), "\n")
		}
	}
}

func endOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout (connection left open)"
	}
	return err.Error()
}

// readReply reads one response and returns it normalised (see the top of
// this file). final is false for a 1xx response. err is io.EOF when the
// connection ended cleanly before or right after (close-delimited body)
// the response.
func readReply(br *bufio.Reader, method string) (text string, final bool, err error) {
	var b strings.Builder
	status, err := readLine(br)
	if err != nil {
		if status != "" {
			return fmt.Sprintf("partial line %q", status), false, err
		}
		return "", false, err
	}
	fmt.Fprintf(&b, "%q\n", status)
	code := 0
	if f := strings.Fields(status); len(f) >= 2 {
		code, _ = strconv.Atoi(f[1])
	}
	var fields []string
	contentLength, chunked := int64(-1), false
	for {
		line, err := readLine(br)
		if err != nil {
			return b.String() + fmt.Sprintf("truncated head %q", fields), false, err
		}
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		switch strings.ToLower(name) {
		case "date":
			if _, err := time.Parse(http.TimeFormat, strings.TrimSpace(value)); err == nil {
				line = name + ": <date>"
			}
		case "content-length":
			contentLength, _ = strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		case "transfer-encoding":
			chunked = strings.EqualFold(strings.TrimSpace(value), "chunked")
		}
		fields = append(fields, line)
	}
	sort.Strings(fields)
	for _, f := range fields {
		fmt.Fprintf(&b, "  %q\n", f)
	}
	final = code >= 200 || code == 101
	switch {
	case code < 200 || code == 204 || code == 304 || method == "HEAD":
		return b.String(), final, nil
	case chunked:
		body, trailers, err := readChunked(br)
		sort.Strings(trailers)
		if err != nil {
			// Where an answer is cut (a handler panicked) depends on
			// the servers' buffer sizes (net/http holds back up to
			// 2 KiB, h1 none): that it is cut is what counts.
			fmt.Fprintf(&b, "  chunked body cut short")
			return b.String(), final, err
		}
		fmt.Fprintf(&b, "  chunked body %s trailers %q", showBody(body), trailers)
		return b.String(), final, err
	case contentLength >= 0:
		body := make([]byte, contentLength)
		n, err := io.ReadFull(br, body)
		fmt.Fprintf(&b, "  body %s", showBody(string(body[:n])))
		if err != nil {
			fmt.Fprintf(&b, " (truncated at %d of %d)", n, contentLength)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
		}
		return b.String(), final, err
	default:
		body, err := io.ReadAll(br)
		fmt.Fprintf(&b, "  body until close %s", showBody(string(body)))
		if err == nil {
			err = io.EOF
		}
		return b.String(), final, err
	}
}

// showBody shows a long body by its length, hash and ends.
func showBody(s string) string {
	if len(s) <= 120 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%d bytes sha256:%x %q...%q", len(s), sha256.Sum256([]byte(s)), s[:40], s[len(s)-40:])
}

// readLine reads a line ending in CRLF and returns it without; a bare LF
// is kept visible.
func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return line, err
	}
	if s, ok := strings.CutSuffix(line, "\r\n"); ok {
		return s, nil
	}
	return line, nil
}

func readChunked(br *bufio.Reader) (body string, trailers []string, err error) {
	var b strings.Builder
	for {
		line, err := readLine(br)
		if err != nil {
			return b.String(), nil, err
		}
		size, perr := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if perr != nil {
			return b.String(), nil, fmt.Errorf("bad chunk size line %q", line)
		}
		if size == 0 {
			break
		}
		chunk := make([]byte, size+2)
		n, err := io.ReadFull(br, chunk)
		if err != nil {
			b.Write(chunk[:n])
			return b.String(), nil, err
		}
		if string(chunk[size:]) != "\r\n" {
			return b.String(), nil, fmt.Errorf("chunk not followed by CRLF")
		}
		b.Write(chunk[:size])
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return b.String(), trailers, err
		}
		if line == "" {
			return b.String(), trailers, nil
		}
		trailers = append(trailers, line)
	}
}

// compare runs ex against both servers and fails if the transcripts
// differ.
func (p pair) compare(t *testing.T, ex exchange) {
	t.Helper()
	want := ex.run(t, p.std)
	got := ex.run(t, p.h1)
	if got != want {
		t.Errorf("%s: h1 differs from net/http\nrequest: %q\nnet/http:\n%s\nh1:\n%s", ex.name, strings.Join(ex.parts, ""), want, got)
	} else if testing.Verbose() && os.Getenv("H1_DIFF_SHOW") != "" {
		t.Logf("%s:\n%s", ex.name, got)
	}
}

// get is a one-request exchange of the request line and fields given.
func req(method, target, proto string, fields ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + target + " " + proto + "\r\n")
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

var diffPaths = []string{
	"/small", "/small-bytes", "/empty", "/large", "/large-pieces", "/large-after-small",
	"/file", "/file-small", "/file-mid", "/huge", "/huge-cl", "/huge-pieces", "/copy-unsized", "/copy-cl", "/copy-cl-short", "/copy-after-write",
	"/cl", "/cl-large", "/cl-overflow", "/cl-exact-then-more", "/cl-short", "/cl-invalid",
	"/204", "/304", "/103", "/sniff", "/nosniff", "/encoded", "/nodate",
	"/flush", "/flush-empty", "/trailer", "/trailer-prefix", "/trailer-prefix-late",
	"/crlf", "/close", "/close-capital", "/keep-alive",
	"/panic", "/panic-after-write", "/panic-after-flush", "/panic-after-large", "/abort",
	"/late-header", "/twice", "/status-299", "/te-identity", "/te-chunked-small", "/te-gzip", "/te-and-cl",
}

// TestDiffHandlers runs every handler under GET and HEAD, on HTTP/1.1 and
// on HTTP/1.0 with and without keep-alive.
func TestDiffHandlers(t *testing.T) {
	p := startPair(t, diffHandler())
	for _, path := range diffPaths {
		for _, method := range []string{"GET", "HEAD"} {
			p.compare(t, exchange{name: method + " " + path + " 1.1",
				parts: []string{req(method, path, "HTTP/1.1", "Host: example.com")}})
			p.compare(t, exchange{name: method + " " + path + " 1.1 close",
				parts: []string{req(method, path, "HTTP/1.1", "Host: example.com", "Connection: close")}})
			if path == "/panic-after-large" && method == "GET" {
				// An HTTP/1.0 body ends with the connection, so the
				// part sent before the panic looks complete, and its
				// length is the servers' buffering (see readReply).
				continue
			}
			p.compare(t, exchange{name: method + " " + path + " 1.0",
				parts: []string{req(method, path, "HTTP/1.0")}})
			p.compare(t, exchange{name: method + " " + path + " 1.0 keep-alive",
				parts: []string{req(method, path, "HTTP/1.0", "Connection: keep-alive")}})
		}
	}
}

// TestDiffPipelined sends several requests in one write.
func TestDiffPipelined(t *testing.T) {
	p := startPair(t, diffHandler())
	var all strings.Builder
	for _, path := range []string{"/small", "/large", "/cl", "/103", "/flush", "/trailer", "/304", "/204", "/echo?x=1"} {
		all.WriteString(req("GET", path, "HTTP/1.1", "Host: example.com"))
		all.WriteString(req("HEAD", path, "HTTP/1.1", "Host: example.com"))
	}
	p.compare(t, exchange{name: "pipelined", parts: []string{all.String()}})
	p.compare(t, exchange{name: "pipelined 1.0 keep-alive", parts: []string{
		req("GET", "/small", "HTTP/1.0", "Connection: keep-alive") +
			req("GET", "/cl", "HTTP/1.0", "Connection: keep-alive") +
			req("GET", "/large", "HTTP/1.0", "Connection: keep-alive") + // close-delimited: ends it
			req("GET", "/small", "HTTP/1.0", "Connection: keep-alive")}})
	p.compare(t, exchange{name: "pipelined then close", parts: []string{
		req("GET", "/small", "HTTP/1.1", "Host: a") +
			req("GET", "/small", "HTTP/1.1", "Host: a", "Connection: close") +
			req("GET", "/small", "HTTP/1.1", "Host: a")}})
	p.compare(t, exchange{name: "pipelined after handler close", parts: []string{
		req("GET", "/close", "HTTP/1.1", "Host: a") + req("GET", "/small", "HTTP/1.1", "Host: a")}})
	p.compare(t, exchange{name: "pipelined after short body", parts: []string{
		req("GET", "/cl-short", "HTTP/1.1", "Host: a") + req("GET", "/small", "HTTP/1.1", "Host: a")}})
	p.compare(t, exchange{name: "pipelined after a past write deadline", parts: []string{
		req("GET", "/past-deadline", "HTTP/1.1", "Host: a") + req("GET", "/small", "HTTP/1.1", "Host: a")}})
	p.compare(t, exchange{name: "pipelined after panic", parts: []string{
		req("GET", "/panic", "HTTP/1.1", "Host: a") + req("GET", "/small", "HTTP/1.1", "Host: a")}})
}

// TestDiffLongPipeline sends more pipelined requests than the read buffer
// holds, so that heads straddle its end.
func TestDiffLongPipeline(t *testing.T) {
	p := startPair(t, diffHandler())
	var all strings.Builder
	for i := 0; i < 300; i++ {
		path := "/small"
		if i%7 == 0 {
			path = "/echo?i=" + strconv.Itoa(i)
		}
		all.WriteString(req("GET", path, "HTTP/1.1", "Host: example.com", "X-Pad: "+strings.Repeat("p", i%50)))
	}
	p.compare(t, exchange{name: "300 pipelined", parts: []string{all.String()}})
}

// requestCases are the requests of TestDiffRequests (also the fuzz seeds).
var requestCases = []exchange{
	{name: "1.1 keep-alive", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: example.com", "Accept: */*", "X-Multi: a", "X-Multi: b")}},
	{name: "1.0", parts: []string{req("GET", "/echo", "HTTP/1.0", "Host: example.com")}},
	{name: "1.0 no host", parts: []string{req("GET", "/echo", "HTTP/1.0")}},
	{name: "1.0 keep-alive", parts: []string{req("GET", "/echo", "HTTP/1.0", "Connection: keep-alive")}},
	{name: "1.0 keep-alive mixed case", parts: []string{req("GET", "/echo", "HTTP/1.0", "Connection: Keep-Alive")}},
	{name: "1.0 keep-alive in a list", parts: []string{req("GET", "/echo", "HTTP/1.0", "Connection: foo, keep-alive")}},
	{name: "1.0 keep-alive second field", parts: []string{req("GET", "/echo", "HTTP/1.0", "Connection: foo", "Connection: keep-alive")}},
	{name: "1.1 close", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: close")}},
	{name: "1.1 close in a list", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: keep-alive, CLOSE")}},
	{name: "1.1 close second field", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: te", "Connection: close")}},
	{name: "pragma no-cache", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Pragma: no-cache")}},
	{name: "pragma no-cache in a list", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Pragma: no-cache, x")}},
	{name: "pragma no-cache mixed case", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Pragma: No-Cache")}},
	{name: "pragma no-cache second", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Pragma: x", "Pragma: no-cache")}},
	{name: "pragma with cache-control", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Pragma: no-cache", "Cache-Control: max-age=1")}},
	{name: "post with body", parts: []string{
		"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
			req("GET", "/echo", "HTTP/1.1", "Host: a")}},
	{name: "post body in a second write", parts: []string{
		"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe", "llo",
		req("GET", "/echo", "HTTP/1.1", "Host: a")}},
	{name: "get with content-length 0", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Content-Length: 0") + req("GET", "/small", "HTTP/1.1", "Host: a")}},
	{name: "get with a body", parts: []string{"GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + req("GET", "/small", "HTTP/1.1", "Host: a")}},
	{name: "expect 100-continue", parts: []string{"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", "body"}},
	{name: "chunked", parts: []string{"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n" + req("GET", "/small", "HTTP/1.1", "Host: a")}},
	{name: "missing host", parts: []string{req("GET", "/echo", "HTTP/1.1")}},
	{name: "empty host", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host:")}},
	{name: "two hosts", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Host: b")}},
	{name: "bad host", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a b")}},
	{name: "host with port", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a.example:8080")}},
	{name: "obs-fold", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Fold: one", " two")}},
	{name: "bare LF", parts: []string{"GET /echo HTTP/1.1\nHost: a\nX: y\n\n"}},
	{name: "bare LF in a field", parts: []string{"GET /echo HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"}},
	{name: "bare CR in a field", parts: []string{"GET /echo HTTP/1.1\r\nHost: a\rX: y\r\n\r\n"}},
	{name: "9 KiB head", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Big: "+strings.Repeat("b", 9<<10))}},
	{name: "many fields", parts: []string{req("GET", "/echo", "HTTP/1.1", manyFields(100)...)}},
	{name: "absolute form", parts: []string{req("GET", "http://example.com/echo?q=1", "HTTP/1.1", "Host: other")}},
	{name: "options star", parts: []string{req("OPTIONS", "*", "HTTP/1.1", "Host: a")}},
	{name: "invalid header name", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Bad Name: x")}},
	{name: "header name with slash", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Bad/Name: x")}},
	{name: "space before colon", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-A : x")}},
	{name: "empty header name", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", ": x")}},
	{name: "no colon", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "NoColon")}},
	{name: "NUL in value", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Nul: a\x00b")}},
	{name: "DEL in value", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Del: a\x7fb")}},
	{name: "tab in value", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Tab: \ta\tb\t")}},
	{name: "obs-text in value", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Utf8: h\xc3\xa9 \xff")}},
	{name: "field name case", parts: []string{req("GET", "/echo", "HTTP/1.1", "host: a", "x-lower: 1", "X_UNDER: 2", "ACCEPT-encoding: gzip")}},
	{name: "lower-case method", parts: []string{req("get", "/echo", "HTTP/1.1", "Host: a")}},
	{name: "other method", parts: []string{req("DELETE", "/echo", "HTTP/1.1", "Host: a")}},
	{name: "HTTP/1.2", parts: []string{req("GET", "/echo", "HTTP/1.2", "Host: a")}},
	{name: "HTTP/2.0", parts: []string{req("GET", "/echo", "HTTP/2.0", "Host: a")}},
	{name: "no version", parts: []string{"GET /echo\r\nHost: a\r\n\r\n"}, n: 1},
	{name: "double space", parts: []string{"GET  /echo HTTP/1.1\r\nHost: a\r\n\r\n"}},
	{name: "space in target", parts: []string{"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"}},
	{name: "escaped target", parts: []string{req("GET", "/a%20b/%2F?x=%41&y#frag", "HTTP/1.1", "Host: a")}},
	{name: "bad escape", parts: []string{req("GET", "/a%zz", "HTTP/1.1", "Host: a")}},
	{name: "double slash", parts: []string{req("GET", "//evil.example/echo", "HTTP/1.1", "Host: a")}},
	{name: "upgrade", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket")}},
	{name: "te header", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "TE: trailers")}},
	{name: "leading CRLF", parts: []string{"\r\n" + req("GET", "/echo", "HTTP/1.1", "Host: a")}},
	{name: "garbage", parts: []string{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"}, n: 1},
	{name: "split head", parts: []string{"GET /ec", "ho HTTP/1.1\r", "\nHost: a\r\n", "\r", "\n"}},
	{name: "split at CRLFCRLF", parts: []string{"GET /echo HTTP/1.1\r\nHost: a\r\n\r", "\n" + req("GET", "/small", "HTTP/1.1", "Host: a")}},
	{name: "get, post, get pipelined", parts: []string{req("GET", "/small", "HTTP/1.1", "Host: a") +
		"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + req("GET", "/echo", "HTTP/1.1", "Host: a")}},
	{name: "1.0 keep-alive and close", parts: []string{req("GET", "/echo", "HTTP/1.0", "Connection: keep-alive, close")}},
	{name: "1.0 keep-alive loosely", parts: []string{req("GET", "/echo", "HTTP/1.0", "Connection: x keep-alive")}},
	{name: "1.0 keep-alive HEAD large", parts: []string{req("HEAD", "/large", "HTTP/1.0", "Connection: keep-alive") + req("GET", "/small", "HTTP/1.0", "Connection: keep-alive")}},
	{name: "1.1 close loosely", parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a", "Connection: x close")}},
	{name: "trailing partial request", parts: []string{req("GET", "/small", "HTTP/1.1", "Host: a") + "GE"}, halfClose: true},
	{name: "trailing partial request of 4", parts: []string{req("GET", "/small", "HTTP/1.1", "Host: a") + "GET "}, halfClose: true},
	{name: "half-close", halfClose: true, parts: []string{req("GET", "/echo", "HTTP/1.1", "Host: a") + req("GET", "/large", "HTTP/1.1", "Host: a")}},
	{name: "half-close mid head", halfClose: true, n: 1, parts: []string{"GET /echo HTTP/1.1\r\nHost: a\r\n"}},
	{name: "half-close 1.0", halfClose: true, parts: []string{req("GET", "/echo", "HTTP/1.0")}},
}

func manyFields(n int) []string {
	f := []string{"Host: a"}
	for i := 0; i < n; i++ {
		f = append(f, fmt.Sprintf("X-F%d: %d", i, i))
	}
	return f
}

// TestDiffRequests sends well-formed and malformed requests.
func TestDiffRequests(t *testing.T) {
	p := startPair(t, diffHandler())
	for _, ex := range requestCases {
		p.compare(t, ex)
	}
}

// TestDiffDuringShutdown compares the answer to a request in progress when
// Shutdown starts: it is sent, and says the connection closes.
func TestDiffDuringShutdown(t *testing.T) {
	for _, ex := range []exchange{
		{name: "1.1", parts: []string{req("GET", "/", "HTTP/1.1", "Host: a")}},
		{name: "1.1 pipelined", parts: []string{req("GET", "/", "HTTP/1.1", "Host: a") + req("GET", "/", "HTTP/1.1", "Host: a")}, n: 1},
		{name: "1.0 keep-alive", parts: []string{req("GET", "/", "HTTP/1.0", "Connection: keep-alive")}},
		{name: "1.0 keep-alive HEAD", parts: []string{req("HEAD", "/", "HTTP/1.0", "Connection: keep-alive")}},
	} {
		var transcripts [2]string
		for i, fast := range []bool{false, true} {
			started, release := make(chan struct{}, 1), make(chan struct{})
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				started <- struct{}{}
				<-release
				io.WriteString(w, "finished")
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var shutdown func(context.Context) error
			if fast {
				s := &Server{Handler: handler, Fallback: &http.Server{ErrorLog: discardLog}, ErrorLog: discardLog}
				go s.Serve(ln)
				shutdown = s.Shutdown
				defer s.Close()
			} else {
				s := &http.Server{Handler: handler, ErrorLog: discardLog}
				go s.Serve(ln)
				shutdown = s.Shutdown
				defer s.Close()
			}
			addr := ln.Addr().String()
			result := make(chan string, 1)
			go func() { result <- ex.run(t, addr) }()
			<-started
			shut := make(chan error, 1)
			go func() { shut <- shutdown(context.Background()) }()
			waitFor(t, 5*time.Second, "the listener to close", func() bool { return refusing(addr) })
			close(release)
			transcripts[i] = <-result
			if err := <-shut; err != nil {
				t.Errorf("%s: Shutdown: %v", ex.name, err)
			}
		}
		if transcripts[0] != transcripts[1] {
			t.Errorf("%s during Shutdown: h1 differs from net/http\nnet/http:\n%s\nh1:\n%s", ex.name, transcripts[0], transcripts[1])
		} else if testing.Verbose() && os.Getenv("H1_DIFF_SHOW") != "" {
			t.Logf("%s:\n%s", ex.name, transcripts[1])
		}
	}
}

// TestDiffMaxHeaderBytes compares heads around a small MaxHeaderBytes
// (net/http allows 4 KiB beyond it; h1 hands anything over it to
// net/http).
func TestDiffMaxHeaderBytes(t *testing.T) {
	p := startPairWith(t, diffHandler(), 1024)
	for _, size := range []int{500, 1000, 1100, 4000, 5200, 7000} {
		head := req("GET", "/echo", "HTTP/1.1", "Host: a", "X-Pad: "+strings.Repeat("p", size))
		p.compare(t, exchange{name: fmt.Sprintf("%d-byte field", size), parts: []string{head + req("GET", "/small", "HTTP/1.1", "Host: a")}})
	}
}

// TestDiffUseFields compares an answer whose stored fields go out as a
// block (UseFields, on h1) with the same answer built by copying them into
// the header map (net/http, where UseFields declines), as the cache does
// for a hit.
func TestDiffUseFields(t *testing.T) {
	date := "Mon, 02 Jan 2006 15:04:05 GMT"
	stored := map[string]http.Header{
		"/plain": {"Content-Type": {"text/plain"}, "Content-Length": {"5"}, "Date": {date},
			"Etag": {`"v1"`}, "Cache-Control": {"max-age=60"}, "Set-Cookie": {"a=1", "b=2"},
			"X-Crlf": {"a\r\nInjected: 1"}, "x-lower": {"kept"}, "Age": {"100"}},
		// No Content-Type: both sniff the body.
		"/untyped": {"Content-Length": {"5"}, "Date": {date}},
		// No Content-Type but an encoding: neither sniffs.
		"/encoded": {"Content-Length": {"5"}, "Content-Encoding": {"gzip"}, "Date": {date}},
		// No Date: both add one.
		"/undated": {"Content-Length": {"5"}, "Content-Type": {"text/html"}},
		// No length: both count the body.
		"/unsized": {"Content-Type": {"text/plain"}, "Date": {date}},
	}
	fields := map[string]*Fields{}
	for path, h := range stored {
		if fields[path] = PrepareFields(h, "Age"); fields[path] == nil {
			t.Fatalf("PrepareFields refused %s", path)
		}
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fields[r.URL.Path] == nil { // the probe
			io.WriteString(w, "hello")
			return
		}
		w.Header()["Cache-Control"] = []string{"private"} // set before, then replaced by the stored one
		w.Header()["X-Before"] = []string{"1"}
		if !UseFields(w, fields[r.URL.Path]) {
			for k, v := range stored[r.URL.Path] {
				if k != "Age" {
					w.Header()[k] = v
				}
			}
		}
		w.Header()["Age"] = []string{"7"}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			io.WriteString(w, "hello")
		}
	})
	p := startPair(t, handler)
	for path := range stored {
		for _, method := range []string{"GET", "HEAD"} {
			p.compare(t, exchange{name: method + " " + path, parts: []string{
				req(method, path, "HTTP/1.1", "Host: a") + req(method, path, "HTTP/1.0", "Connection: keep-alive")}})
			p.compare(t, exchange{name: method + " " + path + " 1.0", parts: []string{req(method, path, "HTTP/1.0")}})
		}
	}
}
