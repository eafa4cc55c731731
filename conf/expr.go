package conf

import (
	"fmt"
	"strconv"
	"strings"
)

// Resin's configuration files use a small subset of the Java EL: ${name},
// ${a ?: b}, ${a == 'x'}, ${! flag}, ${cond ? a : b}. This file evaluates
// that subset. A value is nil (EL's null), a string, a float64 or a bool.

// scope resolves the variables of an expression.
type scope interface {
	// lookup returns the value of a dotted name, ok false when unknown.
	lookup(name string) (any, bool)
}

// evalResult is what evaluating a string found besides its value.
type evalResult struct {
	unknown []string // variables that were not defined (they evaluate to null)
	funcs   []string // functions we do not implement (they evaluate to null)
}

// interpolate evaluates every ${...} and #{...} of s. A string that is one
// expression keeps the expression's type; otherwise the parts are joined as
// text, null being "".
func interpolate(s string, sc scope, res *evalResult) (any, error) {
	if !strings.Contains(s, "${") && !strings.Contains(s, "#{") {
		return s, nil
	}
	var parts []any
	rest := s
	for rest != "" {
		i := exprStart(rest)
		if i < 0 {
			parts = append(parts, rest)
			break
		}
		if i > 0 {
			parts = append(parts, rest[:i])
		}
		end := exprEnd(rest, i+2)
		if end < 0 {
			return nil, fmt.Errorf("expression %q has no closing }", rest[i:])
		}
		v, err := evalExpr(rest[i+2:end], sc, res)
		if err != nil {
			return nil, fmt.Errorf("expression %q: %w", rest[i:end+1], err)
		}
		parts = append(parts, v)
		rest = rest[end+1:]
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(toString(p))
	}
	return b.String(), nil
}

func exprStart(s string) int {
	a, b := strings.Index(s, "${"), strings.Index(s, "#{")
	if a < 0 || (b >= 0 && b < a) {
		return b
	}
	return a
}

// exprEnd finds the } closing an expression that starts at i, skipping
// quoted strings (a '}' may appear inside one).
func exprEnd(s string, i int) int {
	var quote byte
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '}':
			return i
		}
	}
	return -1
}

// evalExpr parses and evaluates one expression (the text between ${ and }).
func evalExpr(src string, sc scope, res *evalResult) (any, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, sc: sc, res: res}
	v, err := p.ternary()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.i].text)
	}
	return v, nil
}

// truthy is EL's coercion to boolean, extended as Resin's configuration
// does: null, "", "false", false and 0 are false.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		s := strings.TrimSpace(x)
		return s != "" && !strings.EqualFold(s, "false") && s != "0"
	}
	return true
}

func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func toNumber(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case bool:
		if x {
			return 1
		}
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f
	}
	return 0
}

// compareValues applies EL's ==, !=, <, ... : null equals only null; a
// number against a number compares numerically, anything else as text.
func compareValues(op string, a, b any) bool {
	var c int
	_, an := a.(float64)
	_, bn := b.(float64)
	switch {
	case a == nil || b == nil:
		if a != nil || b != nil {
			c = 1
		}
		switch op {
		case "==", "eq":
			return c == 0
		case "!=", "ne":
			return c != 0
		}
		return false
	case an || bn:
		x, y := toNumber(a), toNumber(b)
		switch {
		case x < y:
			c = -1
		case x > y:
			c = 1
		}
	default:
		c = strings.Compare(toString(a), toString(b))
	}
	switch op {
	case "==", "eq":
		return c == 0
	case "!=", "ne":
		return c != 0
	case "<", "lt":
		return c < 0
	case ">", "gt":
		return c > 0
	case "<=", "le":
		return c <= 0
	}
	return c >= 0
}
