package h1

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// headSeeds are request heads for both fuzz targets: the requests of the
// differential tests and a few edge cases.
func headSeeds() []string {
	var seeds []string
	for _, ex := range requestCases {
		seeds = append(seeds, strings.Join(ex.parts, ""))
	}
	for _, p := range diffPaths {
		seeds = append(seeds, req("GET", p, "HTTP/1.1", "Host: a"), req("HEAD", p, "HTTP/1.0"))
	}
	seeds = append(seeds,
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: x keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n",
		"HEAD /?a=%zz HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX:  \t \r\n\r\n",
	)
	return seeds
}

// FuzzParseHead checks that a head parseHead accepts is one net/http reads
// the same way and would serve (it would not answer it with an error).
func FuzzParseHead(f *testing.F) {
	for _, s := range headSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := headEnd(b)
		if end < 0 {
			return
		}
		raw := b[:end]
		h, ok := parseHead(raw)
		if !ok {
			return
		}
		u, ok := h.url()
		if !ok {
			return // handed over too
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("parseHead accepted %q, net/http refuses it: %v", raw, err)
		}
		// What net/http's server checks on top of ReadRequest.
		if r.ProtoAtLeast(1, 1) && r.Host == "" && len(r.Header["Host"]) == 0 && !h.hasHost {
			t.Fatalf("accepted %q without Host", raw)
		}
		if !httpguts.ValidHostHeader(r.Host) {
			t.Fatalf("accepted %q with a bad Host", raw)
		}
		for k, vv := range r.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				t.Fatalf("accepted %q with field name %q", raw, k)
			}
			for _, v := range vv {
				if !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("accepted %q with field value %q", raw, v)
				}
			}
		}
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			t.Fatalf("accepted %q, which has a body (length %d, %q)", raw, r.ContentLength, r.TransferEncoding)
		}
		if r.Method != h.method || r.RequestURI != h.uri || r.Host != h.host ||
			r.ProtoMajor != 1 || r.ProtoMinor != h.minor || r.Close != h.close {
			t.Fatalf("%q: net/http %s %q host %q 1.%d close %v; h1 %s %q host %q 1.%d close %v", raw,
				r.Method, r.RequestURI, r.Host, r.ProtoMinor, r.Close, h.method, h.uri, h.host, h.minor, h.close)
		}
		if r.URL.String() != u.String() {
			t.Fatalf("%q: URL %q, h1 %q", raw, r.URL, u)
		}
		header := h.header.Clone()
		if h.pragmaNoCC {
			header["Cache-Control"] = []string{"no-cache"}
		}
		delete(r.Header, "Host")
		if len(header) == 0 && len(r.Header) == 0 {
			return
		}
		if !reflect.DeepEqual(map[string][]string(header), map[string][]string(r.Header)) {
			t.Fatalf("%q: header\nnet/http %q\nh1       %q", raw, r.Header, header)
		}
		// net/http's server decides the answer's Connection from the
		// first Connection field.
		first := r.Header.Get("Connection")
		if want := r.ProtoMinor == 0 && looseTokenRef(first, "keep-alive"); h.keepAlive10 != want {
			t.Fatalf("%q: keep-alive %v, want %v", raw, h.keepAlive10, want)
		}
		if want := r.Close || looseTokenRef(first, "close"); h.wantsClose != want {
			t.Fatalf("%q: wantsClose %v, want %v", raw, h.wantsClose, want)
		}
	})
}

// looseTokenRef is net/http's hasToken written another way: token, in
// any case, with a space, tab or comma (or nothing) on either side.
func looseTokenRef(v, token string) bool {
	lv := []byte(v) // lowered byte for byte (strings.ToLower rewrites invalid UTF-8)
	for i, c := range lv {
		if 'A' <= c && c <= 'Z' {
			lv[i] = c + 'a' - 'A'
		}
	}
	for i := 0; ; {
		j := bytes.Index(lv[i:], []byte(token))
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(token)
		if (start == 0 || strings.ContainsRune(" ,\t", rune(v[start-1]))) &&
			(end == len(v) || strings.ContainsRune(" ,\t", rune(v[end]))) {
			return true
		}
		i = start + 1
	}
}

// FuzzDifferential sends arbitrary bytes to a net/http server and to h1,
// then half-closes, and compares the answers as the differential tests
// do.
func FuzzDifferential(f *testing.F) {
	for _, s := range headSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /small HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET /small HTTP/1.1\r\nHost: a\r\n\r\nGET /large HTTP/1.0\r\n\r\n"))
	p := startPair(f, diffHandler())
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		ex := exchange{name: "fuzz", parts: []string{string(b)}, halfClose: true}
		want := ex.run(t, p.std)
		got := ex.run(t, p.h1)
		if got != want {
			t.Fatalf("h1 differs from net/http\nrequest: %q\nnet/http:\n%s\nh1:\n%s", b, want, got)
		}
	})
}

// FuzzDifferentialSplit is FuzzDifferential with the bytes sent in two
// writes, cut where the fuzzer says, so that heads arrive in pieces.
func FuzzDifferentialSplit(f *testing.F) {
	for _, s := range headSeeds() {
		f.Add([]byte(s), uint16(len(s)/2))
		f.Add([]byte(s), uint16(len(s)-1))
	}
	p := startPair(f, diffHandler())
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		if len(b) > 64<<10 {
			return
		}
		at := int(cut) % (len(b) + 1)
		ex := exchange{name: "fuzz", parts: []string{string(b[:at]), string(b[at:])}, halfClose: true}
		want := ex.run(t, p.std)
		got := ex.run(t, p.h1)
		if got != want {
			t.Fatalf("h1 differs from net/http\nrequest: %q cut at %d\nnet/http:\n%s\nh1:\n%s", b, at, want, got)
		}
	})
}
