package cluster

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"net"
	"sync"
)

// maxFrame bounds one sealed frame's payload.
const maxFrame = 64 << 10

// errBadFrame is returned by a sealed stream whose peer sent a frame that
// does not verify; the stream is then unusable.
var errBadFrame = errors.New("cluster stream: frame signature mismatch")

// sealedConn authenticates every byte of a stream: each Write becomes
// frames of [length][payload][HMAC(seq, direction, length, payload)], and
// Read verifies each frame before handing its payload on. Sequence numbers
// make a frame impossible to replay, reorder or splice into another stream.
type sealedConn struct {
	net.Conn
	r *bufio.Reader

	rmu     sync.Mutex
	rmac    hash.Hash
	rseq    uint64
	rdir    byte
	pending []byte
	rerr    error

	wmu  sync.Mutex
	wmac hash.Hash
	wseq uint64
	wdir byte
}

// seal wraps c; client tells the two directions apart.
func seal(c net.Conn, r *bufio.Reader, key []byte, client bool) *sealedConn {
	s := &sealedConn{Conn: c, r: r, rmac: hmac.New(sha256.New, key), wmac: hmac.New(sha256.New, key)}
	s.wdir, s.rdir = 'S', 'C'
	if client {
		s.wdir, s.rdir = 'C', 'S'
	}
	return s
}

func frameMAC(m hash.Hash, seq uint64, dir byte, payload []byte) []byte {
	m.Reset()
	var hdr [13]byte
	binary.BigEndian.PutUint64(hdr[:8], seq)
	hdr[8] = dir
	binary.BigEndian.PutUint32(hdr[9:], uint32(len(payload)))
	m.Write(hdr[:])
	m.Write(payload)
	return m.Sum(nil)
}

func (s *sealedConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		buf := make([]byte, 4, 4+len(chunk)+sha256.Size)
		binary.BigEndian.PutUint32(buf, uint32(len(chunk)))
		buf = append(buf, chunk...)
		buf = append(buf, frameMAC(s.wmac, s.wseq, s.wdir, chunk)...)
		s.wseq++
		if _, err := s.Conn.Write(buf); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

func (s *sealedConn) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for len(s.pending) == 0 {
		if s.rerr != nil {
			return 0, s.rerr
		}
		s.rerr = s.readFrame()
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	return n, nil
}

func (s *sealedConn) readFrame() error {
	var lb [4]byte
	if _, err := io.ReadFull(s.r, lb[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n > maxFrame {
		return errBadFrame
	}
	buf := make([]byte, int(n)+sha256.Size)
	if _, err := io.ReadFull(s.r, buf); err != nil {
		return err
	}
	payload, sum := buf[:n], buf[n:]
	if !hmac.Equal(sum, frameMAC(s.rmac, s.rseq, s.rdir, payload)) {
		s.Conn.Close()
		return errBadFrame
	}
	s.rseq++
	s.pending = payload
	return nil
}

// bufConn is a hijacked or dialled connection whose first bytes may
// already sit in a bufio.Reader.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }
