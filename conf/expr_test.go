package conf

import (
	"slices"
	"testing"
)

type mapScope map[string]any

func (m mapScope) lookup(name string) (any, bool) {
	v, ok := m[name]
	return v, ok
}

func TestInterpolateEvaluatesResinEL(t *testing.T) {
	t.Parallel()
	sc := mapScope{"a": "x", "empty": "", "no": "false", "yes": "true", "n": 5.0, "dotted.name": "d", "zero": 0.0}
	tests := []struct {
		in   string
		want any
	}{
		{"plain", "plain"},
		{"${a}", "x"},
		{"pre-${a}-post", "pre-x-post"},
		{"${a}${a}", "xx"},
		{"#{a}", "x"},
		{"${missing}", nil},
		{"<${missing}>", "<>"},
		{"${missing?:'dflt'}", "dflt"},
		{"${empty?:'dflt'}", "dflt"},
		{"${a?:'dflt'}", "x"},
		{"${missing?:11211}", 11211.0},
		{"${missing?:-1}", -1.0},
		{"${missing ?: \"q\"}", "q"},
		{"${yes ? 'on' : 'off'}", "on"},
		{"${no ? 'on' : 'off'}", "off"},
		{"${missing?dotted.name:''}", ""},
		{"${yes?dotted.name:''}", "d"},
		{"${a == 'x'}", true},
		{"${a eq 'y'}", false},
		{"${a != 'y'}", true},
		{"${a ne 'x'}", false},
		{"${missing == null}", true},
		{"${missing != null}", false},
		{"${empty == null}", false},
		{"${! yes}", false},
		{"${not no}", true},
		{"${!missing}", true},
		{"${yes && no}", false},
		{"${yes and a}", true},
		{"${no || a}", true},
		{"${no or missing}", false},
		{"${(no || yes) && !(missing)}", true},
		{"${n == 5}", true},
		{"${n > 4 && n lt 6}", true},
		{"${zero}", 0.0},
		{"${true}", true},
		{"${null}", nil},
		{"${'a}b'}", "a}b"},
		{"${dotted['name']}", "d"},
		{"${f(a, 'x') ?: 'none'}", "none"},
		{"${n + 1}", 6.0},
		{"port ${n}", "port 5"},
	}
	for _, tc := range tests {
		got, err := interpolate(tc.in, sc, &evalResult{})
		if err != nil || got != tc.want {
			t.Errorf("interpolate(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

func TestInterpolateReportsUnknownVariablesAndFunctions(t *testing.T) {
	t.Parallel()
	var res evalResult
	if _, err := interpolate("${a} ${b.c ?: f(1)}", mapScope{"a": "1"}, &res); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.unknown, []string{"b.c"}) || !slices.Equal(res.funcs, []string{"f"}) {
		t.Errorf("unknown %v funcs %v", res.unknown, res.funcs)
	}
}

func TestInterpolateRefusesMalformedExpressions(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"${a", "${a ==}", "${'open}", "${(a}", "${a ? b}", "${a b}", "${#}", "${}", "${a.}"} {
		if v, err := interpolate(in, mapScope{}, &evalResult{}); err == nil {
			t.Errorf("interpolate(%q) = %#v, want an error", in, v)
		}
	}
}

func TestTruthinessFollowsResin(t *testing.T) {
	t.Parallel()
	for _, v := range []any{nil, "", "false", "FALSE", false, 0.0, "0"} {
		if truthy(v) {
			t.Errorf("truthy(%#v) = true", v)
		}
	}
	for _, v := range []any{"x", "true", true, 1.0, "no"} {
		if !truthy(v) {
			t.Errorf("truthy(%#v) = false", v)
		}
	}
}

func TestParsePropertiesReadsJavaFormat(t *testing.T) {
	t.Parallel()
	got := parseProperties([]byte("# comment\n! also\napp_servers : 127.0.0.1:6800 127.0.0.1:6801\nhttp=8080\n  spaced   value here\nlong = a \\\n   b\nempty=\n"))
	want := map[string]string{"app_servers": "127.0.0.1:6800 127.0.0.1:6801", "http": "8080", "spaced": "value here", "long": "a b", "empty": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
}
