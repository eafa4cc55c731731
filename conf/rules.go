package conf

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// ruleKinds are the rewrite rules of Resin 4, by element name.
var ruleKinds = map[string]RuleKind{
	"Dispatch":         Dispatch,
	"LoadBalance":      LoadBalance,
	"Forward":          Forward,
	"Redirect":         Redirect,
	"MovedPermanently": MovedPermanently,
	"Forbidden":        Forbidden,
	"NotFound":         NotFound,
	"SetHeader":        SetHeader,
	"HttpProxy":        HttpProxy,
	"FastCgiProxy":     FastCgiProxy,
}

// legacyRuleKinds are the children of Resin 3's <rewrite-dispatch>.
var legacyRuleKinds = map[string]RuleKind{
	"dispatch":          Dispatch,
	"load-balance":      LoadBalance,
	"forward":           Forward,
	"redirect":          Redirect,
	"moved-permanently": MovedPermanently,
	"forbidden":         Forbidden,
	"not-found":         NotFound,
	"set-header":        SetHeader,
}

// ruleProp reads p into rules when it is a rewrite rule (or Resin 3's
// <rewrite-dispatch>) and reports whether it was one.
func (l *loader) ruleProp(rules *[]*Rule, p prop) bool {
	if p.child == nil || !p.child.ours {
		return false
	}
	if p.name == "rewrite-dispatch" {
		for _, k := range p.child.kids {
			kind, ok := legacyRuleKinds[k.name]
			if !ok || !k.ours {
				l.warnf(k.pos, "<%s>: not supported in <%s>; ignored", k.qname, p.child.qname)
				continue
			}
			*rules = append(*rules, l.rule(k, kind))
		}
		return true
	}
	kind, ok := ruleKinds[p.name]
	if !ok {
		return false
	}
	*rules = append(*rules, l.rule(p.child, kind))
	return true
}

// rule reads one rewrite rule and its conditions.
func (l *loader) rule(n *node, kind RuleKind) *Rule {
	r := &Rule{Kind: kind, Pos: n.pos, StickySessions: true}
	if kind == LoadBalance {
		r.Strategy, r.SessionCookie = "adaptive", "JSESSIONID"
	}
	d := l.desc(n)
	for _, p := range props(n) {
		if p.child != nil && p.child.ours {
			if c := l.condition(p.child); c != nil {
				r.Conditions = append(r.Conditions, c)
				continue
			}
		}
		if l.appProp(r, p) {
			continue
		}
		switch p.name {
		case "regexp":
			r.Regexp, _ = l.str(p)
		case "target":
			r.Target, _ = l.str(p)
		case "cluster":
			if kind != LoadBalance {
				l.unknown(p)
				continue
			}
			r.Cluster, _ = l.str(p)
		case "strategy":
			v, _ := l.str(p)
			switch v {
			case "":
			case "adaptive", "round-robin":
				r.Strategy = v
			default:
				l.errorf(p.pos, "%s: strategy %q is not adaptive or round-robin", d, v)
			}
		case "sticky-sessions":
			r.StickySessions = l.boolean(p, r.StickySessions)
		case "session-cookie":
			if v, _ := l.str(p); v != "" {
				r.SessionCookie = v
			}
		case "name":
			r.HeaderName, _ = l.str(p)
		case "value":
			r.HeaderValue, _ = l.str(p)
		case "address", "addresses":
			v, _ := l.str(p)
			for _, a := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' }) {
				r.Backends = append(r.Backends, l.backend(p.pos, d, a, 100, false))
			}
		case "backend":
			if p.child == nil {
				l.unknown(p)
				continue
			}
			r.Backends = append(r.Backends, l.backendElement(p.child))
		default:
			l.unknown(p)
		}
	}
	r.Match = l.compile(n.pos, d, r.Regexp)
	switch kind {
	case Forward, Redirect, MovedPermanently:
		if r.Target == "" {
			l.errorf(n.pos, "%s: the target is required", d)
		}
	case LoadBalance:
		if r.Cluster == "" {
			l.errorf(n.pos, "%s: the cluster is required", d)
		} else {
			l.lbRules = append(l.lbRules, lbRef{rule: r, desc: d})
		}
	case SetHeader:
		if r.HeaderName == "" {
			l.errorf(n.pos, "%s: the header name is required", d)
		}
	case HttpProxy, FastCgiProxy:
		l.checkApp(r, d)
		if len(r.Backends) == 0 && (r.App == nil || len(r.App.Command) == 0) {
			l.warnf(n.pos, "%s: no backend addresses (and no command)", d)
		}
	}
	if kind != HttpProxy && kind != FastCgiProxy && len(r.Backends) > 0 {
		l.warnf(n.pos, "%s: backend addresses are ignored", d)
		r.Backends = nil
	}
	if kind != SetHeader && (r.HeaderName != "" || r.HeaderValue != "") {
		l.warnf(n.pos, "%s: name and value are ignored", d)
		r.HeaderName, r.HeaderValue = "", ""
	}
	return r
}

// compile compiles a rule's or condition's regexp with Go's RE2 syntax.
func (l *loader) compile(pos Pos, d, expr string) *regexp.Regexp {
	re, err := regexp.Compile(expr)
	if err != nil {
		l.errorf(pos, "%s: regexp %q is not valid: %v", d, expr, unwrapRegexpError(err))
		return regexp.MustCompile("")
	}
	return re
}

func unwrapRegexpError(err error) string {
	s := err.Error()
	return strings.TrimPrefix(s, "error parsing regexp: ")
}

// backend checks one host:port of HttpProxy or FastCgiProxy.
func (l *loader) backend(pos Pos, d, addr string, weight int, backup bool) Backend {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		l.errorf(pos, "%s: address %q is not host:port", d, addr)
	} else if _, err := parsePort(port); err != nil {
		l.errorf(pos, "%s: address %q: %v", d, addr, err)
	}
	return Backend{Address: addr, Weight: weight, Backup: backup}
}

// backendElement reads <backend address weight backup>.
func (l *loader) backendElement(n *node) Backend {
	addr, weight, backup := "", 100, false
	for _, p := range props(n) {
		switch p.name {
		case "address":
			addr, _ = l.str(p)
		case "weight", "load-balance-weight":
			v, _ := l.str(p)
			if v == "" {
				continue
			}
			w, err := strconv.Atoi(v)
			if err != nil || w < 0 {
				l.errorf(p.pos, "%s: weight %q is not a non-negative whole number", l.desc(n), v)
				continue
			}
			weight = w
		case "backup":
			backup = l.boolean(p, backup)
		default:
			l.unknown(p)
		}
	}
	return l.backend(n.pos, l.desc(n), addr, weight, backup)
}

// condKinds are the rewrite conditions, by element name.
var condKinds = map[string]CondKind{
	"IfHeader": IfHeader, "IfCookie": IfCookie, "IfMethod": IfMethod, "IfNetwork": IfNetwork,
	"IfSecure": IfSecure, "And": And, "Or": Or, "Not": Not,
}

// condition reads a condition element, or returns nil when n is not one.
func (l *loader) condition(n *node) *Condition {
	kind, ok := condKinds[n.name]
	if !ok {
		if strings.HasPrefix(n.name, "If") {
			l.warnf(n.pos, "<%s>: condition not supported; ignored, so the rule applies without it", n.qname)
			return &Condition{Kind: And, Pos: n.pos}
		}
		return nil
	}
	c := &Condition{Kind: kind, Pos: n.pos, Value: true}
	d := l.desc(n)
	var expr, value string
	haveExpr, haveValue := false, false
	for _, p := range props(n) {
		if kind == And || kind == Or || kind == Not {
			if p.child != nil && p.child.ours {
				if k := l.condition(p.child); k != nil {
					c.Children = append(c.Children, k)
					continue
				}
			}
			l.unknown(p)
			continue
		}
		switch {
		case p.name == "name" && (kind == IfHeader || kind == IfCookie):
			c.Name, _ = l.str(p)
		case p.name == "regexp" && (kind == IfHeader || kind == IfCookie):
			expr, _ = l.str(p)
			haveExpr = true
		case p.name == "value" && kind == IfNetwork:
			v, _ := l.str(p)
			c.Networks = append(c.Networks, l.networks(p.pos, d, v)...)
		case p.name == "value":
			value, _ = l.str(p)
			haveValue = true
		case p.name == "method" && kind == IfMethod:
			c.Method, _ = l.str(p)
		default:
			l.unknown(p)
		}
	}
	switch kind {
	case IfHeader, IfCookie:
		if c.Name == "" {
			l.errorf(n.pos, "%s: the name is required", d)
		}
		switch {
		case haveExpr:
			c.Match = l.compile(n.pos, d, expr)
		case haveValue:
			c.Match = regexp.MustCompile("^" + regexp.QuoteMeta(value) + "$")
		}
	case IfMethod:
		if c.Method == "" {
			c.Method, _ = l.str(prop{name: "method", raw: n.text, owner: n, pos: n.pos})
		}
		c.Method = strings.ToUpper(c.Method)
		if c.Method == "" {
			l.errorf(n.pos, "%s: the method is required", d)
		}
	case IfNetwork:
		if n.text != "" {
			v, _ := l.str(prop{name: "value", raw: n.text, owner: n, pos: n.pos})
			c.Networks = append(c.Networks, l.networks(n.pos, d, v)...)
		}
		if len(c.Networks) == 0 {
			l.errorf(n.pos, "%s: no network given", d)
		}
	case IfSecure:
		if haveValue && value != "" {
			b, err := parseBool(value)
			if err != nil {
				l.errorf(n.pos, "%s: value %v", d, err)
			}
			c.Value = b
		}
	}
	return c
}

// networks checks a list of addresses and CIDRs and returns them as CIDRs
// (a bare address is a /32 or a /128).
func (l *loader) networks(pos Pos, d, v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked().String())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			l.errorf(pos, "%s: %q is not an IP address or CIDR", d, f)
			continue
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String())
	}
	return out
}
