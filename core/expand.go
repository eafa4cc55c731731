package core

import (
	"regexp"
	"strings"
)

// replaceAll does what Resin does with a rule's target: Java's
// Matcher.replaceAll(target) over the matched URI. Every match of re in src
// is replaced by target with its group references expanded, and the text
// around the matches is kept. So regexp "^/old/(.*)" with target "/new/$1"
// turns "/old/a" into "/new/a", and regexp "\.bak$" with target ".txt"
// turns "/notes.bak" into "/notes.txt".
func replaceAll(re *regexp.Regexp, src, target string) string {
	matches := re.FindAllStringSubmatchIndex(src, -1)
	if matches == nil {
		return src
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		b.WriteString(src[last:m[0]])
		expandJava(&b, target, src, m, re)
		last = m[1]
	}
	b.WriteString(src[last:])
	return b.String()
}

// expandJava appends template to b with its group references replaced as
// java.util.regex.Matcher.appendReplacement does: "$n" is group n, taking
// further digits while the number stays a valid group ("$12" is group 12
// only when there are 12 groups, else group 1 then "2"); "${name}" is a
// named group; a backslash makes the next character literal. A group that
// did not take part in the match expands to nothing. Where Java would throw
// (a "$" not followed by a group, an unknown group), the text is kept as
// written, so a configuration mistake shows in the URL rather than failing
// the request.
func expandJava(b *strings.Builder, template, src string, m []int, re *regexp.Regexp) {
	groups := len(m)/2 - 1
	for i := 0; i < len(template); i++ {
		c := template[i]
		switch {
		case c == '\\' && i+1 < len(template):
			i++
			b.WriteByte(template[i])
		case c == '$' && i+1 < len(template) && isDigit(template[i+1]):
			n := int(template[i+1] - '0')
			if n > groups {
				b.WriteString(template[i : i+2])
				i++
				continue
			}
			j := i + 2
			for j < len(template) && isDigit(template[j]) {
				next := n*10 + int(template[j]-'0')
				if next > groups {
					break
				}
				n, j = next, j+1
			}
			writeGroup(b, src, m, n)
			i = j - 1
		case c == '$' && i+1 < len(template) && template[i+1] == '{':
			end := strings.IndexByte(template[i+2:], '}')
			if end < 0 {
				b.WriteByte(c)
				continue
			}
			name := template[i+2 : i+2+end]
			n := re.SubexpIndex(name)
			if n < 0 {
				b.WriteString(template[i : i+3+end])
			} else {
				writeGroup(b, src, m, n)
			}
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
}

func writeGroup(b *strings.Builder, src string, m []int, n int) {
	if lo, hi := m[2*n], m[2*n+1]; lo >= 0 {
		b.WriteString(src[lo:hi])
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// withQuery appends the request's query string to a rewritten target as
// Resin does: after "?" or, when the target has its own query, after "&".
func withQuery(target, rawQuery string) string {
	if rawQuery == "" {
		return target
	}
	if strings.IndexByte(target, '?') >= 0 {
		return target + "&" + rawQuery
	}
	return target + "?" + rawQuery
}
