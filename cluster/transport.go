package cluster

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The paths of cluster traffic on the cluster port.
const (
	// StreamPath upgrades an HTTP request to a raw stream of one kind
	// (memberlist, raft or packets).
	StreamPath = "/resin/cluster/stream"
	// KVPath carries replicated-store requests to the triad.
	KVPath = "/resin/cluster/kv"
)

// The stream kinds.
const (
	kindMemberlist = "memberlist"
	kindRaft       = "raft"
	kindPacket     = "packet"
)

const upgradeToken = "resin-cluster"

// mux carries memberlist's and raft's traffic over the cluster port, which
// is already core's HTTP listener: each stream is an HTTP request upgraded
// to a raw connection (authenticated, and sealed frame by frame with a
// system key), and memberlist's packets travel as length-prefixed frames
// over one long-lived packet stream per peer. So a server needs one port,
// as in Resin, and firewalls see only the cluster port.
//
// Lifecycle: newMux at start; the handler serves accepted streams until
// close, which also closes every connection it made or accepted.
type mux struct {
	auth *Auth
	self string // server id
	addr string // our cluster address, host:port
	log  *zap.Logger

	// packets is buffered as a socket's receive buffer would be: a burst
	// of gossip waits, and past it packets are dropped like datagrams.
	packets  chan *packetIn
	accepted map[string]chan net.Conn // memberlist, raft

	mu    sync.Mutex
	conns map[net.Conn]bool
	peers map[string]*packetPeer // outgoing packet streams by address
	// refused is when a refusal from each peer host and sender was last
	// logged.
	refused map[string]time.Time
	closed  bool
	done    chan struct{}
}

type packetIn struct {
	buf  []byte
	from string
	at   time.Time
}

func newMux(auth *Auth, self, addr string, log *zap.Logger) *mux {
	return &mux{
		auth: auth, self: self, addr: addr, log: log,
		packets:  make(chan *packetIn, 256),
		accepted: map[string]chan net.Conn{kindMemberlist: make(chan net.Conn), kindRaft: make(chan net.Conn)},
		conns:    map[net.Conn]bool{},
		peers:    map[string]*packetPeer{},
		refused:  map[string]time.Time{},
		done:     make(chan struct{}),
	}
}

func (m *mux) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		c.Close()
		return false
	}
	m.conns[c] = true
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// close closes every stream and stops the packet writers.
func (m *mux) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	close(m.done)
	for c := range m.conns {
		c.Close()
	}
}

func nonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serveStream answers an upgrade to a cluster stream.
func (m *mux) serveStream(w http.ResponseWriter, r *http.Request) {
	if err := m.auth.Verify(r, nil); err != nil {
		m.refuse(w, r, err)
		return
	}
	kind := r.URL.Query().Get("kind")
	if _, ok := m.accepted[kind]; !ok && kind != kindPacket {
		http.Error(w, "unknown stream kind", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Upgrade") != upgradeToken {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	c.SetDeadline(time.Time{})
	sn := nonce()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\nX-Resin-Cluster-Nonce: %s\r\n\r\n", upgradeToken, sn)
	if err := brw.Flush(); err != nil {
		c.Close()
		return
	}
	var conn net.Conn = &bufConn{Conn: c, r: brw.Reader}
	if m.auth.Keyed() {
		conn = seal(c, brw.Reader, m.auth.streamKey(r.URL.Query().Get("nonce"), sn), false)
	}
	if !m.track(conn) {
		return
	}
	if kind == kindPacket {
		go m.readPackets(conn, r.URL.Query().Get("addr"))
		return
	}
	select {
	case m.accepted[kind] <- &trackedConn{Conn: conn, m: m}:
	case <-m.done:
		conn.Close()
	case <-time.After(10 * time.Second):
		m.untrack(conn)
		conn.Close()
	}
}

// refuse answers 403 to a request that failed authentication, and logs
// it: once per refuseLogEvery for each peer address and claimed sender, so
// that a server with the wrong key, retrying every probe, does not flood
// the log.
func (m *mux) refuse(w http.ResponseWriter, r *http.Request, err error) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	host += " " + r.Header.Get(hdrFrom)
	now := time.Now()
	m.mu.Lock()
	last, seen := m.refused[host]
	quiet := seen && now.Sub(last) < refuseLogEvery
	if !quiet {
		if len(m.refused) > 1024 {
			clear(m.refused)
		}
		m.refused[host] = now
	}
	m.mu.Unlock()
	if !quiet {
		m.log.Warn("cluster request refused", zap.String("remote", r.RemoteAddr),
			zap.String("path", r.URL.Path), zap.String("from", r.Header.Get(hdrFrom)), zap.Error(err))
	}
	http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
}

// refuseLogEvery spaces the refusals logged for one peer.
const refuseLogEvery = 10 * time.Second

// dial opens a stream of kind to the cluster port at addr.
func (m *mux) dial(addr, kind string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(deadline)
	cn := nonce()
	q := url.Values{"kind": {kind}, "nonce": {cn}, "addr": {m.addr}}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+StreamPath+"?"+q.Encode(), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", upgradeToken)
	m.auth.Sign(req, m.self, nil)
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster stream to %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		c.Close()
		return nil, fmt.Errorf("cluster stream to %s: %s: %s", addr, resp.Status, msg)
	}
	c.SetDeadline(time.Time{})
	var conn net.Conn = &bufConn{Conn: c, r: br}
	if m.auth.Keyed() {
		conn = seal(c, br, m.auth.streamKey(cn, resp.Header.Get("X-Resin-Cluster-Nonce")), true)
	}
	if !m.track(conn) {
		return nil, net.ErrClosed
	}
	return &trackedConn{Conn: conn, m: m}, nil
}

// trackedConn forgets itself in the mux when closed.
type trackedConn struct {
	net.Conn
	m    *mux
	once sync.Once
}

func (t *trackedConn) Close() error {
	t.once.Do(func() { t.m.untrack(t.Conn) })
	return t.Conn.Close()
}

// readPackets reads the frames of an accepted packet stream.
func (m *mux) readPackets(c net.Conn, from string) {
	defer func() {
		m.untrack(c)
		c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		var lb [4]byte
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(lb[:])
		if n > maxFrame {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		select {
		case m.packets <- &packetIn{buf: buf, from: from, at: time.Now()}:
		case <-m.done:
			return
		default: // memberlist is behind; a lost packet is what UDP would do
		}
	}
}

// packetPeer is the outgoing packet stream to one address: packets queue
// and a goroutine writes them, dialling when needed, so that a peer that
// does not answer never blocks memberlist's probe loop.
type packetPeer struct {
	queue chan []byte
}

// sendPacket queues b for addr. It drops the packet when the queue is full.
func (m *mux) sendPacket(b []byte, addr string) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	p := m.peers[addr]
	if p == nil {
		p = &packetPeer{queue: make(chan []byte, 64)}
		m.peers[addr] = p
		go m.writePackets(addr, p)
	}
	m.mu.Unlock()
	select {
	case p.queue <- b:
	default:
	}
}

func (m *mux) writePackets(addr string, p *packetPeer) {
	var c net.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		var b []byte
		select {
		case b = <-p.queue:
		case <-m.done:
			return
		}
		if c == nil {
			var err error
			if c, err = m.dial(addr, kindPacket, 2*time.Second); err != nil {
				c = nil
				continue // dropped, as a datagram to a dead host would be
			}
		}
		frame := make([]byte, 4+len(b))
		binary.BigEndian.PutUint32(frame, uint32(len(b)))
		copy(frame[4:], b)
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(frame); err != nil {
			c.Close()
			c = nil
		}
	}
}

var errMuxClosed = errors.New("cluster transport closed")
