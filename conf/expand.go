package conf

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// This file carries out the elements that change the document itself, in
// document order, as Resin does while reading: <resin:import>, <resin:if>,
// <resin:choose>, <resin:properties> and <resin:set>.

// fileCtx is the file being read.
type fileCtx struct {
	abs  string
	show string
	pf   *parsedFile
}

func (f *fileCtx) pos(e *etree.Element) Pos { return Pos{File: f.show, Line: f.pf.lines[e]} }

// children converts the child elements of e, splicing in what the control
// elements produce.
func (l *loader) children(f *fileCtx, e *etree.Element) []*node {
	var out []*node
	for _, c := range e.ChildElements() {
		out = append(out, l.element(f, c)...)
	}
	return out
}

// element converts e into the nodes that stand for it: itself, or for a
// control element what it expands to (possibly nothing).
func (l *loader) element(f *fileCtx, e *etree.Element) []*node {
	n := newNode(e, f.pos(e), f.abs)
	if n.ours {
		switch n.name {
		case "import":
			return l.importFile(n)
		case "include":
			if _, ok := n.attr("path"); ok {
				return l.importFile(n)
			}
		case "if":
			if l.test(n) {
				return l.children(f, e)
			}
			return nil
		case "choose":
			return l.choose(f, e, n)
		case "properties":
			l.properties(n)
			return nil
		case "set":
			if v, ok := n.attr("var"); ok {
				val, _ := n.attr("value")
				x, _ := l.eval(val, n.abs, n.pos, l.desc(n))
				l.vars[v] = toString(x)
				return nil
			}
		}
	}
	n.kids = l.children(f, e)
	return []*node{n}
}

// test evaluates the test attribute of <resin:if> or <resin:when>.
func (l *loader) test(n *node) bool {
	t, ok := n.attr("test")
	if !ok {
		l.errorf(n.pos, "%s: the test attribute is required", l.desc(n))
		return false
	}
	v, _ := l.eval(t, n.abs, n.pos, l.desc(n))
	return truthy(v)
}

func (l *loader) choose(f *fileCtx, e *etree.Element, n *node) []*node {
	for _, c := range e.ChildElements() {
		cn := newNode(c, f.pos(c), f.abs)
		switch {
		case cn.ours && cn.name == "when":
			if l.test(cn) {
				return l.children(f, c)
			}
		case cn.ours && cn.name == "otherwise":
			return l.children(f, c)
		default:
			l.warnf(cn.pos, "%s: <%s> is not allowed in <resin:choose>; ignored", l.desc(n), cn.qname)
		}
	}
	return nil
}

// importFile carries out <resin:import path optional>: the children of the
// imported file's root element take the import's place.
func (l *loader) importFile(n *node) []*node {
	raw, ok := n.attr("path")
	if !ok {
		if _, fs := n.attr("fileset"); fs {
			l.warnf(n.pos, "%s: fileset imports are not supported; nothing imported", l.desc(n))
			return nil
		}
		l.warnf(n.pos, "%s: no path; nothing imported (fileset imports are not supported)", l.desc(n))
		return nil
	}
	optional := false
	if o, ok := n.attr("optional"); ok {
		v, _ := l.eval(o, n.abs, n.pos, l.desc(n))
		optional, _ = parseBool(toString(v))
	}
	v, ok := l.eval(raw, n.abs, n.pos, l.desc(n))
	if !ok {
		return nil
	}
	path := strings.TrimSpace(toString(v))
	if strings.HasPrefix(path, "classpath:") {
		l.warnf(n.pos, "%s: classpath imports are not supported; %s not imported", l.desc(n), path)
		return nil
	}
	if path == "" {
		if !optional {
			l.errorf(n.pos, "%s: the path is empty", l.desc(n))
		}
		return nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(n.abs), path)
	}
	path = filepath.Clean(path)
	if i := slices.Index(l.stack, path); i >= 0 {
		chain := make([]string, 0, len(l.stack)-i+1)
		for _, s := range l.stack[i:] {
			chain = append(chain, l.show(s))
		}
		l.errorf(n.pos, "%s: import cycle: %s -> %s", l.desc(n), strings.Join(chain, " -> "), l.show(path))
		return nil
	}
	l.tried = append(l.tried, path)
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		if optional && (err == nil || os.IsNotExist(err)) {
			return nil
		}
		if err == nil {
			l.errorf(n.pos, "%s: %s is not a regular file", l.desc(n), l.show(path))
			return nil
		}
		l.errorf(n.pos, "%s: cannot import %s: %v", l.desc(n), l.show(path), unwrapPathError(err))
		return nil
	}
	root := l.readFile(path, n.pos)
	if root == nil {
		return nil
	}
	return root.kids
}

// properties carries out <resin:properties path optional>: a Java
// .properties file whose keys become variables.
func (l *loader) properties(n *node) {
	raw, _ := n.attr("path")
	v, ok := l.eval(raw, n.abs, n.pos, l.desc(n))
	if !ok {
		return
	}
	path := strings.TrimSpace(toString(v))
	optional := false
	if o, ok := n.attr("optional"); ok {
		ov, _ := l.eval(o, n.abs, n.pos, l.desc(n))
		optional, _ = parseBool(toString(ov))
	}
	if path == "" {
		if !optional {
			l.errorf(n.pos, "%s: the path is empty", l.desc(n))
		}
		return
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(n.abs), path)
	}
	l.tried = append(l.tried, path)
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		l.errorf(n.pos, "%s: %s is not a regular file", l.desc(n), l.show(path))
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !(optional && os.IsNotExist(err)) {
			l.errorf(n.pos, "%s: cannot read %s: %v", l.desc(n), l.show(path), unwrapPathError(err))
		}
		return
	}
	if !slices.Contains(l.files, path) {
		l.files = append(l.files, path)
	}
	for k, v := range parseProperties(data) {
		l.vars[k] = v
	}
}

// parseProperties reads the Java .properties format: "key=value",
// "key: value" or "key value"; # and ! start comments; a line ending in a
// backslash continues on the next.
func parseProperties(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	var logical string
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if logical == "" && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			logical += line[:len(line)-1]
			continue
		}
		logical += line
		key, val := splitProperty(logical)
		logical = ""
		if key != "" {
			out[key] = val
		}
	}
	if logical != "" {
		if key, val := splitProperty(logical); key != "" {
			out[key] = val
		}
	}
	return out
}

func splitProperty(line string) (string, string) {
	i := strings.IndexAny(line, "=: \t")
	if i < 0 {
		return line, ""
	}
	key := line[:i]
	rest := strings.TrimLeft(line[i:], " \t")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = rest[1:]
	}
	return key, strings.TrimSpace(rest)
}
