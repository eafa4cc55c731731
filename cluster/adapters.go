package cluster

import (
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// mlTransport is memberlist's Transport over the mux.
type mlTransport struct {
	m       *mux
	ip      net.IP
	port    int
	packets chan *memberlist.Packet
	stop    chan struct{}
}

func newMLTransport(m *mux) (*mlTransport, error) {
	host, ps, err := net.SplitHostPort(m.addr)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(ps)
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, err
		}
		ip = ips[0]
	}
	t := &mlTransport{m: m, ip: ip, port: port, packets: make(chan *memberlist.Packet), stop: make(chan struct{})}
	go t.relay()
	return t, nil
}

// relay hands the mux's packets to memberlist with the sender's address.
func (t *mlTransport) relay() {
	for {
		select {
		case p := <-t.m.packets:
			from, err := net.ResolveTCPAddr("tcp", p.from)
			if err != nil {
				continue
			}
			select {
			case t.packets <- &memberlist.Packet{Buf: p.buf, From: from, Timestamp: p.at}:
			case <-t.stop:
				return
			}
		case <-t.stop:
			return
		}
	}
}

func (t *mlTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

func (t *mlTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.m.sendPacket(append([]byte(nil), b...), addr)
	return time.Now(), nil
}

func (t *mlTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *mlTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.m.dial(addr, kindMemberlist, timeout)
}

func (t *mlTransport) StreamCh() <-chan net.Conn { return t.m.accepted[kindMemberlist] }

func (t *mlTransport) Shutdown() error {
	close(t.stop)
	return nil
}

// raftLayer is raft's StreamLayer over the mux.
type raftLayer struct {
	m    *mux
	addr net.Addr
}

func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.accepted[kindRaft]:
		return c, nil
	case <-l.m.done:
		return nil, errMuxClosed
	}
}

// Close is a no-op: the mux closes with the node.
func (l *raftLayer) Close() error { return nil }

func (l *raftLayer) Addr() net.Addr { return l.addr }

func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.m.dial(string(addr), kindRaft, timeout)
}
