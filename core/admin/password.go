package admin

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"resind/conf"
)

// digestRealm is the realm Resin's AdminAuthenticator mixes into its default
// password digest: MD5("user:resin:password"), base64-encoded.
const digestRealm = "resin"

// The password formats a <resin:user password> may be written in.
const (
	kindPlain  = "none"
	kindMD5    = "md5" // Resin's default, MD5-base64 with realm "resin"
	kindMD5Hex = "md5-hex"
	kindSSHA   = "ssha"
	kindBcrypt = "bcrypt"
)

// HashPassword returns what to write in <resin:user password> for user's
// password, for `resind passwd`. kind is "md5" (or ""; Resin's default digest,
// base64(MD5("user:resin:password")), which Resin itself accepts), "bcrypt"
// or "ssha" ({SSHA}base64(sha1(password+salt)+salt)). The bcrypt and ssha
// forms are salted; md5 is kept for configurations shared with Resin.
func HashPassword(user, password, kind string) (string, error) {
	switch strings.ToLower(kind) {
	case "", kindMD5, "md5-base64":
		return md5Digest(user, password, base64.StdEncoding.EncodeToString), nil
	case kindMD5Hex:
		return md5Digest(user, password, hex.EncodeToString), nil
	case kindBcrypt:
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return "", fmt.Errorf("bcrypt: %w", err)
		}
		return string(h), nil
	case kindSSHA:
		salt := make([]byte, 8)
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("ssha salt: %w", err)
		}
		return sshaDigest(password, salt), nil
	default:
		return "", fmt.Errorf("unknown password kind %q (want md5, bcrypt or ssha)", kind)
	}
}

func md5Digest(user, password string, encode func([]byte) string) string {
	sum := md5.Sum([]byte(user + ":" + digestRealm + ":" + password))
	return encode(sum[:])
}

func sshaDigest(password string, salt []byte) string {
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// passwordKind tells how u.Password is written. Under Resin's default digest
// ("" or "md5") a value that is recognisably a salted hash is taken as one,
// so an operator can move to bcrypt without touching password-digest.
func passwordKind(u conf.AdminUser) (string, error) {
	d := strings.ToLower(strings.TrimSpace(u.PasswordDigest))
	switch d {
	case kindPlain:
		return kindPlain, nil
	case "", kindMD5, "md5-base64":
		switch {
		case strings.HasPrefix(u.Password, "{SSHA}"):
			return kindSSHA, nil
		case isBcrypt(u.Password):
			return kindBcrypt, nil
		}
		return kindMD5, nil
	case kindMD5Hex, kindSSHA, kindBcrypt:
		return d, nil
	}
	return "", fmt.Errorf("password-digest %q is not supported (use none, md5, md5-hex, ssha or bcrypt)", u.PasswordDigest)
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// checkPassword reports whether password is u's. Disabled users never match.
// Comparisons of secrets are constant-time.
func checkPassword(u conf.AdminUser, password string) bool {
	if u.Disabled {
		return false
	}
	kind, err := passwordKind(u)
	if err != nil {
		return false
	}
	switch kind {
	case kindPlain:
		// Hash both sides so the comparison does not leak the length.
		a, b := sha256.Sum256([]byte(password)), sha256.Sum256([]byte(u.Password))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	case kindMD5:
		want, err := decodeBase64(u.Password)
		if err != nil {
			return false
		}
		got := md5.Sum([]byte(u.Name + ":" + digestRealm + ":" + password))
		return subtle.ConstantTimeCompare(got[:], want) == 1
	case kindMD5Hex:
		want, err := hex.DecodeString(strings.TrimSpace(u.Password))
		if err != nil {
			return false
		}
		got := md5.Sum([]byte(u.Name + ":" + digestRealm + ":" + password))
		return subtle.ConstantTimeCompare(got[:], want) == 1
	case kindSSHA:
		digest, salt, err := parseSSHA(u.Password)
		if err != nil {
			return false
		}
		h := sha1.New()
		h.Write([]byte(password))
		h.Write(salt)
		return subtle.ConstantTimeCompare(h.Sum(nil), digest) == 1
	case kindBcrypt:
		return bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password)) == nil
	}
	return false
}

var errSSHA = errors.New("not an {SSHA} value")

// parseSSHA splits "{SSHA}base64(sha1(password+salt)+salt)" into the SHA-1
// digest and the salt, which must not be empty.
func parseSSHA(s string) (digest, salt []byte, err error) {
	rest, ok := strings.CutPrefix(s, "{SSHA}")
	if !ok {
		return nil, nil, errSSHA
	}
	raw, err := decodeBase64(rest)
	if err != nil {
		return nil, nil, fmt.Errorf("{SSHA}: %w", err)
	}
	if len(raw) <= sha1.Size {
		return nil, nil, fmt.Errorf("{SSHA}: %d bytes, want a 20-byte digest and a salt", len(raw))
	}
	return raw[:sha1.Size], raw[sha1.Size:], nil
}

// decodeBase64 accepts standard base64 with or without padding, as written by
// Resin, OpenLDAP's slappasswd and hand-edited files.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// UserWarnings returns what an operator should hear about users at start and
// on reload, one "file:line: reason" each: plain-text passwords, digests this
// server cannot check, and values that are not valid hashes.
func UserWarnings(users []conf.AdminUser) []string {
	var out []string
	for _, u := range users {
		where := fmt.Sprintf("%s:%d: <resin:user name=%q>", u.Pos.File, u.Pos.Line, u.Name)
		kind, err := passwordKind(u)
		switch {
		case err != nil:
			out = append(out, where+": "+err.Error()+"; this user cannot log in")
		case kind == kindPlain:
			out = append(out, where+`: password-digest="none" keeps the password in plain text; use "resind passwd"`)
		case !wellFormed(kind, u.Password):
			out = append(out, where+": the password is not a valid "+kind+" hash; this user cannot log in")
		}
	}
	return out
}

func wellFormed(kind, p string) bool {
	switch kind {
	case kindMD5:
		b, err := decodeBase64(p)
		return err == nil && len(b) == md5.Size
	case kindMD5Hex:
		b, err := hex.DecodeString(strings.TrimSpace(p))
		return err == nil && len(b) == md5.Size
	case kindSSHA:
		_, _, err := parseSSHA(p)
		return err == nil
	case kindBcrypt:
		_, err := bcrypt.Cost([]byte(p))
		return err == nil
	}
	return true
}

// equalTokens is a constant-time comparison of two non-empty tokens.
func equalTokens(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
