package conf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// The namespaces whose elements are Resin's own. Resin 4 binds the resin:
// prefix to urn:java:com.caucho.resin, Resin 3 to .../ns/resin/core; plain
// elements live in http://caucho.com/ns/resin or in no namespace at all.
var resinNamespaces = map[string]bool{
	"":                                true,
	"http://caucho.com/ns/resin":      true,
	"http://caucho.com/ns/resin/core": true,
	"urn:java:com.caucho.resin":       true,
}

// node is one element of a configuration file after <resin:import>,
// <resin:if>, <resin:choose> and <resin:properties> were carried out.
type node struct {
	name  string // local name
	qname string // name as written, with its prefix, for messages
	ours  bool   // in one of Resin's namespaces
	pos   Pos
	abs   string // absolute path of the file it was written in
	attrs []xattr
	kids  []*node
	text  string // character data directly inside, trimmed
}

// xattr is one attribute; namespace declarations and prefixed attributes
// are dropped when the node is built.
type xattr struct{ name, value string }

// attr returns the raw value of the attribute name and whether it is there.
func (n *node) attr(name string) (string, bool) {
	for _, a := range n.attrs {
		if a.name == name {
			return a.value, true
		}
	}
	return "", false
}

// prop is one attribute or one child element of a node. Resin treats
// <server port="6800"/> and <server><port>6800</port></server> alike, so the
// interpreters walk props rather than attributes and children separately.
type prop struct {
	name  string
	raw   string // attribute value, or the child's text
	child *node  // the child element; nil for an attribute
	owner *node
	pos   Pos
}

// props lists n's attributes (first, as Resin applies them first) and then
// its child elements in document order.
func props(n *node) []prop {
	ps := make([]prop, 0, len(n.attrs)+len(n.kids))
	for _, a := range n.attrs {
		ps = append(ps, prop{name: a.name, raw: a.value, owner: n, pos: n.pos})
	}
	for _, k := range n.kids {
		name := k.name
		if !k.ours {
			name = k.qname // foreign elements never match a Resin name
		}
		ps = append(ps, prop{name: name, raw: k.text, child: k, owner: n, pos: k.pos})
	}
	return ps
}

// abs returns the file the prop was written in.
func (p prop) abs() string {
	if p.child != nil {
		return p.child.abs
	}
	return p.owner.abs
}

// what names the prop in a message: `element <port>` or `attribute "port"`.
func (p prop) what() string {
	if p.child != nil {
		return "<" + p.child.qname + ">"
	}
	return fmt.Sprintf("attribute %q", p.name)
}

// parsedFile is one configuration file read into an etree document, with the
// line of each element.
type parsedFile struct {
	doc   *etree.Document
	lines map[*etree.Element]int
}

// charsetPassThrough lets files that declare an encoding load; Resin's
// configurations are ASCII in practice.
func charsetPassThrough(_ string, r io.Reader) (io.Reader, error) { return r, nil }

// parseXML parses data with etree. etree does not record lines, so a first
// pass with encoding/xml (which etree uses underneath and so sees the same
// elements in the same order) notes the line of each start tag; a syntax
// error is returned with its line.
func parseXML(data []byte) (*parsedFile, int, error) {
	lines, line, err := startLines(data)
	if err != nil {
		return nil, line, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings.CharsetReader = charsetPassThrough
	if _, err := doc.ReadFrom(bytes.NewReader(data)); err != nil {
		return nil, 1, err
	}
	pf := &parsedFile{doc: doc, lines: make(map[*etree.Element]int, len(lines))}
	i := 0
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		if i < len(lines) {
			pf.lines[e] = lines[i]
		}
		i++
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	if root := doc.Root(); root != nil {
		walk(root)
	}
	return pf, 0, nil
}

// startLines returns the line of every start tag in document order.
func startLines(data []byte) ([]int, int, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = charsetPassThrough
	var lines []int
	line, counted := 1, 0
	for {
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if err == io.EOF {
			if len(lines) == 0 {
				return nil, line, errors.New("no root element")
			}
			return lines, 0, nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, se.Line, errors.New(se.Msg)
			}
			l, _ := dec.InputPos()
			return nil, l, err
		}
		if _, ok := tok.(xml.StartElement); ok {
			if off > len(data) {
				off = len(data)
			}
			line += bytes.Count(data[counted:off], []byte{'\n'})
			counted = off
			lines = append(lines, line)
		}
	}
}

// newNode copies e's name and attributes; children are added by the caller.
func newNode(e *etree.Element, pos Pos, abs string) *node {
	ns := e.NamespaceURI()
	n := &node{name: e.Tag, qname: e.FullTag(), ours: resinNamespaces[ns], pos: pos, abs: abs}
	for _, a := range e.Attr {
		if a.Space != "" || a.Key == "xmlns" {
			continue
		}
		n.attrs = append(n.attrs, xattr{name: a.Key, value: a.Value})
	}
	var text strings.Builder
	for _, t := range e.Child {
		if cd, ok := t.(*etree.CharData); ok {
			text.WriteString(cd.Data)
		}
	}
	n.text = strings.TrimSpace(text.String())
	return n
}

// desc names an element in a message: <server id="app-a"> or <http>.
func (l *loader) desc(n *node) string {
	if id, ok := n.attr("id"); ok {
		v, _ := l.evalQuiet(id, n.abs)
		return fmt.Sprintf("<%s id=%q>", n.qname, v)
	}
	return "<" + n.qname + ">"
}
