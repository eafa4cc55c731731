package conf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The lexer and recursive-descent parser of the EL subset; the parser
// evaluates as it goes.

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tNumber
	tOp
)

type token struct {
	kind tokKind
	text string
	num  float64
}

// lex splits an expression into identifiers, literals and operators.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, errors.New("unterminated string")
			}
			toks = append(toks, token{kind: tString, text: b.String()})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			f, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil {
				return nil, fmt.Errorf("bad number %q", s[i:j])
			}
			toks = append(toks, token{kind: tNumber, text: s[i:j], num: f})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && (isIdentStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: s[i:j]})
			i = j
		default:
			op := ""
			for _, o := range []string{"?:", "==", "!=", "&&", "||", "<=", ">=", "!", "?", ":", "(", ")", "[", "]", ".", ",", "<", ">", "-", "+"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected character %q", c)
			}
			toks = append(toks, token{kind: tOp, text: op})
			i += len(op)
		}
	}
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// maxDepth bounds the nesting of an expression, so a hostile file cannot
// exhaust the stack.
const maxDepth = 64

type parser struct {
	toks  []token
	i     int
	depth int
	sc    scope
	res   *evalResult
}

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{kind: tOp, text: ""}
}

// accept consumes the next token when it is the operator or keyword op.
func (p *parser) accept(ops ...string) string {
	t := p.peek()
	if t.kind != tOp && t.kind != tIdent {
		return ""
	}
	for _, op := range ops {
		if t.text == op {
			p.i++
			return op
		}
	}
	return ""
}

func (p *parser) expect(op string) error {
	if p.accept(op) == "" {
		if p.i >= len(p.toks) {
			return fmt.Errorf("expected %q at end", op)
		}
		return fmt.Errorf("expected %q, found %q", op, p.peek().text)
	}
	return nil
}

func (p *parser) ternary() (any, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("expression nested too deeply")
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	switch p.accept("?:", "?") {
	case "?:":
		b, err := p.ternary()
		if err != nil {
			return nil, err
		}
		if c == nil || c == "" {
			return b, nil
		}
		return c, nil
	case "?":
		a, err := p.ternary()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		b, err := p.ternary()
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return a, nil
		}
		return b, nil
	}
	return c, nil
}

func (p *parser) or() (any, error) {
	a, err := p.and()
	for err == nil && p.accept("||", "or") != "" {
		var b any
		if b, err = p.and(); err == nil {
			a = truthy(a) || truthy(b)
		}
	}
	return a, err
}

func (p *parser) and() (any, error) {
	a, err := p.compare()
	for err == nil && p.accept("&&", "and") != "" {
		var b any
		if b, err = p.compare(); err == nil {
			a = truthy(a) && truthy(b)
		}
	}
	return a, err
}

func (p *parser) compare() (any, error) {
	a, err := p.additive()
	for err == nil {
		op := p.accept("==", "!=", "eq", "ne", "<", ">", "<=", ">=", "lt", "gt", "le", "ge")
		if op == "" {
			break
		}
		var b any
		if b, err = p.additive(); err == nil {
			a = compareValues(op, a, b)
		}
	}
	return a, err
}

func (p *parser) additive() (any, error) {
	a, err := p.unary()
	for err == nil {
		op := p.accept("+", "-")
		if op == "" {
			break
		}
		var b any
		if b, err = p.unary(); err == nil {
			x, y := toNumber(a), toNumber(b)
			if op == "-" {
				y = -y
			}
			a = x + y
		}
	}
	return a, err
}

func (p *parser) unary() (any, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, errors.New("expression nested too deeply")
	}
	ops := []string{"!", "not", "-"}
	if p.peek().text == "empty" && p.i+1 < len(p.toks) {
		// "empty x" is EL's emptiness test; "empty" alone is a variable.
		if n := p.toks[p.i+1]; n.kind != tOp || n.text == "(" || n.text == "!" {
			ops = append(ops, "empty")
		}
	}
	switch p.accept(ops...) {
	case "!", "not":
		v, err := p.unary()
		return !truthy(v), err
	case "-":
		v, err := p.unary()
		return -toNumber(v), err
	case "empty":
		v, err := p.unary()
		return v == nil || v == "", err
	}
	return p.primary()
}

func (p *parser) primary() (any, error) {
	t := p.peek()
	if p.i >= len(p.toks) {
		return nil, errors.New("unexpected end of expression")
	}
	p.i++
	switch t.kind {
	case tString:
		return t.text, nil
	case tNumber:
		return t.num, nil
	case tOp:
		if t.text != "(" {
			return nil, fmt.Errorf("unexpected %q", t.text)
		}
		v, err := p.ternary()
		if err != nil {
			return nil, err
		}
		return v, p.expect(")")
	}
	switch t.text {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if p.accept("(") != "" {
		return p.call(t.text)
	}
	name := t.text
	for {
		if p.accept(".") != "" {
			n := p.peek()
			if n.kind != tIdent {
				return nil, fmt.Errorf("expected a name after %q", name+".")
			}
			p.i++
			name += "." + n.text
			continue
		}
		if p.accept("[") != "" {
			k, err := p.ternary()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			name += "." + toString(k)
			continue
		}
		break
	}
	v, ok := p.sc.lookup(name)
	if !ok && p.res != nil {
		p.res.unknown = append(p.res.unknown, name)
	}
	return v, nil
}

// call evaluates the arguments of a function we do not implement (so that
// their syntax is checked) and returns null.
func (p *parser) call(name string) (any, error) {
	if p.accept(")") == "" {
		for {
			if _, err := p.ternary(); err != nil {
				return nil, err
			}
			if p.accept(",") == "" {
				break
			}
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
	}
	if p.res != nil {
		p.res.funcs = append(p.res.funcs, name)
	}
	return nil, nil
}
