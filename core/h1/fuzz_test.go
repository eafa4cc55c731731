package h1

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
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
		if !reflect.DeepEqual(*r.URL, *u) {
			t.Fatalf("%q: URL %#v, h1 %#v", raw, *r.URL, *u)
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

// FuzzReparse checks that a head parsed into the request of another
// (Reparse, as the event loop parses a connection's later requests) is the
// request Parse makes of it, nothing of the other left in it.
func FuzzReparse(f *testing.F) {
	seeds := headSeeds()
	for i, s := range seeds {
		f.Add([]byte(seeds[(i+1)%len(seeds)]), []byte(s))
	}
	tmpl := (&Server{}).Template("192.0.2.1:1234", nil)
	f.Fuzz(func(t *testing.T, before, b []byte) {
		end := headEnd(b)
		if end < 0 {
			return
		}
		var p *Parsed
		if e := headEnd(before); e >= 0 {
			p = Parse(before[:e], tmpl)
		}
		want := Parse(b[:end], tmpl)
		got := Reparse(b[:end], tmpl, p)
		if (want == nil) != (got == nil) {
			t.Fatalf("%q after %q: Parse %v, Reparse %v", b[:end], before, want != nil, got != nil)
		}
		if want == nil {
			return
		}
		w, g := *want.R, *got.R
		wh, gh := *want.h, *got.h
		wh.vals, gh.vals = nil, nil // the array the values are cut from
		if !reflect.DeepEqual(*w.URL, *g.URL) || !reflect.DeepEqual(w.Header, g.Header) || !reflect.DeepEqual(wh, gh) {
			t.Fatalf("%q after %q:\nParse   %#v %q\nReparse %#v %q", b[:end], before, *w.URL, w.Header, *g.URL, g.Header)
		}
		w.URL, g.URL, w.Header, g.Header = nil, nil, nil, nil
		if !reflect.DeepEqual(w, g) {
			t.Fatalf("%q after %q:\nParse   %+v\nReparse %+v", b[:end], before, w, g)
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

// FuzzResponse runs a handler scripted by the fuzzer — fields set, added
// and suppressed, WriteHeader, writes of chosen sizes, flushes, a block of
// stored fields (UseFields; net/http gets them copied into its map) —
// behind both servers and compares the answers. After a block the script
// keeps UseFields' contract: it leaves the block's fields alone and sends
// no 1xx (which would not carry the block; the cache uses blocks for 200s
// only). The script never sets a field
// that can be declared a trailer (X-T) before the status is set (h1
// leaves a declared trailer out of the head; net/http sends its early
// value there too) and never panics (where an answer is cut depends on
// buffer sizes).
func FuzzResponse(f *testing.F) {
	f.Add([]byte{4, 0, 0}, byte(0))
	f.Add([]byte{0, 1, 3, 4, 7, 0}, byte(1))
	f.Add([]byte{0, 4, 12, 4, 2, 0, 5, 0, 0, 0, 6, 1, 4, 8, 1}, byte(2))
	f.Add([]byte{3, 1, 0, 0, 0, 8, 3, 0, 0, 4, 9, 0}, byte(3))
	f.Add([]byte{0, 3, 6, 4, 6, 0, 4, 8, 0}, byte(4))
	f.Add([]byte{0, 5, 8, 3, 7, 0, 4, 1, 0}, byte(5))
	f.Add([]byte{2, 0, 0, 4, 3, 1, 5, 1, 0, 4, 8, 0}, byte(6))
	f.Add([]byte{0, 6, 13, 4, 1, 0, 0, 7, 1}, byte(7))
	f.Add([]byte{6, 0, 0, 4, 2, 0}, byte(0))
	f.Add([]byte{6, 1, 0, 4, 8, 0}, byte(4))
	f.Add([]byte{0, 7, 1, 6, 2, 0, 3, 0, 0}, byte(1))
	f.Add([]byte{6, 3, 0, 4, 3, 1, 0, 0, 0}, byte(2))
	p := startPair(f, http.HandlerFunc(scripted))
	f.Fuzz(func(t *testing.T, script []byte, variant byte) {
		if len(script) > 60 {
			return
		}
		target := "/s?s=" + hex.EncodeToString(script)
		method := [2]string{"GET", "HEAD"}[variant&1]
		var r string
		switch variant >> 1 & 3 {
		case 0:
			r = req(method, target, "HTTP/1.1", "Host: a")
		case 1:
			r = req(method, target, "HTTP/1.0")
		case 2:
			r = req(method, target, "HTTP/1.0", "Connection: keep-alive")
		case 3:
			r = req(method, target, "HTTP/1.1", "Host: a", "Connection: close")
		}
		ex := exchange{name: "script", parts: []string{r + r}}
		want := ex.run(t, p.std)
		got := ex.run(t, p.h1)
		if got != want {
			t.Fatalf("h1 differs from net/http\nscript: %v request: %q\nnet/http:\n%s\nh1:\n%s", script, r, want, got)
		}
	})
}

var (
	scriptKeys = []string{"Content-Type", "Content-Length", "Transfer-Encoding", "Connection",
		"Trailer", "Date", "Content-Encoding", "X-A", http.TrailerPrefix + "X-P", "X-T", "Etag", "Bad Name", "x-lower"}
	scriptValues = []string{"", "close", "keep-alive", "chunked", "identity", "gzip", "5", "0", "abc",
		"text/html", "a\r\nb", " x ", "X-T", "X-T, X-U", "Close"}
	scriptCodes = []int{200, 201, 204, 206, 299, 304, 404, 500, 103, 100, 199}
	scriptSizes = []int{0, 1, 5, 100, 1000, 2047, 2048, 2049, 3000, 9000}
	scriptTexts = []string{"<html><body>hi</body></html>", "plain text ", "\x1f\x8b\x08\x00binary"}
	// scriptStored are the stored headers of the blocks, scriptBlocks
	// their blocks.
	scriptStored = []http.Header{
		{"Content-Type": {"text/html"}, "Content-Length": {"5"}, "Date": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "Etag": {`"v"`}, "X-B": {"b"}},
		{"Content-Encoding": {"gzip"}, "X-B": {"a\r\nb", " c "}, "Content-Type": {"text/plain"}},
		{"Content-Length": {"0"}, "X-A": {"stored"}},
		{"Date": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "Cache-Control": {"max-age=1"}},
	}
	scriptBlocks = func() []*Fields {
		var b []*Fields
		for _, h := range scriptStored {
			b = append(b, PrepareFields(h))
		}
		return b
	}()
	scriptFinalCodes = []int{200, 201, 204, 206, 299, 304, 404, 500}
)

// scripted runs the script in the request's s parameter, three bytes an
// operation (see FuzzResponse).
func scripted(w http.ResponseWriter, r *http.Request) {
	script, _ := hex.DecodeString(r.URL.Query().Get("s"))
	statusSet := false
	var block http.Header // the stored fields of a block used
	for ; len(script) >= 3; script = script[3:] {
		op, a, b := script[0]%7, int(script[1]), int(script[2])
		switch op {
		case 0, 1, 2:
			key := scriptKeys[a%len(scriptKeys)]
			if key == "X-T" && !statusSet || block[http.CanonicalHeaderKey(key)] != nil {
				continue
			}
			value := scriptValues[b%len(scriptValues)]
			switch op {
			case 0:
				w.Header()[key] = []string{value}
			case 1:
				w.Header()[key] = append(w.Header()[key], value)
			case 2:
				w.Header()[key] = nil
			}
		case 3:
			code := scriptCodes[a%len(scriptCodes)]
			if block != nil {
				code = scriptFinalCodes[a%len(scriptFinalCodes)]
			}
			w.WriteHeader(code)
			if code >= 200 {
				statusSet = true
			}
		case 4:
			text := scriptTexts[b%len(scriptTexts)]
			body := strings.Repeat(text, scriptSizes[a%len(scriptSizes)]/len(text)+1)[:scriptSizes[a%len(scriptSizes)]]
			if b&1 == 0 {
				w.Write([]byte(body))
			} else {
				io.WriteString(w, body)
			}
			statusSet = true
		case 5:
			if b&1 == 0 {
				w.(http.Flusher).Flush()
			} else {
				http.NewResponseController(w).Flush()
			}
			statusSet = true
		case 6:
			if statusSet || block != nil {
				continue
			}
			block = scriptStored[a%len(scriptStored)]
			if !UseFields(w, scriptBlocks[a%len(scriptBlocks)]) {
				for k, v := range block {
					w.Header()[k] = v
				}
			}
		}
	}
}
