package fastcgi

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPairsRoundTripShortAndLongLengths(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v", 300)
	in := []Pair{{"A", "1"}, {"EMPTY", ""}, {"LONG", long}, {strings.Repeat("N", 130), "x"}}
	var b []byte
	for _, p := range in {
		b = appendPair(b, p.Name, p.Value)
	}
	out, err := ParsePairs(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, out) {
		t.Errorf("round trip = %v", out)
	}
	if _, err := ParsePairs(b[:len(b)-1]); err == nil {
		t.Error("a truncated stream parsed")
	}
}

func TestRecordsArePaddedAndSplitAtMaxContent(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("x"), maxContent+10)
	b := appendStream(nil, typeStdin, data)
	rr := recordReader{r: bytes.NewReader(b)}
	var got []byte
	for {
		h, c, err := rr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if (int(h.contentLength)+int(h.paddingLength))%8 != 0 || h.typ != typeStdin || h.id != requestID {
			t.Errorf("header %+v", h)
		}
		got = append(got, c...)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, want %d", len(got), len(data))
	}
}

// answer is what a responder sends: STDOUT and STDERR records, then
// END_REQUEST.
func answer(stdout, stderr string, protocolStatus byte) []byte {
	var b []byte
	b = appendStream(b, typeStderr, []byte(stderr))
	b = appendStream(b, typeStdout, []byte(stdout))
	b = appendRecord(b, typeStdout, nil)
	return appendRecord(b, typeEndRequest, []byte{0, 0, 0, 0, protocolStatus, 0, 0, 0})
}

// replay runs Do against a peer that answers with raw bytes.
func replay(t testing.TB, raw []byte) (*Response, string, error) {
	client, server := net.Pipe()
	go func() {
		io.Copy(io.Discard, io.LimitReader(server, 1)) // the request has begun
		go io.Copy(io.Discard, server)
		server.Write(raw)
		server.Close()
	}()
	c := NewConn(client)
	defer c.Close()
	var stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Do(ctx, []Pair{{"REQUEST_METHOD", "GET"}}, nil, func(b []byte) { stderr.Write(b) })
	if err != nil {
		return nil, stderr.String(), err
	}
	body, err := io.ReadAll(res.Body)
	res.Body = bytes.NewReader(body)
	reusable := res.Finish()
	res.stop = func() bool { return reusable } // as Finish found it
	return res, stderr.String(), err
}

func TestResponseStatusHeadersBodyAndStderr(t *testing.T) {
	t.Parallel()
	res, stderr, err := replay(t, answer("Status: 404 Gone Away\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nnot here", "oops\n", 0))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 404 || res.Header.Get("X-A") != "1" || res.Header.Get("Status") != "" || string(body) != "not here" {
		t.Errorf("got %d %v %q", res.StatusCode, res.Header, body)
	}
	if stderr != "oops\n" {
		t.Errorf("stderr %q", stderr)
	}
	if !res.Finish() {
		t.Error("a complete answer is not reusable")
	}
}

func TestLocationWithoutStatusIsAFound(t *testing.T) {
	t.Parallel()
	res, _, err := replay(t, answer("Location: /elsewhere\n\n", "", 0))
	if err != nil || res.StatusCode != 302 {
		t.Fatalf("%v %v", res, err)
	}
}

func TestRefusedAndTruncatedAnswersAreErrors(t *testing.T) {
	t.Parallel()
	if _, _, err := replay(t, answer("Content-Type: text/plain\n\nhi", "", statusOverloaded)); err == nil || !strings.Contains(err.Error(), "overloaded") {
		t.Errorf("overloaded: %v", err)
	}
	raw := answer("Content-Type: text/plain\n\nhello", "", 0)
	if _, _, err := replay(t, raw[:20]); err == nil {
		t.Error("a truncated answer was taken")
	}
	if _, _, err := replay(t, []byte{2, 6, 0, 1, 0, 0, 0, 0}); err == nil {
		t.Error("version 2 was taken")
	}
}

// FuzzAnswer feeds arbitrary bytes as a responder's answer: the client must
// return an error or a response, never panic or hang.
func FuzzAnswer(f *testing.F) {
	f.Add(answer("Status: 200 OK\r\n\r\nbody", "err", 0))
	f.Add(answer("Location: /x\n\n", "", 0))
	f.Add([]byte{1, 6, 0, 1, 0xff, 0xff, 0, 0})
	f.Add([]byte{1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, _, err := replay(t, raw)
		if err == nil && (res.StatusCode < 100 || res.StatusCode > 999) {
			t.Errorf("status %d", res.StatusCode)
		}
	})
}

// FuzzParsePairs checks that decoding never panics and that what decodes
// encodes back to the same bytes.
func FuzzParsePairs(f *testing.F) {
	f.Add(appendPair(appendPair(nil, "A", "1"), strings.Repeat("N", 200), "v"))
	f.Add([]byte{0x80, 0, 0, 1, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParsePairs(b)
		if err != nil {
			return
		}
		var again []byte
		for _, p := range ps {
			again = appendPair(again, p.Name, p.Value)
		}
		back, err := ParsePairs(again)
		if err != nil || !slices.Equal(ps, back) {
			t.Errorf("re-encoding %v: %v %v", ps, back, err)
		}
	})
}
