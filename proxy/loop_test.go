package proxy

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The event loop (core/loop) reads a backend's answer with ParseAnswer and
// turns its header into the client's with ClientHeader; what it does not
// take, Finish reads with http.ReadResponse. These tests hold both to
// what ServeHTTP's path (readResponse, copyResponseHeader) makes of the
// same bytes.

// readStd reads raw as ServeHTTP's path would when it cannot take the
// fast parse: http.ReadResponse, and how many bytes the head took.
func readStd(raw []byte, r *http.Request) (*http.Response, int, error) {
	rd := bytes.NewReader(raw)
	br := bufio.NewReaderSize(rd, 64<<10)
	res, err := http.ReadResponse(br, r)
	return res, len(raw) - rd.Len() - br.Buffered(), err
}

// checkAnswer holds ParseAnswer's result on raw to what http.ReadResponse
// makes of it: a head it waits for more of is not complete to
// ReadResponse; an interim answer is a 1xx (not 101) of the same length;
// a final one has the same status, length, header, close and head length.
func checkAnswer(t *testing.T, raw []byte, r *http.Request) (res *http.Response, n int, ok bool) {
	t.Helper()
	res, n, ok = ParseAnswer(raw, r)
	if !ok {
		if res != nil || n != 0 {
			t.Fatalf("%q: declined with %v, %d", raw, res, n)
		}
		return // Finish reads it with ReadResponse
	}
	std, stdN, err := readStd(raw, r)
	if res == nil {
		if n != 0 {
			t.Fatalf("%q: incomplete with length %d", raw, n)
		}
		if err == nil {
			t.Fatalf("%q: ParseAnswer waits for more, ReadResponse reads a %d answer from %d bytes", raw, std.StatusCode, stdN)
		}
		return
	}
	if err != nil {
		t.Fatalf("%q: ParseAnswer took %d (head %d bytes), ReadResponse refuses: %v", raw, res.StatusCode, n, err)
	}
	if n != stdN {
		t.Fatalf("%q: head of %d bytes, ReadResponse's %d", raw, n, stdN)
	}
	if res.StatusCode < 200 {
		if std.StatusCode < 100 || std.StatusCode >= 200 || std.StatusCode == http.StatusSwitchingProtocols {
			t.Fatalf("%q: interim to ParseAnswer, %d to ReadResponse", raw, std.StatusCode)
		}
		return
	}
	if res.StatusCode != std.StatusCode || res.Close != std.Close || res.ProtoMinor != std.ProtoMinor {
		t.Fatalf("%q: status %d close %v 1.%d, ReadResponse %d close %v 1.%d", raw,
			res.StatusCode, res.Close, res.ProtoMinor, std.StatusCode, std.Close, std.ProtoMinor)
	}
	if res.ContentLength != std.ContentLength {
		t.Fatalf("%q (%s): length %d, ReadResponse %d", raw, r.Method, res.ContentLength, std.ContentLength)
	}
	if !reflect.DeepEqual(res.Header, std.Header) {
		t.Fatalf("%q: header %q, ReadResponse %q", raw, res.Header, std.Header)
	}
	return res, n, ok
}

func newRequest(t testing.TB, method string) *http.Request {
	r, err := http.NewRequest(method, "http://backend/", nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseAnswer(t *testing.T) {
	const ok200 = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
	const (
		incomplete = iota
		declined
		interim
		final
	)
	tests := []struct {
		name, method string
		head, after  string // the answer is head+after; the head's length is checked
		want         int
		length       int64 // ContentLength, for final
	}{
		{"empty", "GET", "", "", incomplete, 0},
		{"status line only", "GET", "HTTP/1.1 200 OK\r\n", "", incomplete, 0},
		{"no blank line", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "", incomplete, 0},
		{"half a blank line", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r", "", incomplete, 0},
		{"just under the limit", "GET", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", maxResponseHeaderBytes-30), "", incomplete, 0},
		{"over the limit", "GET", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", maxResponseHeaderBytes), "", declined, 0},
		{"100 Continue", "GET", "HTTP/1.1 100 Continue\r\n\r\n", ok200 + "hello", interim, 0},
		{"103 Early Hints", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", ok200, interim, 0},
		{"1.0 100", "GET", "HTTP/1.0 100 Continue\r\n\r\n", "", interim, 0},
		{"1xx of one digit", "GET", "HTTP/1.1 1\r\n\r\n", "", declined, 0},
		{"1xx not digits", "GET", "HTTP/1.1 1ab Odd\r\n\r\n", "", declined, 0},
		{"1xx of four digits", "GET", "HTTP/1.1 1000 Odd\r\n\r\n", "", declined, 0},
		{"1xx with a bad field", "GET", "HTTP/1.1 103 Early Hints\r\nNo colon\r\n\r\n", ok200, declined, 0},
		{"1xx with a bad length", "GET", "HTTP/1.1 100 Continue\r\nContent-Length: x\r\n\r\n", ok200, declined, 0},
		{"1xx ended by bare LF", "GET", "HTTP/1.1 100 Continue\n\n", ok200, declined, 0},
		{"bare LF, complete", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n\n", "ok", declined, 0},
		{"bare LF, incomplete", "GET", "HTTP/1.1 200 OK\nContent-Length: 2\n", "", declined, 0},
		{"101", "GET", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "", declined, 0},
		{"200", "GET", ok200, "hello", final, 5},
		{"200, body not in yet", "GET", ok200, "", final, 5},
		{"200 length 0", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "", final, 0},
		{"404", "GET", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", "not found", final, 9},
		{"1.0 with length", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", "ok", final, 2},
		{"close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n", "ok", final, 2},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", "", final, 0},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nEtag: \"v\"\r\nContent-Length: 10\r\n\r\n", "", final, 0},
		{"HEAD with length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", "", final, 500},
		{"HEAD without length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", "", final, -1},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", declined, 0},
		{"chunked HEAD", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "", declined, 0},
		{"trailer", "GET", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nContent-Length: 2\r\n\r\n", "ok", declined, 0},
		{"no length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "until close", declined, 0},
		{"two lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "xx", declined, 0},
		{"folded", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", "", declined, 0},
		{"HTTP/2", "GET", "HTTP/2 200\r\nContent-Length: 0\r\n\r\n", "", declined, 0},
		{"garbage", "GET", "<html>\r\n\r\n", "", declined, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, tc.method)
			raw := tc.head + tc.after
			res, n, ok := checkAnswer(t, []byte(raw), r)
			var got int
			switch {
			case !ok:
				got = declined
			case res == nil:
				got = incomplete
			case res.StatusCode < 200:
				got = interim
			default:
				got = final
			}
			if got != tc.want {
				t.Fatalf("%q: got %v, %d, %v (kind %d), want kind %d", raw, res, n, ok, got, tc.want)
			}
			switch got {
			case interim:
				if n != len(tc.head) {
					t.Errorf("interim head of %d bytes, want %d", n, len(tc.head))
				}
			case final:
				if n != len(tc.head) || res.ContentLength != tc.length {
					t.Errorf("head %d bytes, length %d; want %d, %d", n, res.ContentLength, len(tc.head), tc.length)
				}
			}
		})
	}
	// The common answer's header, as the proxy relays it.
	res, _, _ := ParseAnswer([]byte(ok200), newRequest(t, "GET"))
	want := http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}, "Set-Cookie": {"a=1", "b=2"}}
	if !reflect.DeepEqual(res.Header, want) {
		t.Errorf("header %q, want %q", res.Header, want)
	}
}

func FuzzParseAnswer(f *testing.F) {
	seeds := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
		"HTTP/1.0 304 x\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 200 OK\r\nA: 1\r\nA: 2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2",
	}
	for _, s := range seeds {
		f.Add("GET", []byte(s))
		f.Add("HEAD", []byte(s))
	}
	f.Fuzz(func(t *testing.T, method string, raw []byte) {
		if method != "HEAD" {
			method = "GET"
		}
		checkAnswer(t, raw, newRequest(t, method))
	})
}

// TestClientHeader: ClientHeader leaves what ServeHTTP's copy
// (copyResponseHeader into a header holding core's Server field) leaves.
func TestClientHeader(t *testing.T) {
	server := []string{"resind"}
	tests := []struct {
		name       string
		from, want http.Header
	}{
		{"end-to-end fields kept",
			http.Header{"Content-Type": {"text/html"}, "Content-Length": {"5"}, "Set-Cookie": {"a=1", "b=2"}, "Etag": {`"v"`}},
			http.Header{"Content-Type": {"text/html"}, "Content-Length": {"5"}, "Set-Cookie": {"a=1", "b=2"}, "Etag": {`"v"`},
				"Via": {"1.1 resind"}, "Server": {"resind"}}},
		{"hop-by-hop fields removed",
			http.Header{"Connection": {"keep-alive"}, "Keep-Alive": {"timeout=5"}, "Proxy-Authenticate": {"Basic"},
				"Proxy-Connection": {"close"}, "Te": {"trailers"}, "Trailer": {"X-Sum"}, "Transfer-Encoding": {"chunked"},
				"Upgrade": {"h2c"}, "Content-Length": {"0"}},
			http.Header{"Content-Length": {"0"}, "Via": {"1.1 resind"}, "Server": {"resind"}}},
		{"fields Connection names removed",
			http.Header{"Connection": {"X-Hop, x-other", " ,X-Third"}, "X-Hop": {"1"}, "X-Other": {"2"}, "X-Third": {"3"}, "X-Kept": {"4"}},
			http.Header{"X-Kept": {"4"}, "Via": {"1.1 resind"}, "Server": {"resind"}}},
		{"Via appended",
			http.Header{"Via": {"1.0 fred", "1.1 p.example.net"}, "Content-Length": {"0"}},
			http.Header{"Via": {"1.0 fred, 1.1 p.example.net, 1.1 resind"}, "Content-Length": {"0"}, "Server": {"resind"}}},
		{"backend's Server kept",
			http.Header{"Server": {"nginx"}, "Content-Length": {"0"}},
			http.Header{"Server": {"nginx"}, "Content-Length": {"0"}, "Via": {"1.1 resind"}}},
		{"Server named by Connection",
			http.Header{"Server": {"nginx"}, "Connection": {"Server"}},
			http.Header{"Server": {"resind"}, "Via": {"1.1 resind"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.from.Clone()
			ClientHeader(got, server)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ClientHeader(%q) = %q, want %q", tc.from, got, tc.want)
			}
			// ServeHTTP's path.
			std := http.Header{"Server": server}
			copyResponseHeader(std, tc.from.Clone(), nil)
			if !reflect.DeepEqual(got, std) {
				t.Errorf("ClientHeader(%q) = %q, ServeHTTP's copy %q", tc.from, got, std)
			}
			for _, k := range slices.Sorted(maps.Keys(got)) {
				if isHopHeader(k) {
					t.Errorf("hop-by-hop %s left", k)
				}
			}
		})
	}
}

// finishOn sends r to the only backend of bl the way the loop does and
// lets Finish read and write the answer.
func finishOn(t *testing.T, bl *Balancer, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	x := bl.Start(r)
	if !x.Next() {
		t.Fatal("no backend picked")
	}
	c, err := net.Dial("tcp", x.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(AppendRequest(nil, r)); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	x.Finish(w, c, nil, 5*time.Second)
	return w
}

func TestFinishAnswersAsServeHTTPDoes(t *testing.T) {
	t.Parallel()
	chunked := newTestBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		io.WriteString(w, "second")
	})
	w := finishOn(t, newTestRegistry(t).Balancer(target("app", chunked.addr())), httptest.NewRequest("GET", "http://example.com/", nil))
	if w.Code != 200 || w.Body.String() != "first;second" || w.Header().Get("Via") != "1.1 resind" {
		t.Errorf("chunked answer: %d %q, Via %q", w.Code, w.Body.String(), w.Header().Get("Via"))
	}

	huge := newTestBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Huge", strings.Repeat("h", maxResponseHeaderBytes+1))
	})
	w = finishOn(t, newTestRegistry(t).Balancer(target("app", huge.addr())), httptest.NewRequest("GET", "http://example.com/", nil))
	if w.Code != http.StatusBadGateway {
		t.Errorf("a head over %d bytes: %d, want 502 as ServeHTTP answers", maxResponseHeaderBytes, w.Code)
	}
}
