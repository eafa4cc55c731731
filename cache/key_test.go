package cache

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBaseKeyIgnoresMethodHostCaseAndDefaultPort(t *testing.T) {
	tests := []struct {
		method, target string
		tls            bool
		want           string
	}{
		{"GET", "http://Example.COM/a?b=1", false, "http://example.com/a?b=1"},
		{"HEAD", "http://example.com:80/a?b=1", false, "http://example.com/a?b=1"},
		{"GET", "http://example.com:8080/a", false, "http://example.com:8080/a"},
		{"GET", "https://example.com:443/a", true, "https://example.com/a"},
		{"GET", "http://example.com/a%2Fb", false, "http://example.com/a%2Fb"},
		{"GET", "http://example.com", false, "http://example.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			if !tt.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			if got := baseKey(r); got != tt.want {
				t.Errorf("baseKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in        string
		keys      []string
		pathQuery string
		ok        bool
	}{
		{"http://Example.com/a?x=1", []string{"http://example.com/a?x=1"}, "", true},
		{"https://example.com:443/", []string{"https://example.com/"}, "", true},
		{"example.com/a", []string{"http://example.com/a", "https://example.com/a"}, "", true},
		{"/a?x=1", nil, "/a?x=1", true},
		{"ftp://example.com/a", nil, "", false},
		{"", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseTarget(tt.in)
			if ok != tt.ok || got.pathQuery != tt.pathQuery || len(got.keys) != len(tt.keys) {
				t.Fatalf("parseTarget(%q) = %+v, %v", tt.in, got, ok)
			}
			for i := range tt.keys {
				if got.keys[i] != tt.keys[i] {
					t.Errorf("key %d = %q, want %q", i, got.keys[i], tt.keys[i])
				}
			}
		})
	}
}

func TestVariantKeyNormalisesValues(t *testing.T) {
	names := []string{"Accept-Encoding", "Cookie"}
	key := func(h http.Header) string { return variantKey("http://h/", 1, names, h) }
	same := []struct {
		name string
		a, b http.Header
	}{
		{"whitespace around commas", http.Header{"Accept-Encoding": {"gzip, br"}}, http.Header{"Accept-Encoding": {"gzip,br"}}},
		{"case of a caseless field", http.Header{"Accept-Encoding": {"GZIP"}}, http.Header{"Accept-Encoding": {"gzip"}}},
		{"split lines", http.Header{"Accept-Encoding": {"gzip", "br"}}, http.Header{"Accept-Encoding": {"gzip, br"}}},
	}
	for _, tt := range same {
		t.Run("same: "+tt.name, func(t *testing.T) {
			if key(tt.a) != key(tt.b) {
				t.Errorf("%v and %v select different variants", tt.a, tt.b)
			}
		})
	}
	differ := []struct {
		name string
		a, b http.Header
	}{
		{"cookie case matters", http.Header{"Cookie": {"s=ABC"}}, http.Header{"Cookie": {"s=abc"}}},
		{"absent differs from empty", http.Header{}, http.Header{"Accept-Encoding": {""}}},
		{"different encodings", http.Header{"Accept-Encoding": {"gzip"}}, http.Header{"Accept-Encoding": {"br"}}},
	}
	for _, tt := range differ {
		t.Run("differ: "+tt.name, func(t *testing.T) {
			if key(tt.a) == key(tt.b) {
				t.Errorf("%v and %v select the same variant", tt.a, tt.b)
			}
		})
	}
}

func TestParseVary(t *testing.T) {
	names, star := parseVary(http.Header{"Vary": {"accept-encoding, Accept", "ACCEPT-ENCODING"}})
	if star || len(names) != 2 || names[0] != "Accept" || names[1] != "Accept-Encoding" {
		t.Errorf("parseVary = %q, %v", names, star)
	}
	if _, star := parseVary(http.Header{"Vary": {"Accept, *"}}); !star {
		t.Error("Vary: * not seen")
	}
}
