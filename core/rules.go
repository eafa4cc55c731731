package core

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"resind/conf"
	"resind/proxy"
)

// rule is a compiled rewrite rule of one snapshot. Everything in it is
// fixed once the runtime is built; handler is set by instantiate after the
// whole snapshot validated.
type rule struct {
	kind conf.RuleKind
	pos  conf.Pos
	// re is nil when the rule has no regexp: it matches every URI.
	re     *regexp.Regexp
	lit    literalMatch // re answered without the regexp engine, when it can be
	target string
	conds  []condition

	headerName, headerValue string // SetHeader

	// balance is what LoadBalance and HttpProxy proxy to; balancer is the
	// Balancer built for it, cache the proxy cache in front of it (nil for
	// none), handler the two together.
	balance  *proxy.Target
	balancer *proxy.Balancer
	cache    *proxyCache
	handler  http.Handler
	// ownCluster: a LoadBalance to the server's own cluster, which would
	// send requests round in a loop; see act.
	ownCluster bool
	// app serves FastCgiProxy, CGI and HttpProxy with a command (apps.go).
	app *appRule
}

// match reports whether the rule applies to r, whose path (relative to the
// rule's host or web-app) is uri, and returns the expanded target with the
// request's query string appended, as Resin does. The regexp is matched
// unanchored against the path alone.
func (ru *rule) match(r *http.Request, uri string) (string, bool) {
	if ru.lit.ok {
		if !ru.lit.matches(uri) {
			return "", false
		}
	} else if ru.re != nil && !ru.re.MatchString(uri) {
		return "", false
	}
	if !allHold(ru.conds, r) {
		return "", false
	}
	if ru.target == "" {
		return "", true
	}
	target := ru.target
	if ru.re != nil {
		target = replaceAll(ru.re, uri, ru.target)
	}
	return withQuery(target, r.URL.RawQuery), true
}

// runRules applies rules in document order: SetHeader rules set their
// header on w and matching goes on; the first other rule that matches
// ends it and is returned with its target. nil means no terminal rule
// matched.
func runRules(rules []*rule, w http.ResponseWriter, r *http.Request, uri string) (*rule, string) {
	for _, ru := range rules {
		target, ok := ru.match(r, uri)
		if !ok {
			continue
		}
		if ru.kind == conf.SetHeader {
			w.Header().Set(ru.headerName, ru.headerValue)
			continue
		}
		return ru, target
	}
	return nil, ""
}

// compileRules compiles the rules of a host or web-app. Problems are
// collected, not returned at the first, so one refusal names them all.
func (b *builder) compileRules(rs []*conf.Rule) []*rule {
	out := make([]*rule, 0, len(rs))
	for _, cr := range rs {
		if ru := b.compileRule(cr); ru != nil {
			out = append(out, ru)
		}
	}
	return out
}

func (b *builder) compileRule(cr *conf.Rule) *rule {
	ru := &rule{kind: cr.Kind, pos: cr.Pos, target: cr.Target}
	bad := func(format string, args ...any) *rule {
		b.fail(cr.Pos, fmt.Sprintf("<resin:%s>: ", cr.Kind)+fmt.Sprintf(format, args...))
		return nil
	}
	if cr.Regexp != "" {
		ru.re = cr.Match
		if ru.re == nil {
			re, err := regexp.Compile(cr.Regexp)
			if err != nil {
				return bad("regexp %q: %v", cr.Regexp, err)
			}
			ru.re = re
		}
		ru.lit = literalOf(ru.re)
	}
	conds, diags := compileConditions(cr.Conditions)
	if diags != nil {
		b.errs = append(b.errs, diags...)
		return nil
	}
	ru.conds = conds

	switch cr.Kind {
	case conf.Dispatch, conf.Forbidden, conf.NotFound:
	case conf.Forward, conf.Redirect, conf.MovedPermanently:
		if cr.Target == "" {
			return bad("target is required")
		}
	case conf.SetHeader:
		if cr.HeaderName == "" {
			return bad("name is required")
		}
		ru.headerName, ru.headerValue = cr.HeaderName, cr.HeaderValue
	case conf.LoadBalance:
		t, err := b.clusterTarget(cr)
		if err != nil {
			return bad("%v", err)
		}
		ru.balance = t
		if t.Name == b.ownCluster {
			ru.ownCluster = true
			b.warn(cr.Pos, fmt.Sprintf("<resin:LoadBalance cluster=%q> balances to this server's own cluster; requests that already came through resind are answered 508", t.Name))
		}
	case conf.HttpProxy:
		if cr.App != nil && len(cr.App.Command) > 0 {
			return b.appRule(cr, ru)
		}
		if len(cr.Backends) == 0 {
			return bad("no backend address is given")
		}
		t := &proxy.Target{Strategy: proxy.Strategy(cr.Strategy)}
		names := make([]string, 0, len(cr.Backends))
		for _, be := range cr.Backends {
			if _, _, err := net.SplitHostPort(be.Address); err != nil {
				return bad("backend %q is not host:port", be.Address)
			}
			names = append(names, be.Address)
			t.Backends = append(t.Backends, proxy.Backend{ID: be.Address, Address: be.Address, Index: -1,
				Weight: be.Weight, Backup: be.Backup, Timeout: b.timeouts})
		}
		t.Name = strings.Join(names, ",")
		ru.balance = t
	case conf.FastCgiProxy, conf.CGI:
		return b.appRule(cr, ru)
	default:
		return bad("unknown rule")
	}
	return ru
}

// clusterTarget is the balancing target of a LoadBalance rule: the servers
// of the named cluster at their cluster ports.
func (b *builder) clusterTarget(cr *conf.Rule) (*proxy.Target, error) {
	if cr.Cluster == "" {
		return nil, fmt.Errorf("cluster is required")
	}
	cl := b.cfg.Cluster(cr.Cluster)
	if cl == nil {
		ids := make([]string, len(b.cfg.Clusters))
		for i, c := range b.cfg.Clusters {
			ids[i] = strconv.Quote(c.ID)
		}
		return nil, fmt.Errorf("no cluster %q (the clusters are %s)", cr.Cluster, strings.Join(ids, ", "))
	}
	if len(cl.Servers) == 0 {
		return nil, fmt.Errorf("cluster %q has no server", cr.Cluster)
	}
	t := &proxy.Target{Name: cl.ID, Strategy: proxy.Strategy(cr.Strategy), Sticky: cr.StickySessions,
		SessionCookie: cr.SessionCookie}
	for _, s := range cl.Servers {
		addr := s.Address
		if addr == "" {
			addr = "127.0.0.1"
		}
		t.Backends = append(t.Backends, proxy.Backend{ID: s.ID, Address: net.JoinHostPort(addr, strconv.Itoa(s.Port)),
			Index: s.Index, Weight: s.Weight, Backup: s.Backup, Timeout: s.Timeout})
	}
	return t, nil
}
