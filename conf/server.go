package conf

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// server builds a <server> (or one server of a <server-multi>) from the
// <server-default>s before it and its own element; own nil interprets the
// defaults alone.
func (l *loader) server(cl *Cluster, sc *clusterScope, defaults []*node, own *node) *Server {
	s := &Server{ClusterID: cl.ID, Index: len(cl.Servers), Address: "127.0.0.1", Port: defaultServerPort,
		Weight: 100, Timeout: DefaultTimeouts, Limits: DefaultLimits}
	if own != nil {
		s.Pos = own.pos
	}
	for _, src := range append(slices.Clip(defaults), own) {
		if src == nil {
			continue
		}
		for _, p := range props(src) {
			l.serverProp(s, sc, p, src == own)
		}
	}
	return s
}

func (l *loader) serverProp(s *Server, sc *clusterScope, p prop, own bool) {
	if d, ok := timeoutField(&s.Timeout, p.name); ok {
		if v, ok := l.str(p); ok && v != "" {
			t, err := parseDuration(v)
			switch {
			case err != nil:
				l.errorf(p.pos, "%s: %s: %v", l.desc(p.owner), p.name, err)
			case t == forever:
				*d = 0
			default:
				*d = t
			}
		}
		return
	}
	if l.limitProp(&s.Limits, p) {
		return
	}
	switch p.name {
	case "id":
		if own {
			s.ID, _ = l.str(p)
		} else {
			l.unknown(p)
		}
	case "address":
		if v, _ := l.str(p); v != "" {
			s.Address = v
		}
	case "port":
		if v, ok := l.str(p); ok && v != "" {
			port, err := parsePort(v)
			if err != nil {
				l.errorf(p.pos, "%s: %v", l.desc(p.owner), err)
			}
			s.Port = port
		}
	case "http":
		if ln, ok := l.listener(p); ok && !slices.ContainsFunc(s.HTTP, func(o Listener) bool {
			return o.Address == ln.Address && o.Port == ln.Port
		}) {
			s.HTTP = append(s.HTTP, ln)
		}
	case "load-balance-weight":
		if v, ok := l.str(p); ok && v != "" {
			w, err := parseInt(v)
			if err != nil {
				l.errorf(p.pos, "%s: load-balance-weight %v", l.desc(p.owner), err)
			}
			s.Weight = w
		}
	case "backup":
		s.Backup = l.boolean(p, s.Backup)
	case "session-cookie":
		if v, _ := l.str(p); v != "" {
			sc.cookie = v
		}
	default:
		l.unknown(p)
	}
}

// timeoutField returns the field of t that the element name sets.
func timeoutField(t *Timeouts, name string) (*time.Duration, bool) {
	switch name {
	case "load-balance-connect-timeout":
		return &t.LoadBalanceConnectTimeout, true
	case "load-balance-idle-time":
		return &t.LoadBalanceIdleTime, true
	case "load-balance-recover-time":
		return &t.LoadBalanceRecoverTime, true
	case "load-balance-busy-recover-time":
		return &t.LoadBalanceBusyRecoverTime, true
	case "load-balance-socket-timeout":
		return &t.LoadBalanceSocketTimeout, true
	case "load-balance-warmup-time":
		return &t.LoadBalanceWarmupTime, true
	case "keepalive-timeout":
		return &t.KeepaliveTimeout, true
	case "socket-timeout":
		return &t.SocketTimeout, true
	}
	return nil, false
}

// boolean evaluates a boolean prop; an empty element (<backup/>) is true, a
// value that evaluates to nothing leaves dflt.
func (l *loader) boolean(p prop, dflt bool) bool {
	if p.child != nil && p.raw == "" {
		return true
	}
	v, ok := l.str(p)
	if !ok || v == "" {
		return dflt
	}
	b, err := parseBool(v)
	if err != nil {
		l.errorf(p.pos, "%s: %s: %v", l.desc(p.owner), p.name, err)
		return dflt
	}
	return b
}

// listener reads <http address port>, with <openssl> or <jsse-ssl> for
// TLS. A listener without a port (as in Resin's sample, where the port
// comes from an unset property) or with a TLS setting resind cannot use (a
// Java key store) is left out with a warning.
func (l *loader) listener(p prop) (Listener, bool) {
	if p.child == nil {
		l.unknown(p)
		return Listener{}, false
	}
	ln := Listener{Pos: p.pos}
	havePort, tls := false, ""
	for _, q := range props(p.child) {
		switch q.name {
		case "address", "host":
			if v, _ := l.str(q); v != "" {
				ln.Address = v
			}
		case "port":
			v, ok := l.str(q)
			if !ok || v == "" {
				continue
			}
			port, err := parsePort(v)
			if err != nil {
				l.errorf(q.pos, "%s: %v", l.desc(p.child), err)
				continue
			}
			ln.Port, havePort = port, true
		case "openssl", "jsse-ssl":
			if q.child == nil {
				l.unknown(q)
				continue
			}
			tls = q.name
			ln.TLS = l.tlsSetting(p.child, q.child)
		case "connection-max":
			var lim Limits
			l.limitProp(&lim, q)
			ln.ConnectionMax = lim.ConnectionMax
		default:
			l.unknown(q)
		}
	}
	if tls != "" && ln.TLS == nil {
		return ln, false // tls said why
	}
	if !havePort {
		l.warnf(p.pos, "%s: no port; this listener is not opened", l.desc(p.child))
		return ln, false
	}
	return ln, true
}

// serverMulti expands <server-multi id-prefix address-list port> into one
// server per address: prefix+"0", prefix+"1", ... An address may carry its
// own port (host:port).
func (l *loader) serverMulti(cl *Cluster, sc *clusterScope, n *node) {
	var prefix, list string
	port := defaultServerPort
	own := func(name string) bool { return name == "id-prefix" || name == "address-list" || name == "port" }
	// The element itself, less what only the expansion reads, is the
	// template of every server.
	tmpl := &node{name: n.name, qname: n.qname, ours: n.ours, pos: n.pos, abs: n.abs}
	for _, p := range props(n) {
		if !own(p.name) {
			if p.child != nil {
				tmpl.kids = append(tmpl.kids, p.child)
			} else {
				tmpl.attrs = append(tmpl.attrs, xattr{p.name, p.raw})
			}
			continue
		}
		switch p.name {
		case "id-prefix":
			prefix, _ = l.str(p)
		case "address-list":
			list, _ = l.str(p)
		case "port":
			if v, ok := l.str(p); ok && v != "" {
				var err error
				if port, err = parsePort(v); err != nil {
					l.errorf(p.pos, "%s: %v", l.desc(n), err)
				}
			}
		}
	}
	addrs := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(addrs) == 0 {
		l.warnf(n.pos, "%s: address-list is empty; no servers", l.desc(n))
	}
	for i, a := range addrs {
		host, p := a, port
		if h, ps, err := net.SplitHostPort(a); err == nil {
			pp, perr := parsePort(ps)
			if perr != nil {
				l.errorf(n.pos, "%s: address %q: %v", l.desc(n), a, perr)
			}
			host, p = h, pp
		}
		s := l.server(cl, sc, slices.Clip(sc.serverDefaults), tmpl)
		s.ID = prefix + strconv.Itoa(i)
		s.Address, s.Port = host, p
		cl.Servers = append(cl.Servers, s)
	}
}
