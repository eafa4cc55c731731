package core

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// literalMatch answers a rule's regexp without running it when the pattern
// is a plain literal, anchored at the start ("^/lb/") or not ("/images/"),
// which is how most rules are written. Running the regexp engine for them
// was a measurable part of a proxied request; the regexp stays the
// reference, and still expands targets.
type literalMatch struct {
	text     string
	anchored bool // at the start of the path
	ok       bool // the pattern is such a literal
}

// literalOf recognises the patterns literalMatch can answer: a literal of
// case-sensitive characters, optionally preceded by ^ (start of text).
func literalOf(re *regexp.Regexp) literalMatch {
	if re == nil {
		return literalMatch{}
	}
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return literalMatch{}
	}
	tree = tree.Simplify()
	anchored := false
	if tree.Op == syntax.OpConcat && len(tree.Sub) == 2 && tree.Sub[0].Op == syntax.OpBeginText {
		anchored, tree = true, tree.Sub[1]
	}
	if tree.Op != syntax.OpLiteral || tree.Flags&syntax.FoldCase != 0 {
		return literalMatch{}
	}
	return literalMatch{text: string(tree.Rune), anchored: anchored, ok: true}
}

func (l *literalMatch) matches(uri string) bool {
	if l.anchored {
		return strings.HasPrefix(uri, l.text)
	}
	return strings.Contains(uri, l.text)
}
