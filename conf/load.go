package conf

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Load reads the configuration file at path, and every file it imports, into
// a validated snapshot. When the configuration is refused the error is a
// *Error listing every problem found, each as "file:line: <element>: reason".
// Elements and attributes that resind does not implement are not errors:
// they are listed in Config.Warnings.
func Load(path string) (*Config, error) {
	cfg, _, err := load(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// load is Load that also returns every file it tried to read, including
// imports that were missing, for Watch.
func load(path string) (*Config, []string, *Error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, &Error{Diags: []Diag{{Pos: Pos{File: path}, Msg: err.Error()}}}
	}
	l := newLoader(abs, !filepath.IsAbs(path))
	root := l.readFile(abs, Pos{File: l.show(abs)})
	if root == nil {
		return nil, l.tried, l.refusal()
	}
	if !root.ours || root.name != "resin" {
		l.errorf(root.pos, "the root element is <%s>; a Resin configuration starts with <resin>", root.qname)
		return nil, l.tried, l.refusal()
	}
	cfg := &Config{File: abs}
	l.resin(cfg, root)
	l.validate(cfg)
	if len(l.errs) > 0 {
		return nil, l.tried, l.refusal()
	}
	cfg.Files = l.files
	l.checkSecretModes()
	cfg.Warnings = l.warnings()
	return cfg, l.tried, nil
}

// warnings returns the warnings in file and line order, each unsupported
// element once with the number of its other occurrences.
func (l *loader) warnings() []Diag {
	for _, g := range l.unknowns {
		if n := len(g.lines) - 1; n > 0 {
			l.warns[g.idx].Msg += fmt.Sprintf(" (and %d more in this file)", n)
		}
	}
	l.sortDiags(l.warns)
	return l.warns
}

// sortDiags orders diags by file (in the order the files were read) and
// line, keeping the order of diags on the same line.
func (l *loader) sortDiags(ds []Diag) {
	rank := map[string]int{}
	for i, f := range l.files {
		rank[l.show(f)] = i + 1
	}
	slices.SortStableFunc(ds, func(a, b Diag) int {
		if c := cmp.Compare(rank[a.Pos.File], rank[b.Pos.File]); c != 0 {
			return c
		}
		return cmp.Compare(a.Pos.Line, b.Pos.Line)
	})
}

// loader holds the state of one Load.
type loader struct {
	main  string // absolute path of the main file
	dir   string // its directory: ${resin.root}, the default host root
	cwd   string // set when positions are shown relative to it
	files []string
	tried []string          // files read or looked for (missing optional imports)
	vars  map[string]string // <resin:properties> and <resin:set>
	stack []string          // files being imported, to find cycles

	errs  []Diag
	warns []Diag
	seen  map[Diag]bool

	// lbRules are the LoadBalance rules, checked against the clusters once
	// all are known.
	lbRules []lbRef

	// hosts are the hosts being built, with what resolving their
	// directories needs; hostFromDefault marks those a <cluster-default> made.
	hosts           map[*Host]*builtHost
	hostFromDefault map[*Host]bool

	// unknowns groups the warnings about an unsupported element by file
	// and name.
	unknowns map[string]*unknownGroup

	// secrets are the files holding a secret, with where the first is
	// written; see secrets.go.
	secrets map[string]Pos
}

type unknownGroup struct {
	idx   int // of the first warning in warns
	lines map[int]bool
}

type lbRef struct {
	rule *Rule
	desc string
}

func newLoader(abs string, relative bool) *loader {
	l := &loader{main: abs, dir: filepath.Dir(abs), vars: map[string]string{}, seen: map[Diag]bool{},
		hosts: map[*Host]*builtHost{}, hostFromDefault: map[*Host]bool{}, unknowns: map[string]*unknownGroup{}}
	if relative {
		l.cwd, _ = os.Getwd()
	}
	return l
}

// show returns how a file is named in messages: relative to the working
// directory when Load was given a relative path, absolute otherwise.
func (l *loader) show(abs string) string {
	if l.cwd != "" {
		if r, err := filepath.Rel(l.cwd, abs); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return abs
}

func (l *loader) refusal() *Error {
	l.sortDiags(l.errs)
	return &Error{Diags: l.errs}
}

// errorf records a problem that refuses the configuration. The same problem
// found twice (a default applied to several elements) is recorded once.
func (l *loader) errorf(pos Pos, format string, args ...any) {
	d := Diag{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	if !l.seen[d] {
		l.seen[d] = true
		l.errs = append(l.errs, d)
	}
}

// warnf records a problem that does not refuse the configuration.
func (l *loader) warnf(pos Pos, format string, args ...any) {
	d := Diag{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	if !l.seen[d] {
		l.seen[d] = true
		l.warns = append(l.warns, d)
	}
}

// readFile parses one file and returns its root element with imports and
// conditionals carried out, or nil after recording why it could not.
func (l *loader) readFile(abs string, at Pos) *node {
	l.tried = append(l.tried, abs)
	data, err := os.ReadFile(abs)
	if err != nil {
		l.errorf(at, "cannot read %s: %v", l.show(abs), unwrapPathError(err))
		return nil
	}
	if !slices.Contains(l.files, abs) {
		l.files = append(l.files, abs)
	}
	pf, line, err := parseXML(data)
	if err != nil {
		l.errorf(Pos{File: l.show(abs), Line: line}, "XML syntax error: %v", err)
		return nil
	}
	root := pf.doc.Root()
	if root == nil {
		l.errorf(Pos{File: l.show(abs), Line: 1}, "XML syntax error: no root element")
		return nil
	}
	l.stack = append(l.stack, abs)
	defer func() { l.stack = l.stack[:len(l.stack)-1] }()
	f := &fileCtx{abs: abs, show: l.show(abs), pf: pf}
	n := newNode(root, f.pos(root), abs)
	n.kids = l.children(f, root)
	return n
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// evalQuiet evaluates s in the context of file abs without recording
// anything; it is for messages.
func (l *loader) evalQuiet(s, abs string) (string, error) {
	v, err := interpolate(s, l.scopeFor(abs), nil)
	return toString(v), err
}

// eval evaluates the expressions in s, written in file abs at pos. Unknown
// variables evaluate to "" with a warning; a malformed expression is an
// error (and "" is returned with ok false).
func (l *loader) eval(s, abs string, pos Pos, owner string) (any, bool) {
	var res evalResult
	v, err := interpolate(s, l.scopeFor(abs), &res)
	if err != nil {
		l.errorf(pos, "%s: %v", owner, err)
		return nil, false
	}
	for _, u := range res.unknown {
		l.warnf(pos, "%s: ${%s} is not defined; it is empty", owner, u)
	}
	for _, f := range res.funcs {
		l.warnf(pos, "%s: function %s() is not supported; it is null", owner, f)
	}
	return v, true
}

// str evaluates a prop's value as text; ok is false when the expression
// was malformed.
func (l *loader) str(p prop) (string, bool) {
	owner := p.owner
	if p.child != nil {
		owner = p.child
	}
	v, ok := l.eval(p.raw, p.abs(), p.pos, l.desc(owner))
	return strings.TrimSpace(toString(v)), ok
}

// varScope resolves variables for one file.
type varScope struct {
	l   *loader
	abs string
}

func (l *loader) scopeFor(abs string) scope { return varScope{l: l, abs: abs} }

func (s varScope) lookup(name string) (any, bool) {
	switch name {
	case "__DIR__":
		return filepath.Dir(s.abs), true
	case "__FILE__":
		return s.abs, true
	case "resin.root", "resin.home", "resin.rootDirectory", "resin.homeDirectory", "resinHome", "resinRoot", "serverRoot":
		return s.l.dir, true
	case "resin.conf":
		return s.l.main, true
	case "resin.professional", "isResinProfessional":
		// resind does what Resin Professional's clustering does, so the
		// parts of a configuration written for it apply.
		return true, true
	case "resin.userName":
		return os.Getenv("USER"), true
	}
	if v, ok := s.l.vars[name]; ok {
		return v, true
	}
	if env, ok := strings.CutPrefix(name, "env."); ok {
		if v, ok := os.LookupEnv(env); ok {
			return v, true
		}
		return nil, true // an unset environment variable is null, not a typo
	}
	return nil, false
}
