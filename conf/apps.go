package conf

import (
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// CGI is the rule kind of a CGI mapping: Resin's
// <servlet-mapping url-pattern="*.cgi" servlet-class="com.caucho.servlets.CGIServlet"/>
// becomes a rule of this kind in its web-app's rules, in document order.
const CGI RuleKind = "CGI"

// cgiServletClass is Resin's CGI servlet.
const cgiServletClass = "com.caucho.servlets.CGIServlet"

// App is how a rule runs the program behind it: a command resind
// supervises (<resin:FastCgiProxy command> and <resin:HttpProxy command>),
// or a CGI mapping's limits. A FastCgiProxy to an address may also carry an
// App for its timeout, with no Command.
type App struct {
	Pos Pos
	// Command is the program and its arguments, split on white space; a
	// relative program naming a directory ("bin/app") is absolute, resolved
	// against the directory of the file it was written in; a bare name is
	// looked up in PATH.
	Command []string
	// Dir is the working directory (work-dir), absolute; "" means the
	// web-app's root directory.
	Dir string
	// Env is added to the program's environment (<env name value/>).
	Env []string

	// FastCgiProxy: the pool of processes, as mod_fcgid's
	// FcgidMinProcessesPerClass, FcgidMaxProcessesPerClass and
	// FcgidIdleTimeout (defaults 0, 4, 300s).
	MinProcesses int
	MaxProcesses int
	IdleTimeout  time.Duration

	// HttpProxy: Unix gives the program a Unix socket (socket="unix")
	// instead of a loopback port; HealthPath is checked with GET every
	// HealthInterval (default 5s); StartTimeout (default 30s) is how long
	// it may take to answer after it starts.
	Unix           bool
	HealthPath     string
	HealthInterval time.Duration
	StartTimeout   time.Duration
	// StopTimeout is how long a process has after SIGTERM before it is
	// killed (default 5s).
	StopTimeout time.Duration

	// Timeout bounds one request (default: the server's
	// load-balance-socket-timeout; for CGI 60s): past it the client gets
	// 504 and a CGI script is killed.
	Timeout time.Duration

	// CGI: MaxOutput bounds a script's answer (default 64M; the script is
	// killed past it); Prefix is the path of a "/cgi-bin/*" mapping, "" for
	// an extension mapping such as "*.cgi".
	MaxOutput int64
	Prefix    string
}

// appProp reads a rule attribute or child that belongs to App and reports
// whether it was one.
func (l *loader) appProp(r *Rule, p prop) bool {
	if r.Kind != FastCgiProxy && r.Kind != HttpProxy {
		return false
	}
	app := func() *App {
		if r.App == nil {
			r.App = &App{Pos: r.Pos}
		}
		return r.App
	}
	d := l.desc(p.owner)
	switch p.name {
	case "address", "addresses":
		// PHP-FPM listens on a Unix socket as often as on a port:
		// FastCgiProxy also takes "unix:/run/php/fpm.sock".
		v, _ := l.str(p)
		if r.Kind != FastCgiProxy || !strings.Contains(v, "unix:") {
			return false
		}
		for _, a := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' }) {
			if path, ok := strings.CutPrefix(a, "unix:"); ok {
				if !filepath.IsAbs(path) {
					l.errorf(p.pos, "%s: address %q: the socket path must be absolute", d, a)
				}
				r.Backends = append(r.Backends, Backend{Address: a, Weight: 100})
				continue
			}
			r.Backends = append(r.Backends, l.backend(p.pos, d, a, 100, false))
		}
	case "command":
		v, _ := l.str(p)
		app().Command = l.command(p, v)
	case "work-dir", "work-directory":
		if v, _ := l.str(p); v != "" {
			app().Dir = l.resolve(filepath.Dir(p.abs()), v)
		}
	case "env":
		if p.child == nil {
			return false
		}
		if e := l.env(p.child); e != "" {
			app().Env = append(app().Env, e)
		}
	case "min-processes", "max-processes":
		v, _ := l.str(p)
		n, err := parseInt(v)
		if err != nil {
			l.errorf(p.pos, "%s: %s %v", d, p.name, err)
			return true
		}
		if p.name == "min-processes" {
			app().MinProcesses = n
		} else {
			app().MaxProcesses = n
		}
	case "idle-timeout", "health-interval", "start-timeout", "stop-timeout", "timeout":
		v, _ := l.str(p)
		t, err := parseDuration(v)
		if err != nil {
			l.errorf(p.pos, "%s: %s %v", d, p.name, err)
			return true
		}
		if t == forever {
			t = 0
		}
		a := app()
		*map[string]*time.Duration{"idle-timeout": &a.IdleTimeout, "health-interval": &a.HealthInterval,
			"start-timeout": &a.StartTimeout, "stop-timeout": &a.StopTimeout, "timeout": &a.Timeout}[p.name] = t
	case "health-path", "health-check-path":
		v, _ := l.str(p)
		if v != "" && !strings.HasPrefix(v, "/") {
			v = "/" + v
		}
		app().HealthPath = v
	case "socket":
		v, _ := l.str(p)
		switch v {
		case "", "tcp", "port":
			app().Unix = false
		case "unix":
			app().Unix = true
		default:
			l.errorf(p.pos, "%s: socket %q is not tcp or unix", d, v)
		}
	default:
		return false
	}
	return true
}

// command splits a command line and resolves its program.
func (l *loader) command(p prop, v string) []string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil
	}
	if strings.ContainsRune(f[0], '/') {
		f[0] = l.resolve(filepath.Dir(p.abs()), f[0])
	}
	return f
}

// env reads <env name="N" value="V"/> (or N=V as its text).
func (l *loader) env(n *node) string {
	var name, value string
	for _, p := range props(n) {
		switch p.name {
		case "name":
			name, _ = l.str(p)
		case "value":
			value, _ = l.str(p)
		default:
			l.unknown(p)
		}
	}
	if name == "" && strings.Contains(n.text, "=") {
		name, value, _ = strings.Cut(n.text, "=")
	}
	if name == "" || strings.ContainsAny(name, "=\x00") {
		l.errorf(n.pos, "%s: an environment variable needs a name (without '=')", l.desc(n))
		return ""
	}
	return name + "=" + value
}

// checkApp validates a rule's App once all its props are read.
func (l *loader) checkApp(r *Rule, d string) {
	a := r.App
	if a == nil {
		return
	}
	supervised := len(a.Command) > 0
	if supervised && len(r.Backends) > 0 {
		l.errorf(r.Pos, "%s: give either a command for resind to run or the address of a running application, not both", d)
	}
	if !supervised {
		if a.Dir != "" || len(a.Env) > 0 || a.MinProcesses > 0 || a.MaxProcesses > 0 || a.IdleTimeout > 0 ||
			a.HealthPath != "" || a.HealthInterval > 0 || a.StartTimeout > 0 || a.StopTimeout > 0 || a.Unix {
			l.warnf(r.Pos, "%s: process settings without a command are ignored", d)
		}
		if r.Kind == HttpProxy && a.Timeout > 0 {
			l.warnf(r.Pos, "%s: timeout applies to a supervised command; an address uses load-balance-socket-timeout", d)
		}
		return
	}
	switch r.Kind {
	case FastCgiProxy:
		if a.MaxProcesses == 0 {
			a.MaxProcesses = 4
		}
		if a.MinProcesses > a.MaxProcesses {
			l.errorf(r.Pos, "%s: min-processes %d is above max-processes %d", d, a.MinProcesses, a.MaxProcesses)
		}
		if a.IdleTimeout == 0 {
			a.IdleTimeout = 300 * time.Second
		}
		if a.HealthPath != "" || a.Unix {
			l.warnf(r.Pos, "%s: health-path and socket are for <resin:HttpProxy command>; ignored", d)
		}
	case HttpProxy:
		if a.MinProcesses > 0 || a.MaxProcesses > 0 {
			l.warnf(r.Pos, "%s: min-processes and max-processes are for <resin:FastCgiProxy command>; an HTTP application runs as one process", d)
		}
	}
}

// servletProp reads a <servlet-mapping> of a web-app: one with Resin's
// CGIServlet (by servlet-class, or by servlet-name naming a <servlet> of
// that class in the same element) adds a CGI rule per url-pattern. Other
// servlets are not supported and warned about. <servlet> elements are read
// only through the mappings that name them.
func (l *loader) servletProp(app *WebApp, p prop) {
	if p.child == nil {
		l.unknown(p)
		return
	}
	n := p.child
	if p.name == "servlet" {
		if class := l.childValue(n, "servlet-class"); class != cgiServletClass {
			l.warnf(n.pos, "%s: servlet-class %q is not supported (resind runs %s only); ignored", l.desc(n), class, cgiServletClass)
		}
		return
	}
	d := l.desc(n)
	class := l.childValue(n, "servlet-class")
	var def *node
	if name := l.childValue(n, "servlet-name"); class == "" && name != "" {
		for _, k := range p.owner.kids {
			if k.name == "servlet" && l.childValue(k, "servlet-name") == name {
				def = k
				class = l.childValue(k, "servlet-class")
			}
		}
		if def == nil {
			l.errorf(n.pos, "%s: no <servlet servlet-name=%q> in this web-app", d, name)
			return
		}
	}
	if class != cgiServletClass {
		l.warnf(n.pos, "%s: servlet-class %q is not supported (resind runs %s only); ignored", d, class, cgiServletClass)
		return
	}
	a := &App{Pos: n.pos, Timeout: 60 * time.Second, MaxOutput: 64 << 20}
	var patterns []string
	for _, src := range []*node{def, n} {
		if src == nil {
			continue
		}
		for _, q := range props(src) {
			switch q.name {
			case "url-pattern":
				v, _ := l.str(q)
				patterns = append(patterns, strings.Fields(v)...)
			case "servlet-name", "servlet-class":
			case "init":
				if q.child != nil {
					for _, ip := range props(q.child) {
						l.cgiLimit(a, ip, d)
					}
				}
			default:
				l.cgiLimit(a, q, d)
			}
		}
	}
	if len(patterns) == 0 {
		l.errorf(n.pos, "%s: the url-pattern is required", d)
	}
	for _, pat := range patterns {
		r := &Rule{Kind: CGI, Pos: n.pos}
		ra := *a
		r.App = &ra
		switch {
		case strings.HasPrefix(pat, "*."):
			r.Regexp = regexp.QuoteMeta(pat[1:]) + "$"
		case strings.HasSuffix(pat, "/*"):
			ra.Prefix = strings.TrimSuffix(pat, "/*")
			r.Regexp = "^" + regexp.QuoteMeta(ra.Prefix) + "/"
		case strings.HasPrefix(pat, "/"):
			r.Regexp = "^" + regexp.QuoteMeta(pat) + "$"
		default:
			l.errorf(n.pos, "%s: url-pattern %q is not *.ext, /prefix/* or /path", d, pat)
			continue
		}
		r.Match = regexp.MustCompile(r.Regexp)
		app.Rules = append(app.Rules, r)
	}
}

// cgiLimit reads the limits of a CGI mapping: timeout and max-output.
func (l *loader) cgiLimit(a *App, p prop, d string) {
	switch p.name {
	case "timeout":
		v, _ := l.str(p)
		t, err := parseDuration(v)
		if err != nil {
			l.errorf(p.pos, "%s: timeout %v", d, err)
			return
		}
		if t == forever {
			t = 0
		}
		a.Timeout = t
	case "max-output":
		v, _ := l.str(p)
		n, err := parseSize(v)
		if err != nil {
			l.errorf(p.pos, "%s: max-output %v", d, err)
			return
		}
		a.MaxOutput = n
	case "stderr-is-exception":
		// Resin's CGIServlet option; resind logs stderr either way.
	default:
		l.unknown(p)
	}
}

// childValue is the value of n's attribute or child element name.
func (l *loader) childValue(n *node, name string) string {
	if n == nil {
		return ""
	}
	for _, p := range props(n) {
		if p.name == name {
			v, _ := l.str(p)
			return v
		}
	}
	return ""
}
