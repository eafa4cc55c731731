package h1

import (
	"io"
	"net"
)

// writer is a connection's write buffer. It does bufio.Writer's job with
// one difference: a write that overflows the buffer goes out with what the
// buffer holds in one writev (net.Buffers), where bufio.Writer fills the
// buffer, writes it, then writes the rest. An answer whose body is larger
// than the buffer (a 16 KB page from the cache or a backend) so leaves in
// one system call with no copy, instead of two or three. Errors stick, as
// in bufio.Writer.
type writer struct {
	w   io.Writer
	buf []byte // len: the bytes held; cap: the buffer's size
	err error
	// vec backs the two-element net.Buffers of an overflowing write;
	// WriteTo consumes the slice, not the array, so nothing is allocated.
	vec [2][]byte
}

func newWriter(size int) *writer { return &writer{buf: make([]byte, 0, size)} }

// Reset drops what the buffer holds and any error, and writes to w next.
func (b *writer) Reset(w io.Writer) {
	b.w, b.buf, b.err = w, b.buf[:0], nil
}

// Buffered is how many bytes the buffer holds.
func (b *writer) Buffered() int { return len(b.buf) }

// Available is how many more bytes fit in the buffer.
func (b *writer) Available() int { return cap(b.buf) - len(b.buf) }

// Write buffers p, or sends it at once with what is buffered when it does
// not fit.
func (b *writer) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) <= b.Available() {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	held := len(b.buf)
	var n int64
	var err error
	if held == 0 {
		var k int
		k, err = b.w.Write(p)
		n = int64(k)
	} else {
		b.vec[0], b.vec[1] = b.buf, p
		bufs := net.Buffers(b.vec[:])
		n, err = bufs.WriteTo(b.w)
		b.vec[0], b.vec[1] = nil, nil
	}
	b.buf = b.buf[:0]
	if err == nil && n < int64(held+len(p)) {
		err = io.ErrShortWrite
	}
	if err != nil {
		b.err = err
	}
	return int(max(n-int64(held), 0)), err
}

// WriteString is Write for a string, copied through the buffer (a large
// string is rare here: bodies come as []byte).
func (b *writer) WriteString(s string) (int, error) {
	written := 0
	for b.err == nil {
		n := copy(b.buf[len(b.buf):cap(b.buf)], s)
		b.buf = b.buf[:len(b.buf)+n]
		written += n
		s = s[n:]
		if len(s) == 0 {
			return written, nil
		}
		b.Flush()
	}
	return written, b.err
}

// Flush writes what the buffer holds.
func (b *writer) Flush() error {
	if b.err != nil {
		return b.err
	}
	if len(b.buf) == 0 {
		return nil
	}
	n, err := b.w.Write(b.buf)
	if err == nil && n < len(b.buf) {
		err = io.ErrShortWrite
	}
	b.buf = b.buf[:0]
	if err != nil {
		b.err = err
	}
	return err
}
