//go:build linux

package main

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdConn is a client or backend socket of the epoll loop.
type fdConn struct {
	fd      int
	backend int     // the backend's index; -1 for a client
	peer    *fdConn // a client's backend while its request is out, and back
	buf     []byte
	n       int // bytes of an answer read so far (backends)

	// With HTTP work (-mode epoll-raw-http): a client's address, the
	// request's parts for the log, and the buffer each way's rewritten
	// head is built in.
	client string
	ri     reqInfo
	out    []byte
}

type loop struct {
	// listener holds the listening socket's file, whose finalizer would
	// otherwise close the descriptor the loop accepts on.
	listener *os.File
	raw      bool // system calls the runtime does not see (-mode epoll-raw)
	ep       int
	backends []unix.SockaddrInet4
	conns    map[int]*fdConn
	idle     [][]*fdConn
	next     int
	work     *httpWork // nil: no HTTP work
}

// serveEpoll runs the loop on the calling (locked) thread. Reads and
// writes are non-blocking and made only when epoll says the socket is
// ready, as nginx makes them; a write that would block ends the
// connection (answers here are a few hundred bytes).
//
// With raw set, the loop's reads, writes and epoll waits are raw system
// calls that the Go runtime does not see: the thread keeps its P through
// the wait (no hand-off to another thread, no wake-ups of the scheduler);
// the runtime's preemption signal interrupts a long wait (EINTR) when it
// needs the thread, and the loop then yields. That is Go used as C is.
func serveEpoll(ln *net.TCPListener, backends []string, raw bool, work *httpWork) error {
	f, err := ln.File()
	if err != nil {
		return err
	}
	lfd := int(f.Fd())
	if err := unix.SetNonblock(lfd, true); err != nil {
		return err
	}
	l := &loop{listener: f, raw: raw, work: work, conns: make(map[int]*fdConn), idle: make([][]*fdConn, len(backends))}
	for _, b := range backends {
		ap, err := netip.ParseAddrPort(b)
		if err != nil || !ap.Addr().Is4() {
			return errors.New("gofloor -mode epoll: backends must be IPv4 HOST:PORT")
		}
		l.backends = append(l.backends, unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	}
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	if err := l.watch(lfd); err != nil {
		return err
	}
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := l.wait(events)
		if err != nil {
			if err == unix.EINTR {
				// Most likely the runtime's preemption signal: a raw
				// wait never yields by itself, so yield here or a
				// collection waiting to stop the world waits forever.
				runtime.Gosched()
				continue
			}
			return err
		}
		if l.work != nil {
			l.work.tick(time.Now())
		}
		for _, e := range events[:n] {
			fd := int(e.Fd)
			if fd == lfd {
				l.accept(lfd)
				continue
			}
			if c := l.conns[fd]; c != nil {
				if c.backend < 0 {
					l.request(c)
				} else {
					l.answer(c)
				}
			}
		}
	}
}

func (l *loop) watch(fd int) error {
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
}

func (l *loop) accept(lfd int) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &fdConn{fd: fd, backend: -1, buf: make([]byte, 8<<10)}
		if l.work != nil {
			c.client = "-"
			if sa, err := unix.Getpeername(fd); err == nil {
				if a, ok := sa.(*unix.SockaddrInet4); ok {
					c.client = netip.AddrFrom4(a.Addr).String()
				}
			}
			c.out = make([]byte, 0, 16<<10)
		}
		if l.watch(fd) != nil {
			unix.Close(fd)
			continue
		}
		l.conns[fd] = c
	}
}

func (l *loop) close(c *fdConn) {
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	delete(l.conns, c.fd)
	if p := c.peer; p != nil {
		p.peer = nil
		l.close(p)
	}
}

// request reads a client's request and writes it to a backend.
func (l *loop) request(c *fdConn) {
	n, err := l.read(c.fd, c.buf)
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 || c.peer != nil || !bytes.HasSuffix(c.buf[:n], crlfcrlf) {
		l.close(c)
		return
	}
	req, i := c.buf[:n], -1
	if l.work != nil {
		var ok bool
		c.out, i, c.ri, ok = l.work.request(c.out[:0], req, c.client, len(l.backends))
		if !ok {
			l.close(c)
			return
		}
		req = c.out
	}
	if i < 0 {
		i = l.next % len(l.backends)
		l.next++
	}
	b := l.backendConn(i)
	if b == nil {
		l.close(c)
		return
	}
	b.peer, c.peer, b.n = c, b, 0
	if w, err := l.write(b.fd, req); err != nil || w != len(req) {
		l.close(c)
	}
}

func (l *loop) backendConn(i int) *fdConn {
	if k := len(l.idle[i]); k > 0 {
		b := l.idle[i][k-1]
		l.idle[i] = l.idle[i][:k-1]
		return b
	}
	// A blocking connect: only while the pool fills.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if unix.Connect(fd, &l.backends[i]) != nil || unix.SetNonblock(fd, true) != nil || l.watch(fd) != nil {
		unix.Close(fd)
		return nil
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	b := &fdConn{fd: fd, backend: i, buf: make([]byte, 16<<10)}
	l.conns[fd] = b
	return b
}

// answer reads a backend's answer and, once whole, writes it to the client
// and puts the backend connection back.
func (l *loop) answer(b *fdConn) {
	k, err := l.read(b.fd, b.buf[b.n:])
	if err == unix.EAGAIN {
		return
	}
	if err != nil || k == 0 {
		l.close(b)
		return
	}
	b.n += k
	if l.work != nil {
		l.answerHTTP(b)
		return
	}
	m := complete(b.buf[:b.n])
	if m == 0 && b.n < len(b.buf) {
		return
	}
	c := b.peer
	if m != b.n || c == nil {
		l.close(b)
		return
	}
	b.peer, c.peer = nil, nil
	l.idle[b.backend] = append(l.idle[b.backend], b)
	if w, err := l.write(c.fd, b.buf[:m]); err != nil || w != m {
		l.close(c)
	}
}

// answerHTTP is answer with the HTTP work: the client gets the rewritten
// head, the exchange is logged, the backend connection is kept if it may be.
func (l *loop) answerHTTP(b *fdConn) {
	c := b.peer
	if c == nil {
		l.close(b)
		return
	}
	out, m, status, keep, ok := l.work.answer(c.out[:0], b.buf[:b.n], c.ri.head)
	if !ok || (m == 0 && b.n == len(b.buf)) || (m != 0 && m != b.n) {
		l.close(b)
		return
	}
	if m == 0 {
		return
	}
	c.out = out
	l.work.logLine(c.buf, c.ri, c.client, status, m-bytes.Index(b.buf[:m], crlfcrlf)-4)
	b.peer, c.peer = nil, nil
	if keep {
		l.idle[b.backend] = append(l.idle[b.backend], b)
	} else {
		l.close(b)
	}
	if w, err := l.write(c.fd, out); err != nil || w != len(out) || c.ri.close {
		l.close(c)
	}
}

func (l *loop) wait(events []unix.EpollEvent) (int, error) {
	if !l.raw {
		return unix.EpollWait(l.ep, events, -1)
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), ^uintptr(0), 0, 0)
	return int(n), errnoErr(e)
}

func (l *loop) read(fd int, p []byte) (int, error) {
	if !l.raw {
		return unix.Read(fd, p)
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errnoErr(e)
}

func (l *loop) write(fd int, p []byte) (int, error) {
	if !l.raw {
		return unix.Write(fd, p)
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errnoErr(e)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
