package proxy

import (
	"bufio"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// sameAsReadResponse parses raw with the fast parse and with net/http's
// ReadResponse and reports any difference a proxy would pass on. It
// returns whether the fast parse took the response.
func sameAsReadResponse(t *testing.T, method, raw string) bool {
	t.Helper()
	r, _ := http.NewRequest(method, "http://backend/", nil)
	fastBr := bufio.NewReaderSize(strings.NewReader(raw), 16<<10)
	fastBr.Peek(1)
	fast := parseBuffered(fastBr, r)
	if fast == nil {
		return false
	}
	std, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), r)
	if err != nil {
		t.Fatalf("fast parse took %q, which ReadResponse refuses: %v", raw, err)
	}
	fastBody, ferr := io.ReadAll(fast.Body)
	stdBody, serr := io.ReadAll(std.Body)
	if (ferr == nil) != (serr == nil) || string(fastBody) != string(stdBody) {
		t.Errorf("%q: body %q (%v), ReadResponse %q (%v)", raw, fastBody, ferr, stdBody, serr)
	}
	if fast.StatusCode != std.StatusCode || fast.Status != std.Status || fast.Proto != std.Proto ||
		fast.ContentLength != std.ContentLength || fast.Close != std.Close {
		t.Errorf("%q: fast %d %q %s len %d close %v; ReadResponse %d %q %s len %d close %v", raw,
			fast.StatusCode, fast.Status, fast.Proto, fast.ContentLength, fast.Close,
			std.StatusCode, std.Status, std.Proto, std.ContentLength, std.Close)
	}
	if !reflect.DeepEqual(fast.Header, std.Header) {
		t.Errorf("%q: header %v, ReadResponse %v", raw, fast.Header, std.Header)
	}
	return true
}

func TestFastResponseParseAgreesWithReadResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, raw string
		fast              bool
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", true},
		{"repeated field", "GET", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n", true},
		{"lower-case names", "GET", "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nx-thing:  v \r\n\r\nno", true},
		{"no reason", "GET", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", true},
		{"connection close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", true},
		{"1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", true},
		{"1.0 closes", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", true},
		{"head keeps the length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", true},
		{"304 has no body", "GET", "HTTP/1.1 304 Not Modified\r\nEtag: \"a\"\r\n\r\n", true},
		{"204 has no body", "GET", "HTTP/1.1 204 No Content\r\n\r\n", true},
		{"equal lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", true},
		{"short body", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", false},
		{"until close", "GET", "HTTP/1.1 200 OK\r\n\r\nrest", false},
		{"different lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", false},
		{"signed length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", false},
		{"folded line", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 0\r\n\r\n", false},
		{"bare LF", "GET", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false},
		{"LF inside", "GET", "HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n", false},
		{"space before colon", "GET", "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n", false},
		{"interim", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/2 line", "GET", "HTTP/2 200\r\nContent-Length: 0\r\n\r\n", false},
		{"head incomplete", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameAsReadResponse(t, tc.method, tc.raw); got != tc.fast {
				t.Errorf("fast parse took it: %v, want %v", got, tc.fast)
			}
		})
	}
}

func FuzzFastResponseParse(f *testing.F) {
	f.Add("GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	f.Add("HEAD", "HTTP/1.0 304 x\r\nConnection: keep-alive\r\n\r\n")
	f.Add("GET", "HTTP/1.1 200 OK\r\nA: 1\r\nA: 2\r\nContent-Length: 0\r\n\r\n")
	f.Fuzz(func(t *testing.T, method, raw string) {
		if method != "HEAD" {
			method = "GET"
		}
		sameAsReadResponse(t, method, raw)
	})
}
