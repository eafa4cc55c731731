package proxy

import (
	"crypto/rand"
	"net/http"
	"strings"
)

// The session id alphabet: each character carries six bits.
const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

// DefaultSessionCookie is the cookie that carries the session id.
const DefaultSessionCookie = "JSESSIONID"

// sessionIDRandomLen is the number of random characters after the owner
// prefix: 21 characters of 6 bits is 126 bits of crypto/rand.
const sessionIDRandomLen = 21

// OwnerPrefix returns the three characters that begin the session ids issued
// by the server at index in its cluster: the index within its pod, the pod,
// and the pod ÷ 64, as Resin encodes them. Index 0 gives "aaa", 1 "baa".
func OwnerPrefix(index int) string {
	pod := index / 64
	return string([]byte{idAlphabet[index%64], idAlphabet[pod%64], idAlphabet[(pod/64)%64]})
}

// OwnerIndex decodes the cluster index of the server that issued id. It
// reports false when id is too short or not in the alphabet.
func OwnerIndex(id string) (int, bool) {
	if len(id) < 3 {
		return 0, false
	}
	var v [3]int
	for i := 0; i < 3; i++ {
		c := strings.IndexByte(idAlphabet, id[i])
		if c < 0 {
			return 0, false
		}
		v[i] = c
	}
	return v[0] + 64*(v[1]+64*v[2]), true
}

// NewSessionID returns a fresh session id owned by the server at index.
func NewSessionID(index int) string {
	var b [3 + sessionIDRandomLen]byte
	copy(b[:], OwnerPrefix(index))
	rnd := b[3:]
	if _, err := rand.Read(rnd); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on Linux
	}
	for i, x := range rnd {
		rnd[i] = idAlphabet[x&63]
	}
	return string(b[:])
}

// sessionParam is the path parameter carrying a session id; it is matched
// without regard to case.
const sessionParam = ";jsessionid="

// StripSessionParam removes a ";jsessionid=ID" path parameter from path and
// returns the path without it and the id ("" when there was none). The id
// ends at the next ';', '/' or '?'.
func StripSessionParam(path string) (string, string) {
	i := indexFold(path, sessionParam)
	if i < 0 {
		return path, ""
	}
	rest := path[i+len(sessionParam):]
	end := strings.IndexAny(rest, ";/?")
	if end < 0 {
		return path[:i], rest
	}
	return path[:i] + rest[end:], rest[:end]
}

// indexFold is strings.Index ignoring ASCII case in s; lower must be lower
// case. Unlike strings.ToLower it does not allocate.
func indexFold(s, lower string) int {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return i
		}
	}
	return -1
}

// SessionID returns the session id of r: the cookie named cookie (default
// JSESSIONID), else a ";jsessionid=" path parameter, else "".
func SessionID(r *http.Request, cookie string) string {
	if cookie == "" {
		cookie = DefaultSessionCookie
	}
	if v := cookieValue(r.Header["Cookie"], cookie); v != "" {
		return v
	}
	if strings.IndexByte(r.URL.Path, ';') < 0 {
		return ""
	}
	_, id := StripSessionParam(r.URL.Path)
	return id
}

// cookieValue returns the first non-empty value of the cookie named name in
// Cookie header lines, with surrounding quotes removed. It scans in place
// rather than parsing every cookie as http.Request.Cookie does, since it
// runs for every balanced request.
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			if i := strings.IndexByte(line, ';'); i >= 0 {
				part, line = line[:i], line[i+1:]
			} else {
				part, line = line, ""
			}
			part = strings.TrimSpace(part)
			if len(part) <= len(name) || part[len(name)] != '=' || part[:len(name)] != name {
				continue
			}
			v := part[len(name)+1:]
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			if v != "" {
				return v
			}
		}
	}
	return ""
}
