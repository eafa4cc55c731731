package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Both are HttpOnly, SameSite=Strict and scoped to the admin
// pages; neither survives a restart of the process, whose signing key is
// random.
const (
	sessionCookie = "resin_admin_session"
	csrfCookie    = "resin_admin_csrf"
	sessionTTL    = 8 * time.Hour
	csrfTTL       = 24 * time.Hour
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

// signer signs and checks cookie values with a per-process HMAC-SHA256 key.
// A value is base64url(payload) "." base64url(mac); the payload is
// "expiry-unix|nonce|rest".
type signer struct {
	key []byte
	now func() time.Time
}

func newSigner(now func() time.Time) (*signer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &signer{key: key, now: now}, nil
}

func (s *signer) mac(purpose, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// seal returns a signed value for purpose carrying rest, valid for ttl.
func (s *signer) seal(purpose, rest string, ttl time.Duration) (string, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	payload := strconv.FormatInt(s.now().Add(ttl).Unix(), 10) + "|" +
		base64.RawURLEncoding.EncodeToString(nonce) + "|" + rest
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.mac(purpose, payload)), nil
}

var errCookie = errors.New("invalid or expired cookie")

// open checks a value made by seal for purpose and returns its nonce and rest.
func (s *signer) open(purpose, value string) (nonce, rest string, err error) {
	p64, m64, ok := strings.Cut(value, ".")
	if !ok {
		return "", "", errCookie
	}
	// Strict: one encoding per value, so a cookie cannot be re-spelt.
	enc := base64.RawURLEncoding.Strict()
	payload, err1 := enc.DecodeString(p64)
	mac, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(purpose, string(payload))) {
		return "", "", errCookie
	}
	exp, nonce, rest, ok := splitPayload(string(payload))
	if !ok || !s.now().Before(time.Unix(exp, 0)) {
		return "", "", errCookie
	}
	return nonce, rest, nil
}

// splitPayload parses "expiry|nonce|rest"; rest may itself contain '|'.
func splitPayload(p string) (exp int64, nonce, rest string, ok bool) {
	parts := strings.SplitN(p, "|", 3)
	if len(parts) != 3 || parts[1] == "" {
		return 0, "", "", false
	}
	exp, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return 0, "", "", false
	}
	return exp, parts[1], parts[2], true
}

// csrfToken is the token forms must echo for the browser holding nonce.
func (s *signer) csrfToken(nonce string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf-token", nonce))
}

func (h *Handler) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     Prefix,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
		MaxAge:   int(maxAge / time.Second),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// csrfFor returns the CSRF token of r's browser, setting the nonce cookie
// when r has none yet (a first visit, or an expired one).
func (h *Handler) csrfFor(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(csrfCookie); err == nil {
		if nonce, _, err := h.sign.open(csrfCookie, c.Value); err == nil {
			return h.sign.csrfToken(nonce), nil
		}
	}
	v, err := h.sign.seal(csrfCookie, "", csrfTTL)
	if err != nil {
		return "", err
	}
	nonce, _, err := h.sign.open(csrfCookie, v)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, h.cookie(r, csrfCookie, v, csrfTTL))
	return h.sign.csrfToken(nonce), nil
}

// csrfOK reports whether r carries the CSRF token (form field or header) that
// matches its nonce cookie.
func (h *Handler) csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	nonce, _, err := h.sign.open(csrfCookie, c.Value)
	if err != nil {
		return false
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return equalTokens(got, h.sign.csrfToken(nonce))
}

// sessionUser returns the user name of r's valid session cookie.
func (h *Handler) sessionUser(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", false
	}
	_, user, err := h.sign.open(sessionCookie, c.Value)
	if err != nil || user == "" {
		return "", false
	}
	return user, true
}
