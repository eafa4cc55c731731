package core

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"resind/conf"
)

func TestLiteralRulesAnswerWithoutTheRegexpAlikeIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern  string
		ok       bool
		anchored bool
	}{
		{`^/lb/`, true, true},
		{`/images/`, true, false},
		{`^/a\.b`, true, true},
		{`\.php$`, false, false},
		{`^/go/(\w+)`, false, false},
		{`(?i)^/admin`, false, false},
		{`^/a|^/b`, false, false},
		{`^`, false, false},
		{`^/caf\x{e9}/`, true, true},
	}
	paths := []string{"/", "/lb/", "/lb/x", "/x/lb/", "/images/a.png", "/a.b", "/aXb", "/ADMIN", "/café/menu", "/a", "/b"}
	for _, tc := range tests {
		re := regexp.MustCompile(tc.pattern)
		l := literalOf(re)
		if l.ok != tc.ok || l.ok && l.anchored != tc.anchored {
			t.Errorf("%q: literal %+v, want ok %v anchored %v", tc.pattern, l, tc.ok, tc.anchored)
			continue
		}
		if !l.ok {
			continue
		}
		for _, p := range paths {
			if got, want := l.matches(p), re.MatchString(p); got != want {
				t.Errorf("%q on %q: literal says %v, regexp %v", tc.pattern, p, got, want)
			}
		}
	}
}

func FuzzLiteralMatchAgreesWithRegexp(f *testing.F) {
	f.Add(`^/lb/`, "/lb/plain")
	f.Add(`/img/`, "/a/img/b")
	f.Add(`^/caf\x{e9}`, "/café")
	f.Fuzz(func(t *testing.T, pattern, path string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		if l := literalOf(re); l.ok && l.matches(path) != re.MatchString(path) {
			t.Errorf("%q on %q: literal %v, regexp %v", pattern, path, l.matches(path), re.MatchString(path))
		}
	})
}

// BenchmarkRunRules is the rule matching of a request that passes four
// rules (two literal, two real regexps) before a LoadBalance-like match.
func BenchmarkRunRules(b *testing.B) {
	bb := &builder{}
	var rules []*rule
	for _, cr := range []*conf.Rule{
		testRule(conf.Forbidden, `^/private/`, ""),
		testRule(conf.NotFound, `\.bak$`, ""),
		testRule(conf.Redirect, `^/go/(\w+)`, "/docs/$1.html"),
		testRule(conf.Forbidden, `/WEB-INF/`, ""),
		testRule(conf.Dispatch, `^/lb/`, ""),
	} {
		rules = append(rules, bb.compileRule(cr))
	}
	r := httptest.NewRequest("GET", "/lb/plain", nil)
	var w http.ResponseWriter = httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		if ru, _ := runRules(rules, w, r, "/lb/plain"); ru == nil {
			b.Fatal("no match")
		}
	}
}
