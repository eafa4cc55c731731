//go:build linux

package loop

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"resind/core/h1"
	"resind/proxy"
)

// Supported reports whether this system has the loop.
const Supported = true

// slots is the connection-max count of the listener, kept by the loop as
// core's limited listener keeps it for Accept.
type slots interface {
	Bound() net.Listener
	TryAcquire() bool
	Release()
	Hold(c net.Conn) net.Conn
}

// Server runs the loops of one listener.
type Server struct {
	cfg      Config
	shut     atomic.Bool
	noAccept atomic.Bool // StopAccepting was called
	mu       sync.Mutex
	loops    []*evloop
	done     chan struct{} // closed when every loop has ended
	nextBack int           // the loop the next connection taken back goes to
}

// New returns a loop server for cfg.
func New(cfg Config) *Server {
	if cfg.Loops <= 0 {
		cfg.Loops = DefaultLoops()
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s := &Server{cfg: cfg, done: make(chan struct{})}
	if cfg.H1 != nil {
		cfg.H1.Return = s.takeBack
	}
	return s
}

// takeBack is H1's Return: a connection the loop lent to H1 for one
// request (client.lend) comes back to a loop, to wait there for its next.
// false leaves it with H1: the loops are stopping, or connection-max has no
// slot for it while c still holds its own.
func (s *Server) takeBack(c net.Conn) bool {
	if s.shut.Load() || s.noAccept.Load() {
		return false
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	s.mu.Lock()
	if len(s.loops) == 0 {
		s.mu.Unlock()
		return false
	}
	l := s.loops[s.nextBack%len(s.loops)]
	s.nextBack++
	s.mu.Unlock()
	return l.takeBack(c, rc)
}

// dedicatedLoops counts the loops of the process that keep their P while
// they wait (see run); at most GOMAXPROCS-1, so that one P is always left
// to net/http, core/h1, the cluster and the collector.
var dedicatedLoops atomic.Int32

// dedicate reserves a P for a loop that keeps it; false when none is left.
func dedicate() bool {
	for {
		n := dedicatedLoops.Load()
		if int(n) >= runtime.GOMAXPROCS(0)-1 {
			return false
		}
		if dedicatedLoops.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Serve runs the loops on ln, a TCP listener or core's limited listener
// over one, until Shutdown or Close; it returns h1.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	if s.shut.Load() {
		ln.Close()
		return h1.ErrServerClosed
	}
	sl, _ := ln.(slots)
	bound := ln
	if sl != nil {
		bound = sl.Bound()
	}
	tl, ok := bound.(*net.TCPListener)
	if !ok {
		return s.cfg.H1.Serve(ln)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var loops []*evloop
	fail := func(err error) error {
		for _, l := range loops {
			l.closeFds()
		}
		return err
	}
	for range s.cfg.Loops {
		lfd, err := dupFd(rc)
		if err != nil {
			return fail(err)
		}
		l, err := newLoop(s, lfd, sl)
		if err != nil {
			unix.Close(lfd)
			return fail(err)
		}
		loops = append(loops, l)
	}
	s.mu.Lock()
	if s.shut.Load() {
		s.mu.Unlock()
		ln.Close()
		return fail(h1.ErrServerClosed)
	}
	s.loops = loops
	s.mu.Unlock()
	s.cfg.Log.Info("epoll data plane on", zap.String("addr", tl.Addr().String()), zap.Int("loops", len(loops)))
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.dedicated = dedicate(); l.dedicated {
				defer dedicatedLoops.Add(-1)
			}
			l.run()
		}()
	}
	wg.Wait()
	close(s.done)
	// As net/http: the listener given is closed when Serve returns.
	ln.Close()
	return h1.ErrServerClosed
}

// Shutdown stops accepting, closes idle connections, lets exchanges in
// flight finish and waits for them and for the connections handed over,
// or for ctx to end (then it closes what is left).
func (s *Server) Shutdown(ctx context.Context) error {
	s.shut.Store(true)
	s.StopAccepting()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	case <-s.started():
	}
	return s.cfg.H1.Shutdown(ctx)
}

// StopAccepting returns once no loop accepts any more. Closing the
// listener given to Serve is not enough: each loop accepts on a duplicate
// of its descriptor, which keeps the socket listening until the loop
// closes it.
func (s *Server) StopAccepting() {
	s.noAccept.Store(true)
	s.wake()
	s.mu.Lock()
	loops := s.loops
	s.mu.Unlock()
	for _, l := range loops {
		select {
		case <-l.unlistened:
		case <-time.After(5 * time.Second):
			s.cfg.Log.Error("epoll data plane: a loop did not stop accepting within 5 s")
			return
		}
	}
}

// started is closed at once when Serve never ran: Shutdown has no loop to
// wait for.
func (s *Server) started() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.loops) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return nil
}

// Close closes everything at once.
func (s *Server) Close() error {
	s.shut.Store(true)
	s.mu.Lock()
	for _, l := range s.loops {
		l.kill.Store(true)
	}
	s.mu.Unlock()
	s.wake()
	return s.cfg.H1.Close()
}

func (s *Server) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		l.wake()
	}
}

// wake makes the loop's wait return: it looks at the shutdown flags and
// the connections taken back.
func (l *evloop) wake() {
	var one [8]byte
	one[0] = 1
	unix.Write(l.efd, one[:])
}

// dupFd is a descriptor of its own for the socket of rc, closed on exec.
func dupFd(rc syscall.RawConn) (int, error) {
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// tick is how often a loop looks at deadlines, the shutdown flag and a
// paused accept.
const tick = 100 * time.Millisecond

// Socket buffer sizes of the loop: a request head (as h1), and a backend
// answer read at a time.
const (
	clientBuf   = h1.ReadBufferSize
	upstreamBuf = 32 << 10
)

// evloop is one event loop.
type evloop struct {
	s      *Server
	ep     int
	lfd    int // the listening socket (a dup of it)
	efd    int // eventfd: Shutdown and Close wake the loop
	slots  slots
	paused bool // connection-max reached: not accepting
	kill   atomic.Bool
	// epf and eprc are ep in the runtime's poller (a shared loop's).
	epf  *os.File
	eprc syscall.RawConn
	// unlistened is closed when the loop has closed lfd.
	unlistened chan struct{}
	// dedicated: the loop keeps its P while it waits (dedicate).
	dedicated bool

	socks   map[int]any // *client or *upstream by descriptor
	idle    map[string][]*upstream
	addrs   map[string]unix.Sockaddr
	lastRun int64
	// parkUntil is when park's deadline runs out (nanotime).
	parkUntil int64
	// events receives each wait's events; poll is park's raw wait, its
	// results in pn and perr, polls its calls during one park.
	events []unix.EpollEvent
	poll   func(uintptr) bool
	pn     int
	perr   error
	polls  int

	// back are connections taken back from H1 (takeBack), for the loop
	// to watch; ended says the loop will not look at back again.
	backMu sync.Mutex
	back   []returned
	ended  bool
	now    int64 // nanotime when the current batch of events came
}

// newLoop makes a loop accepting on lfd; on error lfd is left to the
// caller.
func newLoop(s *Server, lfd int, sl slots) (*evloop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, err
	}
	l := &evloop{s: s, ep: ep, lfd: lfd, efd: efd, slots: sl, unlistened: make(chan struct{}),
		socks: make(map[int]any), idle: make(map[string][]*upstream), addrs: make(map[string]unix.Sockaddr)}
	err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)})
	if err == nil {
		err = l.watchListener()
	}
	if err != nil {
		l.lfd = -1
		l.closeFds()
		return nil, err
	}
	return l, nil
}

func (l *evloop) watchListener() error {
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, l.lfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.lfd)})
}

// unlisten closes the loop's listening descriptor; StopAccepting waits
// for every loop's.
func (l *evloop) unlisten() {
	if l.lfd >= 0 {
		unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil)
		unix.Close(l.lfd)
		l.lfd = -1
		close(l.unlistened)
	}
}

func (l *evloop) closeFds() {
	l.unlisten()
	if l.epf != nil {
		l.epf.Close() // its descriptor is l.ep
	} else {
		unix.Close(l.ep)
	}
	unix.Close(l.efd)
}

// parkable puts the epoll set in the runtime's poller, for park: a shared
// loop's way to wait.
func (l *evloop) parkable() error {
	if err := unix.SetNonblock(l.ep, true); err != nil {
		return err
	}
	// A non-blocking descriptor: os.NewFile registers it with the poller.
	l.epf = os.NewFile(uintptr(l.ep), "epoll")
	var err error
	l.eprc, err = l.epf.SyscallConn()
	// One closure for every park: Read's argument escapes.
	l.poll = func(uintptr) bool {
		l.polls++
		l.pn, l.perr = rawWait(l.ep, l.events, 0)
		return l.pn > 0 || l.perr != nil
	}
	return err
}

// park waits for events until the next tick as a goroutine waits on a
// socket: parked in the runtime's poller, its P free at once for the
// goroutines of handed-over connections. (A blocking epoll_wait through
// the runtime keeps the P until the system monitor takes it back, up to
// 10 ms later: cache hits on core/h1 beside a loop had a p99 of 12–15 ms.)
//
// Read polls first (a raw epoll_wait that does not block): a busy loop
// makes one system call per batch, as a dedicated one. The deadline, a
// runtime timer, is moved once per tick, not per batch. waited says the
// loop was parked: the goroutines waiting for the P had it meanwhile.
func (l *evloop) park() (n int, err error, waited bool) {
	if now := nanotime(); now >= l.parkUntil {
		l.parkUntil = now + int64(tick)
		l.epf.SetReadDeadline(time.Now().Add(tick))
	}
	l.polls, l.pn, l.perr = 0, 0, nil
	rerr := l.eprc.Read(l.poll)
	if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
		return 0, rerr, false
	}
	return l.pn, l.perr, l.polls != 1
}

// run is the loop. How it waits depends on whether it has a P to itself:
//   - dedicated (GOMAXPROCS-1 loops at most, so that one P is always left
//     to the rest of the process): epoll_wait as a raw system call, the P
//     kept through the wait, as nginx's worker keeps its CPU;
//   - shared (GOMAXPROCS 1, or more loops than that leaves): it polls
//     without blocking while there is work and, when a poll finds nothing,
//     parks in the runtime's poller (park), which frees its P at once.
//     cmd/resind gives a process on one CPU two Ps, so that its loop is
//     dedicated (0.95 of the CPU per request of a shared one, pinned):
//     a shared loop is what GOMAXPROCS=1, set by the operator, or
//     RESIND_DATAPLANE_LOOPS above GOMAXPROCS-1 make.
//
// A shared loop yields after each batch, so that goroutines waiting for
// its P (handed-over connections, the cluster, the collector) get it. A
// dedicated one yields only when the runtime's preemption signal
// interrupted its wait (EINTR), or a stop of the world would wait for it:
// what lands on its P meanwhile (a handed-over connection's goroutine, a
// timer) is taken by the free P, as an idle P steals work from a busy
// one. The loop is not locked to its thread: a locked goroutine that
// yields makes its thread hand the P to another and take it back, two
// thread switches per batch.
//
// bench/ab.sh, CPU per request: unlocked 0.88 of locked (pinned); one
// dedicated loop 0.93 of two shared ones (GOMAXPROCS 2, unpinned), and
// 0.87 of itself yielding after each batch; a shared loop not yielding
// 1.23 of one that does (pinned).
func (l *evloop) run() {
	defer l.closeFds()
	defer l.endBack()
	if !l.dedicated {
		if err := l.parkable(); err != nil {
			l.s.cfg.Log.Error("epoll data plane: cannot wait in the runtime's poller", zap.Error(err))
			return
		}
	}
	l.events = make([]unix.EpollEvent, 128)
	events := l.events
	for {
		var n int
		var err error
		waited := false
		if l.dedicated {
			n, err = rawWait(l.ep, events, int(tick/time.Millisecond))
		} else {
			n, err, waited = l.park()
		}
		if err != nil && err != unix.EINTR {
			l.s.cfg.Log.Error("epoll data plane: wait failed", zap.Error(err))
			l.closeAll()
			return
		}
		l.now = nanotime()
		for _, e := range events[:max(n, 0)] {
			fd := int(e.Fd)
			switch {
			case fd == l.lfd:
				l.accept()
			case fd == l.efd:
				var b [8]byte
				unix.Read(l.efd, b[:])
				l.adopt()
			default:
				switch k := l.socks[fd].(type) {
				case *client:
					k.event(e.Events)
				case *upstream:
					k.event(e.Events)
				}
			}
		}
		now := l.now
		if now-l.lastRun >= int64(tick) {
			l.lastRun = now
			l.timers(now)
		}
		if l.kill.Load() {
			l.closeAll()
			return
		}
		if l.s.noAccept.Load() {
			l.unlisten() // StopAccepting (Shutdown calls it too)
		}
		if l.s.shut.Load() {
			if l.closeIdle() {
				return
			}
		}
		if !l.dedicated && !waited || err == unix.EINTR {
			runtime.Gosched()
		}
	}
}

// returned is a connection taken back from H1: its own descriptor.
type returned struct {
	fd     int
	remote string
	local  net.Addr
}

// takeBack takes c, which rc is the socket of, into l: a descriptor of its
// own for the socket, and c closed. false leaves c as it was.
func (l *evloop) takeBack(c net.Conn, rc syscall.RawConn) bool {
	l.backMu.Lock()
	defer l.backMu.Unlock()
	if l.ended || l.slots != nil && !l.slots.TryAcquire() {
		return false
	}
	fd, err := dupFd(rc)
	if err != nil {
		l.release()
		return false
	}
	l.back = append(l.back, returned{fd: fd, remote: c.RemoteAddr().String(), local: c.LocalAddr()})
	c.Close() // gives its connection-max slot back: l took one of its own
	l.wake()
	return true
}

// adopt watches the connections taken back, each waiting for its next
// request.
func (l *evloop) adopt() {
	l.backMu.Lock()
	back := l.back
	l.back = nil
	l.backMu.Unlock()
	for _, r := range back {
		c := l.client(r.fd, r.remote, r.local)
		if c == nil {
			continue
		}
		c.deadline = l.after(c.idleTimeout())
	}
}

// endBack closes the connections taken back that the loop did not watch
// yet, and any that come after: the loop ends.
func (l *evloop) endBack() {
	l.backMu.Lock()
	defer l.backMu.Unlock()
	l.ended = true
	for _, r := range l.back {
		unix.Close(r.fd)
		l.release()
	}
	l.back = nil
}

// client makes fd, a client's connection, one of the loop's; nil when it
// cannot be watched (fd is then closed and its slot given back).
func (l *evloop) client(fd int, remote string, local net.Addr) *client {
	c := &client{l: l, fd: fd, buf: make([]byte, clientBuf), remote: remote, local: local}
	c.tmpl = l.s.cfg.H1.Template(c.remote, c.local)
	if err := l.watch(fd); err != nil {
		unix.Close(fd)
		l.release()
		return nil
	}
	l.socks[fd] = c
	return c
}

func (l *evloop) accept() {
	for range 64 {
		if l.slots != nil && !l.slots.TryAcquire() {
			// connection-max: stop watching the socket until a slot
			// is free (timers looks again); clients wait in the
			// kernel's queue, as with Accept.
			unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.lfd, nil)
			l.paused = true
			return
		}
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			l.release()
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		var local net.Addr
		if la, err := unix.Getsockname(fd); err == nil {
			local = net.TCPAddrFromAddrPort(addrPort(la))
		}
		c := l.client(fd, addrPort(sa).String(), local)
		if c == nil {
			continue
		}
		c.deadline = l.after(l.s.cfg.H1.ReadHeaderTimeout)
		c.newConn = true
	}
}

// after is the deadline d from now; 0 (none) when d is not positive.
func (l *evloop) after(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return l.now + int64(d)
}

func (l *evloop) release() {
	if l.slots != nil {
		l.slots.Release()
	}
}

// watch adds fd edge-triggered for reading and writing: no epoll_ctl per
// request; each socket remembers what it may do (canRead, canWrite).
func (l *evloop) watch(fd int) error {
	return unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)})
}

func (l *evloop) forget(fd int) {
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, fd, nil)
	delete(l.socks, fd)
}

// closeFd forgets and closes *fd, which becomes -1; false if it was
// closed already.
func (l *evloop) closeFd(fd *int) bool {
	if *fd < 0 {
		return false
	}
	unix.Close(l.takeFd(fd))
	return true
}

// takeFd takes *fd out of the loop's hands, open, and sets *fd to -1.
func (l *evloop) takeFd(fd *int) int {
	n := *fd
	l.forget(n)
	*fd = -1
	return n
}

// timers ends what waited too long, and accepts again after a pause.
func (l *evloop) timers(now int64) {
	if l.paused && l.lfd >= 0 && !l.s.shut.Load() {
		if l.watchListener() == nil {
			l.paused = false
		}
	}
	for _, k := range l.socks {
		switch k := k.(type) {
		case *client:
			if k.deadline > 0 && now > k.deadline && k.x == nil {
				// Idle past keepalive, or a head not in within
				// header-timeout: closed without an answer, as h1.
				k.close()
			}
		case *upstream:
			if x := k.x; x != nil && x.deadline > 0 && now > x.deadline {
				x.timedOut()
			} else if x == nil && now-k.idleSince > int64(k.idleTime) {
				k.close()
			}
		}
	}
}

// closeIdle closes the clients waiting for a request during Shutdown and
// reports whether nothing is left in flight.
func (l *evloop) closeIdle() bool {
	busy := false
	for _, k := range l.socks {
		switch k := k.(type) {
		case *client:
			if k.x == nil && k.n == 0 && len(k.out) == 0 {
				k.close()
			} else {
				busy = true
			}
		case *upstream:
			if k.x == nil {
				k.close()
			}
		}
	}
	return !busy
}

func (l *evloop) closeAll() {
	for _, k := range l.socks {
		switch k := k.(type) {
		case *client:
			k.close()
		case *upstream:
			k.close()
		}
	}
}

// client is a connection from a client while the loop serves it.
type client struct {
	l        *evloop
	fd       int
	remote   string
	local    net.Addr
	tmpl     *http.Request
	buf      []byte
	n        int
	canRead  bool
	canWrite bool
	newConn  bool
	deadline int64  // nanotime: idle or header timeout
	out      []byte // answer bytes not written yet
	wbuf     []byte // the array out is cut from, kept between answers
	x        *exchange
	xs       exchange // what x points to: one per connection, not per request
	reqBuf   []byte   // the buffer requests to backends are written in
	parsed   *h1.Parsed
	hdr      http.Header // a cache hit's fields, emptied for each
	closing  bool        // close once out is written
	// next says buf[:n] holds bytes read does not know yet: read just
	// now, or what came after the last request taken from buf
	// (pipelined requests).
	next bool
}

func (c *client) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.canRead = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.canWrite = true
	}
	c.process()
}

// process does what the connection can do now: write what is pending,
// then read and start the next request; after an answer from the cache,
// the same again.
func (c *client) process() {
	for {
		if len(c.out) > 0 {
			if !c.flush() {
				return
			}
		}
		if c.x == nil && cap(c.wbuf) > 16<<10 {
			c.out, c.wbuf = nil, nil // a large answer's buffer is not kept while idle
		}
		if c.x != nil {
			if c.x.relaying() {
				c.x.pump() // the client took what was pending: read on
			}
			return
		}
		if c.closing {
			c.close()
			return
		}
		if !c.read() {
			return
		}
	}
}

// read looks at the bytes in buf it does not know yet, and reads while
// the socket has more, until a request is started; it reports whether one
// was answered at once (from the cache: the answer is in out) rather than
// started or left to wait for more bytes.
func (c *client) read() bool {
	for {
		if c.next {
			c.next = false
			if c.request() {
				return false
			}
			if len(c.out) > 0 {
				return true // answered from the cache
			}
		}
		if !c.canRead {
			return false
		}
		if c.n == len(c.buf) {
			c.handOver(nil, nil)
			return false
		}
		k, err := rawRead(c.fd, c.buf[c.n:])
		if err == unix.EAGAIN {
			c.canRead = false
			return false
		}
		if k < len(c.buf)-c.n {
			// A short read emptied the socket: what comes next brings
			// an edge of its own (no read just to see EAGAIN).
			c.canRead = false
		}
		if err != nil || k == 0 {
			// The client closed or broke: with a partial head net/http
			// would answer 400 (h1 hands such a head over); else close.
			if err == nil && c.n > 0 {
				c.handOver(nil, nil)
				return false
			}
			c.close()
			return false
		}
		if c.n == 0 && !c.newConn {
			// A later request's head starts: header-timeout from here.
			c.deadline = c.l.after(c.l.s.cfg.H1.ReadHeaderTimeout)
		}
		c.n += k
		c.next = true
	}
}

// request starts the request whose head is in buf, if whole; it reports
// whether the connection left the loop's hands or is busy.
func (c *client) request() bool {
	end := h1.HeadEnd(c.buf[:c.n])
	if end < 0 {
		if c.n >= 4 && h1.BareLF(c.buf[:c.n]) {
			c.handOver(nil, nil)
			return true
		}
		return false
	}
	// The last request's parse is done with: nothing of it is used after
	// its exchange (a connection handed over with it leaves the loop). The
	// parse keeps nothing of buf. A head it takes has no body, so what
	// follows it (end < n) is the next request, pipelined: it stays in buf
	// for after this one (take).
	p := h1.Reparse(c.buf[:end], c.tmpl, c.parsed)
	c.parsed = p
	if p == nil || p.R.ProtoMinor != 1 {
		c.handOver(nil, nil)
		return true
	}
	t := c.l.s.cfg.Route(p.R)
	if t.Balancer == nil {
		if t.Lend {
			c.lend(nil, nil)
		} else {
			c.handOver(nil, nil)
		}
		return true
	}
	if t.Cache != nil {
		return c.hit(t.Cache, p, end)
	}
	bl := t.Balancer
	c.take(end)
	c.deadline = 0
	c.xs = exchange{c: c, p: p, px: bl.Start(p.R), start: time.Now()}
	c.x = &c.xs
	c.x.next()
	return true
}

// hit answers p from cache, or hands the connection over when the cache
// does not answer it itself. It reports whether the connection left the
// loop's hands; if not, the answer is in out, and the client reads on once
// it is written.
func (c *client) hit(cache Cache, p *h1.Parsed, end int) bool {
	start := time.Now()
	if c.hdr == nil {
		c.hdr = make(http.Header, 8)
	} else {
		clear(c.hdr)
	}
	out, status, body, closeAfter, ok := cache.Hit(c.wbuf[:0], p, c.hdr, c.l.s.shut.Load())
	if !ok {
		c.lend(nil, nil)
		return true
	}
	c.take(end)
	c.out, c.wbuf = out, out
	c.served(p.R, status, body, start, closeAfter)
	return false
}

// take removes the request head buf[:end] that the loop answers from buf;
// what follows it, pipelined, is looked at once the answer is out.
func (c *client) take(end int) {
	c.newConn = false
	c.n = copy(c.buf, c.buf[end:c.n])
	c.next = c.n > 0
}

// served records a request the loop answered, and readies the connection
// for its next: closed once the answer is out when closeAfter, else given
// the idle timeout.
func (c *client) served(r *http.Request, status int, bytes int64, start time.Time, closeAfter bool) {
	c.l.s.cfg.Served(r, status, bytes, start)
	if closeAfter {
		c.closing = true
	}
	if c.n > 0 {
		// The next request's head has begun (pipelined): header-timeout
		// from here, as read gives a head begun later.
		c.deadline = c.l.after(c.l.s.cfg.H1.ReadHeaderTimeout)
		return
	}
	c.deadline = c.l.after(c.idleTimeout())
}

// idleTimeout is how long a kept connection waits for its next request.
func (c *client) idleTimeout() time.Duration {
	if d := c.l.s.cfg.H1.IdleTimeout; d > 0 {
		return d
	}
	return c.l.s.cfg.H1.ReadHeaderTimeout
}

// flush writes out; false while some is left (canWrite then false).
func (c *client) flush() bool {
	for len(c.out) > 0 {
		if !c.canWrite {
			return false
		}
		k, err := rawWrite(c.fd, c.out)
		if err == unix.EAGAIN {
			c.canWrite = false
			return false
		}
		if err != nil {
			c.gone()
			return false
		}
		c.out = c.out[k:]
	}
	c.out = c.wbuf[:0]
	return true
}

// gone ends a client that went away, and its exchange.
func (c *client) gone() {
	if x := c.x; x != nil {
		x.clientGone()
	}
	c.close()
}

func (c *client) close() {
	if c.l.closeFd(&c.fd) {
		c.l.release()
	}
}

// handOver gives the connection to h1: with what was read when first is
// nil, else with first (already read) to be answered by handler.
func (c *client) handOver(first *h1.Parsed, handler http.Handler) { c.give(first, handler, false) }

// lend is handOver for the request at hand only: h1 gives the connection
// back (Server.takeBack) once it has answered it. For requests of routes
// the loop serves (a cache miss, an answer the loop does not relay
// itself), not for those it never serves (static files...), which would
// come and go with every request.
func (c *client) lend(first *h1.Parsed, handler http.Handler) { c.give(first, handler, true) }

func (c *client) give(first *h1.Parsed, handler http.Handler, lend bool) {
	l := c.l
	nc, err := fdConn(l.takeFd(&c.fd))
	if err != nil {
		l.release()
		return
	}
	if l.slots != nil {
		nc = l.slots.Hold(nc)
	}
	// What was read and not taken: the head of the request at hand when
	// first is nil, and any pipelined after it.
	var buffered []byte
	if c.n > 0 {
		buffered = append([]byte(nil), c.buf[:c.n]...)
	}
	if lend {
		l.s.cfg.H1.Lend(nc, buffered, first, handler)
		return
	}
	l.s.cfg.H1.ServeConn(nc, buffered, first, handler)
}

// fdConn makes a net.Conn of fd, which it takes over.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	f.Close()
	return nc, err
}

// exchange is a request the loop proxies.
type exchange struct {
	c      *client
	p      *h1.Parsed
	px     proxy.Exchange
	u      *upstream
	start  time.Time
	req    []byte // the request as sent
	status int
	left   int64 // body bytes still to relay; -1 before the head
	bytes  int64 // body bytes written to the client
	keep   bool  // the backend keeps its connection
	close  bool  // the client's connection ends after the answer
	// deadline: connect-timeout while connecting, socket-timeout while
	// waiting for the answer or any of its body.
	deadline int64
	socket   time.Duration
}

func (x *exchange) relaying() bool { return x.left > 0 }

// next sends the request to the next backend the Balancer picks, or
// answers 503 when none is left.
func (x *exchange) next() {
	for {
		if !x.px.Next() {
			x.finishWith(http.StatusServiceUnavailable)
			return
		}
		if x.sendToPicked() {
			return
		}
	}
}

// sendToPicked sends the request to the backend the Balancer picked;
// false when no connection could be started (recorded as a failed
// connect).
func (x *exchange) sendToPicked() bool {
	connect, socket, idle := x.px.Timeouts()
	x.socket = socket
	u, err := x.c.l.upstream(x.px.Addr(), connect, idle)
	if err != nil {
		x.px.DialFailed(err)
		return false
	}
	x.attach(u)
	return true
}

func (x *exchange) attach(u *upstream) {
	x.u, u.x = u, x
	x.left = -1
	x.deadline = 0
	u.n = 0
	if x.req == nil {
		x.req = proxy.AppendRequest(x.c.reqBuf[:0], x.p.R)
		x.c.reqBuf = x.req
	}
	u.out = x.req
	if u.connecting {
		x.deadline = x.c.l.after(u.connectTimeout)
		return
	}
	u.process()
}

// timedOut ends an exchange that waited past its deadline.
func (x *exchange) timedOut() {
	u := x.u
	if u.connecting {
		u.close()
		x.px.DialFailed(os.ErrDeadlineExceeded)
		x.u = nil
		x.next()
		return
	}
	if x.left >= 0 {
		x.cutShort(os.ErrDeadlineExceeded) // the body stopped
		return
	}
	u.close()
	x.u = nil
	x.px.TimedOut(os.ErrDeadlineExceeded)
	x.finishWith(http.StatusGatewayTimeout)
}

// cutShort ends an exchange whose answer broke off after its head went
// out: the client's connection is closed, so that it cannot take the
// answer for whole.
func (x *exchange) cutShort(err error) {
	x.px.Broken(err)
	x.px.Done()
	x.u.close()
	x.u = nil
	x.c.x = nil
	x.c.close()
}

// failed ends an attempt that broke before an answer came.
func (x *exchange) failed(err error) {
	x.u.close()
	x.u = nil
	if x.px.Failed(err) {
		x.next()
		return
	}
	x.finishWith(http.StatusBadGateway)
}

// finishWith hands the client over with the request, to be answered with
// the Balancer's page for code by the ordinary path's accounting.
func (x *exchange) finishWith(code int) {
	c, px := x.c, x.px
	c.x = nil
	c.lend(x.p, c.l.s.cfg.Account(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		px.Unavailable(w, code)
	})))
}

// escape hands the client over with the exchange begun on u: the answer
// is read and written with blocking I/O (proxy.Exchange.Finish).
func (x *exchange) escape() {
	c, u, px := x.c, x.u, x.px
	buffered := append([]byte(nil), u.buf[:u.n]...)
	ufd := u.l.takeFd(&u.fd)
	x.u, u.x = nil, nil
	bc, err := fdConn(ufd)
	if err != nil {
		x.px.Failed(err)
		x.finishWith(http.StatusBadGateway)
		return
	}
	socket := x.socket
	c.x = nil
	c.lend(x.p, c.l.s.cfg.Account(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		px.Finish(w, bc, buffered, socket)
	})))
}

// clientGone ends the exchange of a client that went away.
func (x *exchange) clientGone() {
	if u := x.u; u != nil {
		u.close()
		x.u = nil
		if x.left < 0 {
			x.px.Abandon()
		} else {
			x.px.Done()
		}
	}
	x.c.x = nil
}

// answer reads the answer's head from u.buf and starts relaying it.
func (x *exchange) answer() {
	u, c := x.u, x.c
	closeAfter := x.p.WantsClose() || c.l.s.shut.Load()
	if out, a, ok := fastAnswer(c.wbuf[:0], u.buf[:u.n], x.p.R.Method == http.MethodHead, closeAfter); ok {
		x.answered(out, a, closeAfter)
		return
	}
	for {
		res, n, ok := proxy.ParseAnswer(u.buf[:u.n], x.p.R)
		if !ok {
			x.escape()
			return
		}
		if res == nil {
			if u.n == len(u.buf) {
				x.escape()
				return
			}
			return // more to come
		}
		if res.StatusCode < 200 {
			u.n = copy(u.buf, u.buf[n:u.n]) // 100 Continue, 103: skipped
			continue
		}
		hdr := res.Header
		proxy.ClientHeader(hdr, serverField)
		out, closeAfter, ok := h1.AppendHead(c.wbuf[:0], x.p, res.StatusCode, hdr, c.l.s.shut.Load())
		if !ok {
			x.escape()
			return
		}
		x.answered(out, answerHead{status: res.StatusCode, length: res.ContentLength, keep: !res.Close, n: n}, closeAfter)
		return
	}
}

// answered starts relaying an answer whose client head is out.
func (x *exchange) answered(out []byte, a answerHead, closeAfter bool) {
	u, c := x.u, x.c
	if x.px.Answered(a.status) {
		// A 503 and another backend can take the request.
		u.close()
		x.u = nil
		if !x.sendToPicked() {
			x.next()
		}
		return
	}
	x.status = a.status
	x.keep = a.keep
	x.close = closeAfter
	x.left = 0
	if x.p.R.Method != http.MethodHead && a.status != http.StatusNoContent && a.status != http.StatusNotModified {
		x.left = a.length
	}
	c.out, c.wbuf = out, out
	u.n = copy(u.buf, u.buf[a.n:u.n])
	x.deadline = 0
	x.move()
}

// move takes body bytes from u.buf to the client, and ends the exchange
// when the body is whole.
func (x *exchange) move() {
	u, c := x.u, x.c
	take := min(int64(u.n), x.left)
	c.out = append(c.out, u.buf[:take]...)
	c.wbuf = c.out // out starts at wbuf's start here: a new answer, or all sent
	x.left -= take
	x.bytes += take
	extra := u.n - int(take)
	u.n = 0
	if x.left == 0 {
		x.done(extra == 0)
		return
	}
	x.deadline = c.l.after(x.socket)
	if c.flush() {
		x.pump()
	}
}

// pump reads more of the body while the client takes it.
func (x *exchange) pump() {
	if u := x.u; u != nil && u.canRead && len(x.c.out) == 0 {
		u.process()
	}
}

// done ends the exchange after the whole answer: the backend connection
// goes back to the loop's pool (clean: nothing after the body), the
// request is accounted, and the client reads on once its answer is out.
func (x *exchange) done(clean bool) {
	u, c := x.u, x.c
	x.px.Done()
	if x.keep && clean {
		u.park()
	} else {
		u.close()
	}
	x.u = nil
	c.x = nil
	c.served(x.p.R, x.status, x.bytes, x.start, x.close)
	c.process()
}

// upstream is a connection to a backend.
type upstream struct {
	l              *evloop
	fd             int
	addr           string
	buf            []byte
	n              int
	out            []byte
	canRead        bool
	canWrite       bool
	connecting     bool
	reused         bool
	answered       bool // some of the current answer arrived
	idleSince      int64
	idleTime       time.Duration
	connectTimeout time.Duration
	x              *exchange
}

// upstream returns a kept connection to addr or starts a new one.
func (l *evloop) upstream(addr string, connect, idle time.Duration) (*upstream, error) {
	now := l.now
	for q := l.idle[addr]; len(q) > 0; q = l.idle[addr] {
		u := q[len(q)-1]
		l.idle[addr] = q[:len(q)-1]
		if u.fd < 0 {
			continue
		}
		if now-u.idleSince > int64(idle) || u.n > 0 || (u.canRead && u.hasEOF()) {
			u.close()
			continue
		}
		u.idleTime, u.connectTimeout = idle, connect
		return u, nil
	}
	return l.dial(addr, connect, idle)
}

// dial starts a new connection to addr.
func (l *evloop) dial(addr string, connect, idle time.Duration) (*upstream, error) {
	sa, err := l.sockaddr(addr)
	if err != nil {
		return nil, err
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, err
	}
	if err := l.watch(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	u := &upstream{l: l, fd: fd, addr: addr, buf: make([]byte, upstreamBuf), connecting: err != nil,
		idleTime: idle, connectTimeout: connect}
	l.socks[fd] = u
	return u, nil
}

// hasEOF reports whether a kept connection the backend closed: a read
// finds the end (or anything at all: then it is not clean either).
func (u *upstream) hasEOF() bool {
	var b [1]byte
	if _, err := rawRead(u.fd, b[:]); err == unix.EAGAIN {
		u.canRead = false
		return false
	}
	return true
}

func (l *evloop) sockaddr(addr string) (unix.Sockaddr, error) {
	if sa, ok := l.addrs[addr]; ok {
		return sa, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		ta, rerr := net.ResolveTCPAddr("tcp", addr)
		if rerr != nil {
			return nil, rerr
		}
		ap = ta.AddrPort()
	}
	var sa unix.Sockaddr
	if a := ap.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	l.addrs[addr] = sa
	return sa, nil
}

func (u *upstream) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.canRead = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		u.canWrite = true
	}
	if u.x == nil {
		if u.canRead && u.hasEOF() {
			u.close() // a kept connection the backend closed
		}
		return
	}
	u.process()
}

// process connects, writes the request and reads the answer as far as the
// socket allows.
func (u *upstream) process() {
	x := u.x
	if u.connecting {
		if !u.canWrite {
			return
		}
		errno, err := unix.GetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			err = syscall.Errno(errno)
		}
		if err != nil {
			u.close()
			x.u = nil
			x.px.DialFailed(err)
			x.next()
			return
		}
		u.connecting = false
		x.deadline = u.l.after(x.socket)
	}
	for len(u.out) > 0 {
		if !u.canWrite {
			return
		}
		k, err := rawWrite(u.fd, u.out)
		if err == unix.EAGAIN {
			u.canWrite = false
			return
		}
		if err != nil {
			u.broke(err)
			return
		}
		u.out = u.out[k:]
		if len(u.out) == 0 {
			x.deadline = u.l.after(x.socket)
		}
	}
	for u.canRead && u.x == x && len(x.c.out) == 0 {
		if u.n == len(u.buf) {
			x.escape()
			return
		}
		k, err := rawRead(u.fd, u.buf[u.n:])
		if err == unix.EAGAIN {
			u.canRead = false
			return
		}
		if k > 0 && k < len(u.buf)-u.n {
			u.canRead = false // as the client's: a short read emptied it
		}
		if err != nil || k == 0 {
			if err == nil {
				err = errors.New("backend closed the connection")
			}
			if x.left > 0 {
				x.cutShort(err)
				return
			}
			u.broke(err)
			return
		}
		u.n += k
		u.answered = true
		if x.left < 0 {
			x.answer()
		} else {
			x.move()
		}
	}
}

// broke handles a connection that failed before its answer: a kept one
// that brought nothing back is replaced by a fresh one once (the backend
// closed it while idle), else the attempt failed.
func (u *upstream) broke(err error) {
	x := u.x
	if u.reused && !u.answered {
		u.close()
		connect, _, idle := x.px.Timeouts()
		nu, derr := u.l.dial(u.addr, connect, idle)
		if derr != nil {
			x.u = nil
			x.px.DialFailed(derr)
			x.next()
			return
		}
		x.attach(nu)
		return
	}
	x.failed(err)
}

// park keeps the connection for the next request to its backend.
func (u *upstream) park() {
	u.x = nil
	u.reused = true
	u.answered = false
	u.n = 0
	u.idleSince = u.l.now
	u.l.idle[u.addr] = append(u.l.idle[u.addr], u)
}

func (u *upstream) close() {
	u.l.closeFd(&u.fd)
	u.x = nil
}

// addrPort is an IP socket address as netip has it; the zero value for
// any other kind.
func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// The loop's system calls while busy: raw, so that the thread keeps its P
// (no hand-off around each call). Each is non-blocking.

func rawWait(ep int, events []unix.EpollEvent, ms int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
	return int(n), errnoErr(e)
}

func rawRead(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errnoErr(e)
}

func rawWrite(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), errnoErr(e)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
