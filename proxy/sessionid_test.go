package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestOwnerPrefixEncodesIndexPodAndPodDiv64(t *testing.T) {
	t.Parallel()
	cases := []struct {
		index int
		want  string
	}{
		{0, "aaa"},
		{1, "baa"},
		{2, "caa"},
		{25, "zaa"},
		{26, "Aaa"},
		{63, "-aa"},
		{64, "aba"},
		{65, "bba"},
		{64 * 64, "aab"},
	}
	for _, c := range cases {
		if got := OwnerPrefix(c.index); got != c.want {
			t.Errorf("OwnerPrefix(%d) = %q, want %q", c.index, got, c.want)
		}
		if got, ok := OwnerIndex(c.want + "xyz"); !ok || got != c.index {
			t.Errorf("OwnerIndex(%q) = %d, %v; want %d", c.want+"xyz", got, ok, c.index)
		}
	}
}

func TestOwnerIndexRejectsShortOrForeignIDs(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", "a", "ab", "a.b", "é12", "ab!"} {
		if _, ok := OwnerIndex(id); ok {
			t.Errorf("OwnerIndex(%q) accepted", id)
		}
	}
}

func TestNewSessionIDIsOwnedRandomAndInAlphabet(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for _, index := range []int{0, 1, 5, 70, 5000} {
		for range 50 {
			id := NewSessionID(index)
			if len(id) != 3+sessionIDRandomLen {
				t.Fatalf("NewSessionID(%d) = %q: length %d", index, id, len(id))
			}
			if got, ok := OwnerIndex(id); !ok || got != index {
				t.Fatalf("OwnerIndex(NewSessionID(%d)) = %d, %v", index, got, ok)
			}
			for _, c := range []byte(id) {
				if strings.IndexByte(idAlphabet, c) < 0 {
					t.Fatalf("id %q has %q outside the alphabet", id, c)
				}
			}
			if seen[id] {
				t.Fatalf("id %q issued twice", id)
			}
			seen[id] = true
		}
	}
}

func TestStripSessionParam(t *testing.T) {
	t.Parallel()
	cases := []struct {
		path, wantPath, wantID string
	}{
		{"/app/page", "/app/page", ""},
		{"/app/page;jsessionid=baaXYZ", "/app/page", "baaXYZ"},
		{"/app/page;JSESSIONID=baaXYZ", "/app/page", "baaXYZ"},
		{"/app;jsessionid=caa1/next", "/app/next", "caa1"},
		{"/app/page;jsessionid=baa1;other=2", "/app/page;other=2", "baa1"},
		{"/a;jsessionid=", "/a", ""},
		{";jsessionid=x?q", "?q", "x"},
		{"/a;jsession=x", "/a;jsession=x", ""},
	}
	for _, c := range cases {
		p, id := StripSessionParam(c.path)
		if p != c.wantPath || id != c.wantID {
			t.Errorf("StripSessionParam(%q) = %q, %q; want %q, %q", c.path, p, id, c.wantPath, c.wantID)
		}
	}
}

func TestSessionIDPrefersCookieThenPathParam(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, target, cookie, cookieName, want string
	}{
		{"cookie", "/a", "JSESSIONID=baa123", "", "baa123"},
		{"cookie among others", "/a", "x=1; JSESSIONID=caa9; y=2", "", "caa9"},
		{"quoted cookie", "/a", `JSESSIONID="daa7"`, "", "daa7"},
		{"custom cookie name", "/a", "JSESSIONID=no; SID=eaa1", "SID", "eaa1"},
		{"path param", "/a;jsessionid=faa2/b", "", "", "faa2"},
		{"cookie wins over path", "/a;jsessionid=faa2", "JSESSIONID=baa1", "", "baa1"},
		{"empty cookie falls back to path", "/a;jsessionid=faa2", "JSESSIONID=", "", "faa2"},
		{"prefix of another name is not it", "/a", "XJSESSIONID=baa1; JSESSIONIDX=caa1", "", ""},
		{"none", "/a", "", "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		if c.cookie != "" {
			r.Header.Set("Cookie", c.cookie)
		}
		if got := SessionID(r, c.cookieName); got != c.want {
			t.Errorf("%s: SessionID = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSessionIDDoesNotAllocate(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/a/b;jsessionid=baa1", nil)
	r.Header.Set("Cookie", "theme=dark; JSESSIONID=caa123456")
	if n := testing.AllocsPerRun(100, func() { SessionID(r, "") }); n != 0 {
		t.Errorf("SessionID allocates %v times per call", n)
	}
}

func FuzzStripSessionParam(f *testing.F) {
	for _, s := range []string{"/a;jsessionid=baa1/b", "/a;JSESSIONID=x;y", ";jsessionid=", "/plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p, id := StripSessionParam(path)
		if id == "" && indexFold(path, sessionParam) < 0 && p != path {
			t.Fatalf("path without the parameter changed: %q → %q", path, p)
		}
		if strings.ContainsAny(id, ";/?") {
			t.Fatalf("id %q of %q has a delimiter", id, path)
		}
		if len(p)+len(id) > len(path) {
			t.Fatalf("stripping %q grew it: %q + %q", path, p, id)
		}
		if id != "" && !strings.Contains(path, id) {
			t.Fatalf("id %q is not in %q", id, path)
		}
	})
}

func FuzzOwnerIndex(f *testing.F) {
	f.Add("baa123")
	f.Add("-_-")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		idx, ok := OwnerIndex(id)
		if !ok {
			return
		}
		if idx < 0 || idx >= 64*64*64 {
			t.Fatalf("OwnerIndex(%q) = %d out of range", id, idx)
		}
		if got := OwnerPrefix(idx); got != id[:3] {
			t.Fatalf("OwnerPrefix(OwnerIndex(%q)) = %q", id, got)
		}
	})
}

func FuzzCookieValue(f *testing.F) {
	f.Add("a=1; JSESSIONID=baa1", "JSESSIONID")
	f.Add(`JSESSIONID=""`, "JSESSIONID")
	f.Add(";;;=;", "")
	f.Fuzz(func(t *testing.T, line, name string) {
		v := cookieValue([]string{line}, name)
		if v != "" && !strings.Contains(line, v) {
			t.Fatalf("cookieValue(%q, %q) = %q, not in the header", line, name, v)
		}
		if strings.Contains(v, ";") {
			t.Fatalf("cookieValue(%q, %q) = %q spans cookies", line, name, v)
		}
	})
}
