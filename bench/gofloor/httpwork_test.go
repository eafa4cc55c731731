package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newWork(t *testing.T) *httpWork {
	t.Helper()
	w, err := newHTTPWork(filepath.Join(t.TempDir(), "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	w.tick(time.Date(2026, 12, 2, 17, 45, 0, 0, time.UTC))
	return w
}

func TestRequestIsRewrittenForTheBackend(t *testing.T) {
	w := newWork(t)
	in := "GET /lb/x?q=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, TE\r\nTE: trailers\r\nCookie: x=1; JSESSIONID=baa1\r\nUser-Agent: wrk\r\n\r\n"
	out, sticky, ri, ok := w.request(nil, []byte(in), "127.0.0.9", 2)
	if !ok {
		t.Fatal("refused")
	}
	want := "GET /lb/x?q=1 HTTP/1.1\r\nHost: a\r\nCookie: x=1; JSESSIONID=baa1\r\nUser-Agent: wrk\r\nX-Forwarded-For: 127.0.0.9\r\n\r\n"
	if string(out) != want {
		t.Errorf("backend request\n%q\nwant\n%q", out, want)
	}
	if sticky != 1 || ri.close || ri.head || in[ri.agent[0]:ri.agent[1]] != "wrk" || in[ri.line[0]:ri.line[1]] != "GET /lb/x?q=1 HTTP/1.1" {
		t.Errorf("sticky %d, info %+v", sticky, ri)
	}
}

func TestRequestsTheLoopDoesNotTake(t *testing.T) {
	w := newWork(t)
	for _, in := range []string{
		"GET / HTTP/1.1\r\n\r\n",                       // no Host
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n",            // version
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",            // method
		"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",   // name
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", // value
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n", // cut off
	} {
		if _, _, _, ok := w.request(nil, []byte(in), "c", 2); ok {
			t.Errorf("%q taken", in)
		}
	}
}

func TestAnswerIsRewrittenAndLogged(t *testing.T) {
	w := newWork(t)
	in := "HTTP/1.1 200 OK\r\nDate: old\r\nServer: b1\r\nKeep-Alive: timeout=5\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
	if _, n, _, _, ok := w.answer(nil, []byte(in[:len(in)-2]), false); !ok || n != 0 {
		t.Fatalf("incomplete answer: n %d ok %v", n, ok)
	}
	out, n, status, keep, ok := w.answer(nil, []byte(in), false)
	want := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nDate: Wed, 02 Dec 2026 17:45:00 GMT\r\nServer: gofloor\r\n\r\nhello"
	if !ok || n != len(in) || status != 200 || !keep || string(out) != want {
		t.Errorf("answer %q n %d status %d keep %v ok %v, want\n%q", out, n, status, keep, ok, want)
	}
	req := []byte("GET /lb/ HTTP/1.1\r\nHost: a\r\n\r\n")
	_, _, ri, _ := w.request(nil, req, "c", 2)
	w.logLine(req, ri, "127.0.0.9", 200, 5)
	w.log.Flush()
	b, _ := readFile(w)
	if want := `127.0.0.9 - - [02/Dec/2026:17:45:00 +0000] "GET /lb/ HTTP/1.1" 200 5 "-" "-"` + "\n"; b != want {
		t.Errorf("log %q, want %q", b, want)
	}
	if _, _, _, keep, _ := w.answer(nil, []byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"), false); keep {
		t.Error("Connection: close kept")
	}
}

func readFile(w *httpWork) (string, error) {
	b, err := os.ReadFile(w.file.Name())
	return string(b), err
}

func FuzzRequest(f *testing.F) {
	f.Add([]byte("GET /lb/x HTTP/1.1\r\nHost: a\r\nCookie: JSESSIONID=baa\r\n\r\n"))
	f.Add([]byte("HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	w := &httpWork{routes: [][]byte{[]byte("/")}}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, sticky, ri, ok := w.request(nil, in, "c", 2)
		if !ok {
			return
		}
		if sticky < -1 || sticky > 1 || ri.line[1] > len(in) || ri.agent[1] > len(in) || ri.referer[1] > len(in) {
			t.Fatalf("sticky %d info %+v for %q", sticky, ri, in)
		}
		if !strings.HasSuffix(string(out), "X-Forwarded-For: c\r\n\r\n") {
			t.Fatalf("backend request %q", out)
		}
	})
}
