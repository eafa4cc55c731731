package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// recording counts the Write calls it gets and can fail after limit bytes.
type recording struct {
	bytes.Buffer
	calls int
	limit int // fail once more than this was written (0: never)
}

func (r *recording) Write(p []byte) (int, error) {
	r.calls++
	if r.limit > 0 && r.Len()+len(p) > r.limit {
		n := r.limit - r.Len()
		r.Buffer.Write(p[:n])
		return n, errors.New("connection reset")
	}
	return r.Buffer.Write(p)
}

func TestWriterKeepsOrderAndBytes(t *testing.T) {
	var want bytes.Buffer
	rec := &recording{}
	b := newWriter(64)
	b.Reset(rec)
	for i, piece := range []string{"head\r\n\r\n", strings.Repeat("a", 100), "b", strings.Repeat("c", 63), strings.Repeat("d", 64), "e"} {
		var err error
		if i%2 == 0 {
			_, err = b.WriteString(piece)
		} else {
			_, err = b.Write([]byte(piece))
		}
		if err != nil {
			t.Fatal(err)
		}
		want.WriteString(piece)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if rec.String() != want.String() {
		t.Fatalf("wrote %q\nwant %q", rec.String(), want.String())
	}
}

// A body larger than the buffer leaves at once with the head before it
// (over TCP as one writev), and nothing of it stays buffered.
func TestWriterSendsAnOverflowWithWhatItHolds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	b := newWriter(64)
	b.Reset(server)
	b.WriteString("HTTP/1.1 200 OK\r\n\r\n")
	body := strings.Repeat("x", 1000)
	if n, err := b.Write([]byte(body)); n != len(body) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b.Buffered() != 0 {
		t.Errorf("%d bytes still buffered after an overflowing write", b.Buffered())
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(io.LimitReader(client, int64(19+len(body))))
	if err != nil || string(got) != "HTTP/1.1 200 OK\r\n\r\n"+body {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}

	// Through a plain io.Writer net.Buffers falls back to one Write per
	// piece, in order.
	rec := &recording{}
	b.Reset(rec)
	b.WriteString("head")
	b.Write([]byte(body))
	if rec.String() != "head"+body || rec.calls != 2 {
		t.Errorf("got %d bytes in %d writes", rec.Len(), rec.calls)
	}
}

func TestWriterErrorsStick(t *testing.T) {
	rec := &recording{limit: 10}
	b := newWriter(8)
	b.Reset(rec)
	b.WriteString("1234")
	n, err := b.Write([]byte("0123456789"))
	if err == nil {
		t.Fatal("no error from a failed write")
	}
	if n != 6 {
		t.Errorf("Write reported %d bytes of its own written, want 6 (4 buffered went first)", n)
	}
	calls := rec.calls
	if _, err2 := b.Write([]byte("x")); err2 != err {
		t.Errorf("next Write: %v, want the first error", err2)
	}
	if _, err2 := b.WriteString(strings.Repeat("y", 20)); err2 != err {
		t.Errorf("next WriteString: %v, want the first error", err2)
	}
	if err2 := b.Flush(); err2 != err || rec.calls != calls {
		t.Errorf("Flush after an error: %v with %d more writes", err2, rec.calls-calls)
	}
	b.Reset(&recording{})
	if _, err := b.WriteString("ok"); err != nil || b.Flush() != nil {
		t.Error("Reset did not clear the error")
	}
}
