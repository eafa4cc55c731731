// Package fastcgi is a FastCGI client: it sends HTTP requests to a FastCGI
// responder (PHP-FPM, a program served by Go's net/http/fcgi, a resind
// supervised process) and streams the responder's answer back as an HTTP
// response.
//
// The wire format is the FastCGI 1.0 specification: every message is a
// record of an 8-byte header and up to 65535 bytes of content plus padding.
// A request is BEGIN_REQUEST, PARAMS (the CGI variables as name-value
// pairs, ended by an empty PARAMS record), STDIN (the body, ended by an
// empty STDIN record); the answer is STDOUT (a CGI response: header lines,
// a blank line, the body) and STDERR records, ended by END_REQUEST. One
// request runs on a connection at a time; with the keep-connection flag
// the responder leaves the connection open for the next one.
package fastcgi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Record types of FastCGI 1.0.
const (
	typeBeginRequest    uint8 = 1
	typeAbortRequest    uint8 = 2
	typeEndRequest      uint8 = 3
	typeParams          uint8 = 4
	typeStdin           uint8 = 5
	typeStdout          uint8 = 6
	typeStderr          uint8 = 7
	typeData            uint8 = 8
	typeGetValues       uint8 = 9
	typeGetValuesResult uint8 = 10
	typeUnknownType     uint8 = 11
)

const (
	version1      = 1
	roleResponder = 1
	flagKeepConn  = 1
	headerLen     = 8
	maxContent    = 65535
	// requestID is the id of every request: resind never multiplexes
	// requests on one connection, as most responders do not support it.
	requestID = 1
)

// Protocol statuses of END_REQUEST.
const (
	statusRequestComplete = 0
	statusCantMultiplex   = 1
	statusOverloaded      = 2
	statusUnknownRole     = 3
)

// errMalformed is wrapped by every error about bytes that are not FastCGI.
var errMalformed = errors.New("malformed FastCGI record")

// header is a record header.
type header struct {
	version       uint8
	typ           uint8
	id            uint16
	contentLength uint16
	paddingLength uint8
}

// recordReader reads records from a connection into one reused buffer.
type recordReader struct {
	r   io.Reader
	hdr [headerLen]byte
	buf [maxContent + 255]byte
}

// next reads one record and returns its header and content; the content is
// valid until the next call.
func (rr *recordReader) next() (header, []byte, error) {
	if _, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
		return header{}, nil, err
	}
	h := header{
		version:       rr.hdr[0],
		typ:           rr.hdr[1],
		id:            binary.BigEndian.Uint16(rr.hdr[2:4]),
		contentLength: binary.BigEndian.Uint16(rr.hdr[4:6]),
		paddingLength: rr.hdr[6],
	}
	if h.version != version1 {
		return h, nil, fmt.Errorf("%w: version %d", errMalformed, h.version)
	}
	n := int(h.contentLength) + int(h.paddingLength)
	if _, err := io.ReadFull(rr.r, rr.buf[:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, rr.buf[:h.contentLength], nil
}

// appendRecord appends one record of type typ carrying content (at most
// maxContent bytes), padded to a multiple of 8 as the specification
// recommends.
func appendRecord(dst []byte, typ uint8, content []byte) []byte {
	pad := (8 - len(content)%8) % 8
	dst = append(dst, version1, typ, 0, requestID, 0, 0, byte(pad), 0)
	binary.BigEndian.PutUint16(dst[len(dst)-4:], uint16(len(content)))
	dst = append(dst, content...)
	for range pad {
		dst = append(dst, 0)
	}
	return dst
}

// appendStream appends data as records of type typ, split at maxContent.
// It does not append the empty record that ends a stream.
func appendStream(dst []byte, typ uint8, data []byte) []byte {
	for len(data) > 0 {
		n := min(len(data), maxContent)
		dst = appendRecord(dst, typ, data[:n])
		data = data[n:]
	}
	return dst
}

// beginRequest is the BEGIN_REQUEST record of a responder request.
func appendBeginRequest(dst []byte, keepConn bool) []byte {
	var flags byte
	if keepConn {
		flags = flagKeepConn
	}
	return appendRecord(dst, typeBeginRequest, []byte{0, roleResponder, flags, 0, 0, 0, 0, 0})
}

// appendPair appends one name-value pair in FastCGI's encoding: each
// length is one byte below 128, else four bytes with the top bit set.
func appendPair(dst []byte, name, value string) []byte {
	dst = appendLength(dst, len(name))
	dst = appendLength(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

func appendLength(dst []byte, n int) []byte {
	if n < 128 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}

// Pair is one name-value pair of a PARAMS stream.
type Pair struct{ Name, Value string }

// ParsePairs decodes a PARAMS (or GET_VALUES) stream. It is what a
// responder does with resind's params; resind uses it in tests and for
// GET_VALUES_RESULT.
func ParsePairs(b []byte) ([]Pair, error) {
	var out []Pair
	for len(b) > 0 {
		nl, rest, err := readLength(b)
		if err != nil {
			return out, err
		}
		vl, rest, err := readLength(rest)
		if err != nil {
			return out, err
		}
		if uint64(nl)+uint64(vl) > uint64(len(rest)) {
			return out, fmt.Errorf("%w: pair of %d+%d bytes in %d", errMalformed, nl, vl, len(rest))
		}
		out = append(out, Pair{Name: string(rest[:nl]), Value: string(rest[nl : nl+vl])})
		b = rest[nl+vl:]
	}
	return out, nil
}

func readLength(b []byte) (int, []byte, error) {
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("%w: truncated pair length", errMalformed)
	}
	if b[0] < 128 {
		return int(b[0]), b[1:], nil
	}
	if len(b) < 4 {
		return 0, nil, fmt.Errorf("%w: truncated pair length", errMalformed)
	}
	return int(binary.BigEndian.Uint32(b) &^ (1 << 31)), b[4:], nil
}

// endRequest decodes END_REQUEST content: the application's exit status
// and the protocol status.
func endRequest(content []byte) (appStatus uint32, protocolStatus uint8, err error) {
	if len(content) < 8 {
		return 0, 0, fmt.Errorf("%w: END_REQUEST of %d bytes", errMalformed, len(content))
	}
	return binary.BigEndian.Uint32(content), content[4], nil
}
