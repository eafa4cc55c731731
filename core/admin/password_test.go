package admin

import (
	"strings"
	"testing"

	"resind/conf"
)

// Vectors computed outside Go: md5/ssha with Python's hashlib, the bcrypt one
// is the "U*U" vector of OpenBSD's bcrypt tests.
func TestCheckPasswordAcceptsEveryStoredFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		user   conf.AdminUser
		right  string
		wrongs []string
	}{
		{"resin default digest (attribute absent)", conf.AdminUser{Name: "admin", Password: "kG33t909i7dX0+dx0sUqcw=="}, "s3cret", []string{"s3cret ", "", "S3cret"}},
		{"resin default digest, md5", conf.AdminUser{Name: "admin", Password: "kG33t909i7dX0+dx0sUqcw==", PasswordDigest: "md5"}, "s3cret", []string{"x"}},
		{"resin default digest, MD5-base64", conf.AdminUser{Name: "admin", Password: "kG33t909i7dX0+dx0sUqcw==", PasswordDigest: "MD5-base64"}, "s3cret", []string{"x"}},
		{"md5 digest without padding", conf.AdminUser{Name: "admin", Password: "kG33t909i7dX0+dx0sUqcw"}, "s3cret", []string{"x"}},
		{"md5 digest is bound to the user name", conf.AdminUser{Name: "root", Password: "kG33t909i7dX0+dx0sUqcw=="}, "", []string{"s3cret"}},
		{"md5 digest of non-ASCII, UTF-8 like Resin", conf.AdminUser{Name: "jörg", Password: "rWDscFQQUJt0Zk5I/3P5Zw=="}, "pässwörd", []string{"passwort"}},
		{"md5-hex", conf.AdminUser{Name: "admin", Password: "906df7b7dd3d8bb757d3e771d2c52a73", PasswordDigest: "MD5-hex"}, "s3cret", []string{"x"}},
		{"ssha", conf.AdminUser{Name: "admin", Password: "{SSHA}y+hYcgSvpL99r/wyQWXo38+u4ZgBAgMEBQYHCA=="}, "s3cret", []string{"s3cre", ""}},
		{"ssha, explicit", conf.AdminUser{Name: "x", Password: "{SSHA}y+hYcgSvpL99r/wyQWXo38+u4ZgBAgMEBQYHCA==", PasswordDigest: "ssha"}, "s3cret", []string{"x"}},
		{"bcrypt $2a$", conf.AdminUser{Name: "admin", Password: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}, "U*U", []string{"U*V"}},
		{"bcrypt $2b$", conf.AdminUser{Name: "admin", Password: "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}, "U*U", []string{"U*V"}},
		{"bcrypt $2y$, explicit", conf.AdminUser{Name: "admin", Password: "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", PasswordDigest: "bcrypt"}, "U*U", []string{"U*V"}},
		{"plain", conf.AdminUser{Name: "admin", Password: "pw", PasswordDigest: "none"}, "pw", []string{"pw2", "p", ""}},
		{"plain value that looks like a hash stays plain", conf.AdminUser{Name: "admin", Password: "{SSHA}abc", PasswordDigest: "none"}, "{SSHA}abc", []string{"abc"}},
	}
	for _, c := range cases {
		if c.right != "" && !checkPassword(c.user, c.right) {
			t.Errorf("%s: the right password %q was refused", c.name, c.right)
		}
		for _, w := range c.wrongs {
			if checkPassword(c.user, w) {
				t.Errorf("%s: the wrong password %q was accepted", c.name, w)
			}
		}
	}
}

func TestDisabledUserIsRefusedWithTheRightPassword(t *testing.T) {
	t.Parallel()
	u := conf.AdminUser{Name: "admin", Password: "kG33t909i7dX0+dx0sUqcw==", Disabled: true}
	if checkPassword(u, "s3cret") {
		t.Fatal("disabled user accepted")
	}
}

func TestUnknownDigestRefusesEveryPassword(t *testing.T) {
	t.Parallel()
	u := conf.AdminUser{Name: "admin", Password: "s3cret", PasswordDigest: "rot13"}
	if checkPassword(u, "s3cret") || checkPassword(u, "") {
		t.Fatal("unknown digest accepted a password")
	}
}

func TestHashPasswordOutputIsAcceptedByLogin(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"", "md5", "MD5", "bcrypt", "ssha"} {
		h, err := HashPassword("admin", "correct horse", kind)
		if err != nil {
			t.Fatalf("%q: %v", kind, err)
		}
		u := conf.AdminUser{Name: "admin", Password: h}
		if !checkPassword(u, "correct horse") || checkPassword(u, "correct horse!") {
			t.Errorf("%q: hash %q does not check", kind, h)
		}
		if w := UserWarnings([]conf.AdminUser{u}); len(w) != 0 {
			t.Errorf("%q: warnings %v for a fresh hash", kind, w)
		}
	}
}

func TestHashPasswordMD5IsResinsDigest(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("admin", "s3cret", "md5")
	if err != nil || h != adminMD5 {
		t.Fatalf("HashPassword md5 = %q, %v; want %q (base64(md5(admin:resin:s3cret)))", h, err, adminMD5)
	}
}

func TestHashPasswordSaltsSSHAAndBcrypt(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"ssha", "bcrypt"} {
		a, _ := HashPassword("u", "pw", kind)
		b, _ := HashPassword("u", "pw", kind)
		if a == b {
			t.Errorf("%s: two hashes of one password are equal: %q", kind, a)
		}
	}
	if _, err := HashPassword("u", "pw", "sha512-crypt"); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestUserWarningsNamePlainPasswordsAndBrokenHashes(t *testing.T) {
	t.Parallel()
	at := conf.Pos{File: "resin.xml", Line: 7}
	w := UserWarnings([]conf.AdminUser{
		{Pos: at, Name: "ok", Password: adminMD5},
		{Pos: at, Name: "plain", Password: "x", PasswordDigest: "none"},
		{Pos: at, Name: "short", Password: "abc"},
		{Pos: at, Name: "odd", Password: "x", PasswordDigest: "sha-512"},
	})
	if len(w) != 3 {
		t.Fatalf("warnings %q, want 3", w)
	}
	for i, want := range []string{`name="plain"`, `name="short"`, `name="odd"`} {
		if !strings.HasPrefix(w[i], "resin.xml:7: ") || !strings.Contains(w[i], want) {
			t.Errorf("warning %d = %q, want resin.xml:7 and %s", i, w[i], want)
		}
	}
	if !strings.Contains(w[0], "plain text") {
		t.Errorf("plain-text warning says %q", w[0])
	}
}

func FuzzParseSSHA(f *testing.F) {
	f.Add("{SSHA}y+hYcgSvpL99r/wyQWXo38+u4ZgBAgMEBQYHCA==")
	f.Add("{SSHA}")
	f.Add("{SSHA}AAAA")
	f.Add("y+hYcgSvpL99r/wyQWXo38+u4ZgBAgMEBQYHCA==")
	f.Fuzz(func(t *testing.T, s string) {
		d, salt, err := parseSSHA(s)
		if err != nil {
			return
		}
		if len(d) != 20 || len(salt) == 0 {
			t.Fatalf("parseSSHA(%q): digest %d bytes, salt %d bytes", s, len(d), len(salt))
		}
	})
}

// FuzzCheckPassword feeds arbitrary stored values and passwords: nothing may
// panic, a disabled user never matches, and a value made by HashPassword
// accepts its own password only.
func FuzzCheckPassword(f *testing.F) {
	f.Add("admin", "kG33t909i7dX0+dx0sUqcw==", "", "s3cret")
	f.Add("admin", "{SSHA}y+hYcgSvpL99r/wyQWXo38+u4ZgBAgMEBQYHCA==", "ssha", "s3cret")
	f.Add("admin", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "", "U*U")
	f.Add("admin", "pw", "none", "pw")
	f.Add("admin", "906df7b7dd3d8bb757d3e771d2c52a73", "md5-hex", "s3cret")
	f.Fuzz(func(t *testing.T, name, stored, digest, password string) {
		u := conf.AdminUser{Name: name, Password: stored, PasswordDigest: digest}
		ok := checkPassword(u, password)
		u.Disabled = true
		if checkPassword(u, password) {
			t.Fatal("disabled user matched")
		}
		if ok && digest == "" && !strings.HasPrefix(stored, "$2") && !strings.HasPrefix(stored, "{SSHA}") {
			// Under the default digest a match means the MD5 agrees.
			if h, _ := HashPassword(name, password, "md5"); !strings.HasPrefix(h, strings.TrimRight(stored, "=")) {
				t.Fatalf("md5 %q matched %q, but the digest is %q", stored, password, h)
			}
		}
		h, err := HashPassword(name, password, "md5")
		if err != nil {
			t.Fatal(err)
		}
		if !checkPassword(conf.AdminUser{Name: name, Password: h}, password) {
			t.Fatalf("md5 of %q/%q does not check", name, password)
		}
		if password != "" && checkPassword(conf.AdminUser{Name: name, Password: h}, password+"x") {
			t.Fatal("md5 accepted another password")
		}
	})
}
