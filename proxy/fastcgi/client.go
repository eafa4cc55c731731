package fastcgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Conn is one connection to a FastCGI responder. It carries one request at
// a time; after a request whose answer was read to its end it can carry the
// next one (the keep-connection flag is always set), so a Pool keeps it.
type Conn struct {
	nc net.Conn
	rr recordReader
	w  []byte
	// reused is set once the connection has carried a request: a failure
	// before any answer on a reused connection may be a responder that
	// closed it while idle, and is worth one retry on a fresh one.
	reused bool
	idle   time.Time // when it was put back, for the pool's idle limit
}

// NewConn wraps a connected socket.
func NewConn(nc net.Conn) *Conn {
	c := &Conn{nc: nc}
	c.rr.r = nc
	return c
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Response is the answer of a responder whose header has been read. Body
// streams the rest of STDOUT; Finish must be called once the caller is done.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       io.Reader

	out  *stdoutReader
	stop func() bool
}

// Finish ends the exchange and reports whether the connection can carry
// another request: only when the responder's END_REQUEST was read and the
// context did not interrupt the exchange.
func (res *Response) Finish() (reusable bool) {
	fired := !res.stop()
	return !fired && res.out.done && res.out.err == nil
}

// Do sends one request, params being the CGI variables and body the
// request body (nil for none), and reads the answer's CGI header. STDERR
// content is handed to stderr (which may be nil) as it arrives. ctx bounds
// the whole exchange, including reading Body: when it ends the connection
// is interrupted and must not be reused.
func (c *Conn) Do(ctx context.Context, params []Pair, body io.Reader, stderr func([]byte)) (*Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*Response, error) {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := c.writeRequest(params, body); err != nil {
		return fail(err)
	}
	c.reused = true
	out := &stdoutReader{rr: &c.rr, stderr: stderr}
	br := bufio.NewReaderSize(out, 4096)
	hdr, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		if errors.Is(err, io.EOF) && out.err == nil {
			if out.done {
				err = errors.New("the responder ended the request without an answer")
			} else {
				err = io.ErrUnexpectedEOF
			}
		} else if out.err != nil {
			err = out.err
		} else {
			err = fmt.Errorf("the responder's CGI header: %w", err)
		}
		return fail(err)
	}
	res := &Response{StatusCode: http.StatusOK, Header: http.Header(hdr), Body: br, out: out, stop: stop}
	if s := res.Header.Get("Status"); s != "" {
		code, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(s, " ", 2)[0]))
		if err != nil || code < 100 || code > 999 {
			return fail(fmt.Errorf("the responder's Status %q is not a status code", s))
		}
		res.StatusCode = code
		res.Header.Del("Status")
	} else if res.Header.Get("Location") != "" {
		res.StatusCode = http.StatusFound
	}
	return res, nil
}

// writeRequest sends BEGIN_REQUEST, the params and the body. Small
// requests go out in one write.
func (c *Conn) writeRequest(params []Pair, body io.Reader) error {
	w := appendBeginRequest(c.w[:0], true)
	var pairs []byte
	for _, p := range params {
		pairs = appendPair(pairs, p.Name, p.Value)
	}
	w = appendStream(w, typeParams, pairs)
	w = appendRecord(w, typeParams, nil)
	if body != nil {
		chunk := make([]byte, 32<<10)
		for {
			n, err := body.Read(chunk)
			w = appendStream(w, typeStdin, chunk[:n])
			if len(w) >= 64<<10 {
				if _, werr := c.nc.Write(w); werr != nil {
					return werr
				}
				w = w[:0]
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("reading the request body: %w", err)
			}
		}
	}
	w = appendRecord(w, typeStdin, nil)
	_, err := c.nc.Write(w)
	if cap(w) <= 64<<10 {
		c.w = w[:0]
	}
	return err
}

// stdoutReader reads the STDOUT stream of the current request, handing
// STDERR content aside, until END_REQUEST.
type stdoutReader struct {
	rr      *recordReader
	stderr  func([]byte)
	pending []byte
	done    bool
	err     error
}

func (s *stdoutReader) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		if s.done {
			return 0, io.EOF
		}
		if s.err != nil {
			return 0, s.err
		}
		h, content, err := s.rr.next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			s.err = err
			return 0, err
		}
		if h.id != requestID {
			continue // management records
		}
		switch h.typ {
		case typeStdout:
			s.pending = content
		case typeStderr:
			if s.stderr != nil && len(content) > 0 {
				s.stderr(content)
			}
		case typeEndRequest:
			_, ps, err := endRequest(content)
			if err != nil {
				s.err = err
				return 0, err
			}
			if ps != statusRequestComplete {
				s.err = fmt.Errorf("the responder refused the request: %s", protocolStatusText(ps))
				return 0, s.err
			}
			s.done = true
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func protocolStatusText(ps uint8) string {
	switch ps {
	case statusCantMultiplex:
		return "cannot multiplex"
	case statusOverloaded:
		return "overloaded"
	case statusUnknownRole:
		return "unknown role"
	}
	return "protocol status " + strconv.Itoa(int(ps))
}
