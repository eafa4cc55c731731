package loop

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"resind/core/h1"
	"resind/proxy"
)

// slowAnswer is the ordinary path's client head for the answer in buf, as
// the loop makes it when fastAnswer declines.
func slowAnswer(t testing.TB, buf []byte, p *h1.Parsed, shutting bool) (out []byte, a answerHead, closeAfter, ok bool) {
	res, n, ok := proxy.ParseAnswer(buf, p.R)
	if !ok || res == nil || res.StatusCode < 200 {
		return nil, a, false, false
	}
	proxy.ClientHeader(res.Header, serverField)
	out, closeAfter, ok = h1.AppendHead(nil, p, res.StatusCode, res.Header, shutting)
	return out, answerHead{status: res.StatusCode, length: res.ContentLength, keep: !res.Close, n: n}, closeAfter, ok
}

func parsed(t testing.TB, method string, close bool) *h1.Parsed {
	raw := method + " /x HTTP/1.1\r\nHost: example.com\r\n"
	if close {
		raw += "Connection: close\r\n"
	}
	raw += "\r\n"
	srv := &h1.Server{}
	p := h1.Parse([]byte(raw), srv.Template("192.0.2.1:4000", nil))
	if p == nil {
		t.Fatalf("h1.Parse refused %q", raw)
	}
	return p
}

// sameHead compares two heads as HTTP does: the same status line and the
// same fields, in any order across names (Date's value aside: each side
// may have made its own).
func sameHead(a, b []byte) bool {
	norm := func(h []byte) (string, []string) {
		lines := strings.Split(strings.TrimSuffix(string(h), "\r\n\r\n"), "\r\n")
		fields := lines[1:]
		for i, f := range fields {
			if strings.HasPrefix(f, "Date: ") {
				fields[i] = "Date: *"
			}
		}
		slices.Sort(fields)
		return lines[0], fields
	}
	la, fa := norm(a)
	lb, fb := norm(b)
	return la == lb && slices.Equal(fa, fb)
}

// checkFastAnswer requires fastAnswer, when it takes an answer, to write
// what the ordinary path writes, and to read the same status, length,
// keep-alive and head length.
func checkFastAnswer(t testing.TB, buf []byte, method string, clientClose, shutting bool) (taken bool) {
	p := parsed(t, method, clientClose)
	closeAfter := p.WantsClose() || shutting
	fast, a, ok := fastAnswer(nil, buf, method == http.MethodHead, closeAfter)
	if !ok {
		return false
	}
	slow, b, slowClose, slowOK := slowAnswer(t, buf, p, shutting)
	if !slowOK {
		t.Fatalf("%s %q: fastAnswer took an answer the ordinary path refuses:\nfast %q", method, buf, fast)
	}
	if !sameHead(fast, slow) {
		t.Fatalf("%s %q (close %v, shutting %v): heads differ:\nfast %q\nslow %q", method, buf, clientClose, shutting, fast, slow)
	}
	if a != b || closeAfter != slowClose {
		t.Fatalf("%s %q: fast read %+v close %v, the ordinary path %+v close %v", method, buf, a, closeAfter, b, slowClose)
	}
	return true
}

func TestFastAnswerWritesWhatTheOrdinaryPathWrites(t *testing.T) {
	for _, c := range []struct {
		name, head string
		take       bool
	}{
		{"net/http backend", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\n\r\nhello", true},
		{"no date, a server", "HTTP/1.1 404 Not Found\r\nServer: app\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nnot found", true},
		{"hop-by-hop fields", "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nProxy-Agent: x\r\nTe: trailers\r\nUpgrade: h2c\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n", true},
		{"via appended", "HTTP/1.1 200 OK\r\nVia: 1.0 fred\r\nVia: 1.1 p.example.net\r\nContent-Type: a/b\r\nContent-Length: 1\r\n\r\nx", true},
		{"repeated fields", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-A: 1\r\nSet-Cookie: b=2\r\nContent-Type: a/b\r\nContent-Length: 1\r\n\r\nx", true},
		{"204 drops its length", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n", true},
		{"304 drops type and length", "HTTP/1.1 304 Not Modified\r\nContent-Type: a/b\r\nContent-Length: 10\r\nEtag: \"x\"\r\n\r\n", true},
		{"HTTP/1.0 backend", "HTTP/1.0 200 OK\r\nContent-Type: a/b\r\nContent-Length: 1\r\n\r\nx", true},
		{"own reason phrase", "HTTP/1.1 200 Fine Thanks\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n", true},
		{"code without a text", "HTTP/1.1 299\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n", true},
		{"empty value", "HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n", true},
		{"Connection: the ordinary parse", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"no length", "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\nbody", false},
		{"sniffed", "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", false},
		{"lower-case name", "HTTP/1.1 200 OK\r\ncontent-type: a/b\r\nContent-Length: 0\r\n\r\n", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", false},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\n", false},
		{"incomplete", "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				for _, closing := range []bool{false, true} {
					for _, shutting := range []bool{false, true} {
						if took := checkFastAnswer(t, []byte(c.head), method, closing, shutting); took != c.take && method == http.MethodGet {
							t.Fatalf("GET: fastAnswer took it: %v, want %v", took, c.take)
						}
					}
				}
			}
		})
	}
}

func TestFastAnswerKeepsTheBodyOutOfTheHead(t *testing.T) {
	buf := []byte("HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 5\r\n\r\nhello")
	out, a, ok := fastAnswer(nil, buf, false, false)
	if !ok || a.n != len(buf)-5 || a.length != 5 || !a.keep || !bytes.HasSuffix(out, crlfcrlf) || bytes.Contains(out, []byte("hello")) {
		t.Fatalf("fastAnswer = %q, %+v, %v", out, a, ok)
	}
}

func FuzzFastAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"), false, false, false)
	f.Add([]byte("HTTP/1.1 304 Not Modified\r\nContent-Type: a/b\r\nVia: x\r\n\r\n"), true, true, false)
	f.Add([]byte("HTTP/1.0 204 No Content\r\nKeep-Alive: 1\r\nContent-Encoding: \r\n\r\n"), false, false, true)
	f.Fuzz(func(t *testing.T, buf []byte, head, clientClose, shutting bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		checkFastAnswer(t, buf, method, clientClose, shutting)
	})
}

func BenchmarkFastAnswer(b *testing.B) {
	buf := []byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\n\r\n")
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := fastAnswer(dst[:0], buf, false, false); !ok {
			b.Fatal("declined")
		}
	}
}
