package fastcgi

import (
	"context"
	"net"
	"sync"
	"time"
)

// AddressPool dials a FastCGI responder at a fixed address (PHP-FPM's
// "127.0.0.1:9000" or "unix:/run/php/fpm.sock") and keeps up to MaxIdle
// connections open between requests, each for at most IdleTime.
type AddressPool struct {
	// Network is "tcp" or "unix"; Address the host:port or socket path.
	Network, Address string
	MaxIdle          int           // default 16
	IdleTime         time.Duration // default 5s (Resin's load-balance-idle-time)
	ConnectTimeout   time.Duration // default 5s

	mu   sync.Mutex
	idle []*Conn // most recently used last
}

// NewAddressPool returns a pool for addr: "unix:/path" or a path starting
// with "/" is a Unix socket, anything else host:port.
func NewAddressPool(addr string) *AddressPool {
	network, address := "tcp", addr
	if len(addr) > 5 && addr[:5] == "unix:" {
		network, address = "unix", addr[5:]
	} else if len(addr) > 0 && addr[0] == '/' {
		network = "unix"
	}
	return &AddressPool{Network: network, Address: address}
}

// Get returns an idle connection, or dials a new one.
func (p *AddressPool) Get(ctx context.Context) (*Conn, error) {
	idleTime := p.IdleTime
	if idleTime <= 0 {
		idleTime = 5 * time.Second
	}
	p.mu.Lock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(c.idle) < idleTime {
			p.mu.Unlock()
			return c, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	timeout := p.ConnectTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, p.Network, p.Address)
	if err != nil {
		return nil, err
	}
	return NewConn(nc), nil
}

// Put keeps c for the next request when it is reusable and the pool has
// room, else closes it.
func (p *AddressPool) Put(c *Conn, reusable bool) {
	max := p.MaxIdle
	if max <= 0 {
		max = 16
	}
	if reusable {
		c.nc.SetDeadline(time.Time{})
		c.idle = time.Now()
		p.mu.Lock()
		if len(p.idle) < max {
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	c.Close()
}

// Close closes the idle connections. The pool stays usable.
func (p *AddressPool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
