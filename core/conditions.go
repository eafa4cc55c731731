package core

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"resind/conf"
)

// condition is a compiled rewrite condition: it reports whether r satisfies
// it. Conditions are pure functions of the request, so one compiled
// condition serves every request of a snapshot.
type condition func(r *http.Request) bool

// compileConditions compiles cs; the result holds when all of them hold.
func compileConditions(cs []*conf.Condition) ([]condition, []conf.Diag) {
	var out []condition
	var diags []conf.Diag
	for _, c := range cs {
		f, d := compileCondition(c)
		diags = append(diags, d...)
		if f != nil {
			out = append(out, f)
		}
	}
	return out, diags
}

func allHold(cs []condition, r *http.Request) bool {
	for _, c := range cs {
		if !c(r) {
			return false
		}
	}
	return true
}

func compileCondition(c *conf.Condition) (condition, []conf.Diag) {
	bad := func(format string, args ...any) (condition, []conf.Diag) {
		return nil, []conf.Diag{{Pos: c.Pos, Msg: fmt.Sprintf("<resin:%s>: ", c.Kind) + fmt.Sprintf(format, args...)}}
	}
	switch c.Kind {
	case conf.IfHeader:
		if c.Name == "" {
			return bad("name is required")
		}
		name, re := http.CanonicalHeaderKey(c.Name), c.Match
		return func(r *http.Request) bool {
			vals := r.Header[name]
			if re == nil {
				return len(vals) > 0
			}
			for _, v := range vals {
				if re.MatchString(v) {
					return true
				}
			}
			return false
		}, nil
	case conf.IfCookie:
		if c.Name == "" {
			return bad("name is required")
		}
		name, re := c.Name, c.Match
		return func(r *http.Request) bool {
			for _, ck := range r.CookiesNamed(name) {
				if re == nil || re.MatchString(ck.Value) {
					return true
				}
			}
			return false
		}, nil
	case conf.IfMethod:
		if c.Method == "" {
			return bad("method is required")
		}
		method := c.Method
		return func(r *http.Request) bool { return strings.EqualFold(r.Method, method) }, nil
	case conf.IfNetwork:
		nets, err := parseNetworks(c.Networks)
		if err != nil {
			return bad("%v", err)
		}
		return func(r *http.Request) bool { return inNetworks(nets, r.RemoteAddr) }, nil
	case conf.IfSecure:
		want := c.Value
		return func(r *http.Request) bool { return (r.TLS != nil) == want }, nil
	case conf.And, conf.Or, conf.Not:
		kids, diags := compileConditions(c.Children)
		if diags != nil {
			return nil, diags
		}
		switch c.Kind {
		case conf.And:
			return func(r *http.Request) bool { return allHold(kids, r) }, nil
		case conf.Not:
			return func(r *http.Request) bool { return !allHold(kids, r) }, nil
		}
		return func(r *http.Request) bool {
			for _, k := range kids {
				if k(r) {
					return true
				}
			}
			return false
		}, nil
	}
	return bad("unknown condition")
}

// parseNetworks parses CIDRs; a bare address is a /32 (or /128).
func parseNetworks(specs []string) ([]netip.Prefix, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("no network given")
	}
	out := make([]netip.Prefix, 0, len(specs))
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if strings.IndexByte(s, '/') < 0 {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("network %q is not an address or a CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("network %q is not an address or a CIDR", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// inNetworks reports whether the host of remoteAddr ("ip:port") lies in any
// of nets. An IPv4 client seen on an IPv6 socket (::ffff:a.b.c.d) counts as
// its IPv4 address.
func inNetworks(nets []netip.Prefix, remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
