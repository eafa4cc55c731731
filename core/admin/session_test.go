package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testSigner(t testing.TB) *signer {
	s, err := newSigner(func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealedValueOpensOnlyForItsPurpose(t *testing.T) {
	t.Parallel()
	s := testSigner(t)
	v, err := s.seal(sessionCookie, "a|b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, rest, err := s.open(sessionCookie, v); err != nil || rest != "a|b" {
		t.Fatalf("open = %q, %v", rest, err)
	}
	// A CSRF nonce cookie cannot stand in for a session, nor the reverse.
	if _, _, err := s.open(csrfCookie, v); err == nil {
		t.Fatal("session value opened as a CSRF cookie")
	}
}

// FuzzOpenCookie: arbitrary cookie values never panic, and no value that was
// not made by seal with this key opens, except the ones seal made.
func FuzzOpenCookie(f *testing.F) {
	s := testSigner(f)
	good, _ := s.seal(sessionCookie, "admin", time.Hour)
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("MTIzfGFiY3xhZG1pbg.AAAA")
	f.Fuzz(func(t *testing.T, v string) {
		_, rest, err := s.open(sessionCookie, v)
		if err == nil && v != good {
			t.Fatalf("forged value %q opened as %q", v, rest)
		}
	})
}

func FuzzSplitPayload(f *testing.F) {
	f.Add("1700000000|bm9uY2U|admin")
	f.Add("|||")
	f.Add("-1|x|")
	f.Fuzz(func(t *testing.T, p string) {
		exp, nonce, rest, ok := splitPayload(p)
		if !ok {
			return
		}
		if nonce == "" || strings.Contains(nonce, "|") {
			t.Fatalf("splitPayload(%q): nonce %q", p, nonce)
		}
		_ = exp
		_ = rest
	})
}

// FuzzLoginForm posts arbitrary form bodies and cookies to the login form:
// nothing panics, and no session is granted without the right password.
func FuzzLoginForm(f *testing.F) {
	h, err := New(newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("csrf=x&user=admin&password=s3cret", "resin_admin_csrf=abc")
	f.Add("user=admin&password=s3cret&user=ops", "")
	f.Add("%zz=%", "a=b; c")
	f.Fuzz(func(t *testing.T, body, cookie string) {
		r, err := http.NewRequest("POST", Prefix+"/login", strings.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Cookie", cookie)
		r.RemoteAddr = "192.0.2.1:1" // the limiter may answer 429: fine
		w := serve(h, r)
		for _, c := range w.Result().Cookies() {
			if c.Name != sessionCookie {
				continue
			}
			v, _ := url.ParseQuery(body)
			if !checkPassword(adminUsers()[0], v.Get("password")) && !checkPassword(adminUsers()[1], v.Get("password")) {
				t.Fatalf("session granted for body %q", body)
			}
		}
	})
}
