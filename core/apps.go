package core

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"resind/app"
	"resind/conf"
	"resind/proxy"
	"resind/proxy/fastcgi"
)

// appRule is how a rule that runs an application serves: a FastCgiProxy
// (to an address, or to a pool of processes resind supervises), an
// HttpProxy with a command, or a CGI mapping. compileRule makes it;
// appState.instantiate gives it its handler once the snapshot is accepted.
type appRule struct {
	kind    conf.RuleKind
	cfg     *conf.App // nil for a FastCgiProxy to an address with no settings
	addrs   []string  // FastCgiProxy to running responders
	timeout time.Duration

	// Set by instantiate; read by requests of this snapshot only.
	fcgi *fastcgi.Handler
	http http.Handler
	err  error // the application could not be set up
}

// appRule compiles a FastCgiProxy, an HttpProxy with a command or a CGI
// rule.
func (b *builder) appRule(cr *conf.Rule, ru *rule) *rule {
	a := &appRule{kind: cr.Kind, cfg: cr.App, timeout: b.timeouts.LoadBalanceSocketTimeout}
	if cr.App != nil && cr.App.Timeout > 0 {
		a.timeout = cr.App.Timeout
	}
	supervised := cr.App != nil && len(cr.App.Command) > 0
	switch {
	case cr.Kind == conf.CGI:
		if cr.App == nil {
			b.fail(cr.Pos, "CGI mapping without its settings")
			return nil
		}
	case supervised:
	case cr.Kind == conf.FastCgiProxy:
		if len(cr.Backends) == 0 {
			b.fail(cr.Pos, "<resin:FastCgiProxy>: give the address of a FastCGI responder or a command for resind to run")
			return nil
		}
		for _, be := range cr.Backends {
			a.addrs = append(a.addrs, be.Address)
		}
	default:
		b.fail(cr.Pos, fmt.Sprintf("<resin:%s>: no command", cr.Kind))
		return nil
	}
	ru.app = a
	return ru
}

// appState is the Server's part that outlives snapshots: the supervised
// programs (an app.Registry, created on first use) and the connection
// pools to FastCGI addresses, keyed by address. Its zero value is ready.
type appState struct {
	mu     sync.Mutex
	reg    *app.Registry
	pools  map[string]*fastcgi.AddressPool
	closed bool
}

// instantiate gives the application rules of rt their handlers, starting
// the programs rt names that do not run yet, and returns the keys of the
// programs and pools rt uses, for retain.
func (st *appState) instantiate(rt *runtime, log *zap.Logger) map[string]bool {
	keep := make(map[string]bool)
	seen := make(map[*host]bool)
	hosts := make([]*host, 0, len(rt.hosts)+1)
	if rt.defaultHost != nil {
		hosts = append(hosts, rt.defaultHost)
	}
	for _, h := range rt.hosts {
		hosts = append(hosts, h)
	}
	base := filepath.Dir(rt.cfg.File)
	for _, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		for _, ru := range h.rules {
			st.instantiateRule(ru, base, rt.timeouts, keep, log)
		}
		for _, wa := range h.apps {
			for _, ru := range wa.rules {
				st.instantiateRule(ru, wa.root, rt.timeouts, keep, log)
			}
		}
	}
	return keep
}

func (st *appState) instantiateRule(ru *rule, dir string, to conf.Timeouts, keep map[string]bool, log *zap.Logger) {
	a := ru.app
	if a == nil || a.kind == conf.CGI {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		a.err = fmt.Errorf("the server is shutting down")
		return
	}
	if len(a.addrs) > 0 {
		pools := make([]*fastcgi.AddressPool, 0, len(a.addrs))
		for _, addr := range a.addrs {
			if st.pools == nil {
				st.pools = make(map[string]*fastcgi.AddressPool)
			}
			p := st.pools[addr]
			if p == nil {
				p = fastcgi.NewAddressPool(addr)
				// Set once: the pool is shared by every snapshot.
				p.ConnectTimeout, p.IdleTime = to.LoadBalanceConnectTimeout, to.LoadBalanceIdleTime
				st.pools[addr] = p
			}
			keep["fastcgi-address "+addr] = true
			pools = append(pools, p)
		}
		var pool fastcgi.Pool = pools[0]
		if len(pools) > 1 {
			pool = &rotation{pools: pools}
		}
		a.fcgi = &fastcgi.Handler{Pool: pool, Name: strings.Join(a.addrs, ","), Timeout: a.timeout, Log: log}
		return
	}
	if st.reg == nil {
		st.reg = app.NewRegistry(log)
	}
	c := a.cfg
	spec := app.Spec{Command: c.Command, Dir: c.Dir, Env: c.Env, MinProcesses: c.MinProcesses,
		MaxProcesses: c.MaxProcesses, IdleTimeout: c.IdleTimeout, Unix: c.Unix, HealthPath: c.HealthPath,
		HealthInterval: c.HealthInterval, StartTimeout: c.StartTimeout, StopTimeout: c.StopTimeout}
	if spec.Dir == "" {
		spec.Dir = dir
	}
	switch a.kind {
	case conf.FastCgiProxy:
		p, err := st.reg.FastCGI(spec)
		if err != nil {
			a.err = err
			return
		}
		keep[spec.Key("fastcgi")] = true
		a.fcgi = &fastcgi.Handler{Pool: p, Name: spec.Name(), Timeout: a.timeout, Log: log}
	case conf.HttpProxy:
		h, err := st.reg.HTTP(spec)
		if err != nil {
			a.err = err
			return
		}
		keep[spec.Key("http")] = true
		a.http = h.Handler(a.timeout)
	}
}

// retain stops the programs and closes the pools that keep (from
// instantiate of the snapshot now in use) does not name.
func (st *appState) retain(keep map[string]bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for addr, p := range st.pools {
		if !keep["fastcgi-address "+addr] {
			delete(st.pools, addr)
			p.Close()
		}
	}
	if st.reg != nil {
		st.reg.Retain(keep)
	}
}

// close stops every program, each getting its stop-timeout after SIGTERM,
// bounded by a minute in all.
func (st *appState) close() {
	st.mu.Lock()
	st.closed = true
	reg := st.reg
	for _, p := range st.pools {
		p.Close()
	}
	st.mu.Unlock()
	if reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		reg.Close(ctx)
	}
}

// rotation spreads requests over several FastCGI addresses, moving to the
// next when one cannot be reached.
type rotation struct {
	pools []*fastcgi.AddressPool
	next  atomic.Uint32
	owner sync.Map // *fastcgi.Conn → *fastcgi.AddressPool
}

func (r *rotation) Get(ctx context.Context) (*fastcgi.Conn, error) {
	start := int(r.next.Add(1))
	var first error
	for i := range r.pools {
		p := r.pools[(start+i)%len(r.pools)]
		c, err := p.Get(ctx)
		if err == nil {
			r.owner.Store(c, p)
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

func (r *rotation) Put(c *fastcgi.Conn, reusable bool) {
	if p, ok := r.owner.LoadAndDelete(c); ok {
		p.(*fastcgi.AddressPool).Put(c, reusable)
		return
	}
	c.Close()
}

// serveApp serves a request matched by an application rule. Every kind
// gets the session id the same way (X-Resin-Session-Id, so HTTP_X_RESIN_SESSION_ID
// for FastCGI and CGI; issued first when the web-app has a
// <session-config>) and the client's address (X-Forwarded-For, plus
// REMOTE_ADDR for FastCGI and CGI).
func (x *exchange) serveApp(ru *rule) {
	w, r, a := x.w, x.r, ru.app
	id := x.session()
	out := r.Clone(r.Context())
	setSessionField(out.Header, id) // never trust one from the client
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := out.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Header.Set("X-Forwarded-For", ip)
	}
	if a.err != nil {
		fastcgi.ErrorPage(w, http.StatusBadGateway, "The application could not be started ("+a.err.Error()+"):", ru.pos.String())
		return
	}
	ctx, root, rel := "", "", x.relPath()
	if x.app != nil {
		ctx, root = x.app.ctx, x.app.root
	}
	switch {
	case a.kind == conf.CGI:
		x.serveCGI(a, out, ctx, root, rel)
	case a.fcgi != nil:
		s := fastcgi.Script{Name: ctx + rel, Root: root}
		if root != "" {
			s.Filename = filepath.Join(root, filepath.FromSlash(rel))
		}
		a.fcgi.Serve(w, out, s)
	case a.http != nil:
		a.http.ServeHTTP(w, out)
	default:
		fastcgi.ErrorPage(w, http.StatusBadGateway, "The application is not set up:", ru.pos.String())
	}
}

// relPath is the request's cleaned path inside its web-app (the whole
// path at host level).
func (x *exchange) relPath() string {
	p := x.r.URL.Path
	if strings.IndexByte(p, ';') >= 0 {
		p, _ = proxy.StripSessionParam(p)
	}
	p, _ = cleanPath(p)
	if x.app != nil {
		p = strings.TrimPrefix(p, x.app.ctx)
		if p == "" {
			p = "/"
		}
	}
	return p
}

// Apps lists the programs the server supervises (FastCGI pools and HTTP
// applications) with their processes, for /resin-admin and status.
func (s *Server) Apps() []app.Status {
	s.apps.mu.Lock()
	reg := s.apps.reg
	s.apps.mu.Unlock()
	if reg == nil {
		return nil
	}
	return reg.Status()
}
