package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The headers of a signed cluster request.
const (
	hdrTime = "X-Resin-Cluster-Time"
	hdrFrom = "X-Resin-Cluster-From"
	hdrSig  = "X-Resin-Cluster-Signature"
)

// maxSkew is how far a signed request's time may be from the receiver's
// clock; older (or later) signatures are refused, which bounds replays.
const maxSkew = 60 * time.Second

// Auth decides who may speak to the cluster port.
//
// With a system key (<resin-system-auth-key>) every cluster request carries
// an HMAC-SHA256 signature over its method, URI, time, sender and body, and
// every stream (memberlist's and raft's) is sealed frame by frame with a
// key derived from the system key and both ends' nonces. Without a key only
// loopback peers are accepted.
type Auth struct {
	key []byte // nil: loopback only
}

// NewAuth returns the authenticator for the system key ("" for none).
func NewAuth(systemKey string) *Auth {
	if systemKey == "" {
		return &Auth{}
	}
	return &Auth{key: []byte(systemKey)}
}

// Keyed reports whether a system key is set.
func (a *Auth) Keyed() bool { return len(a.key) > 0 }

// ErrUnauthorized is the reason every refused cluster request gives.
var ErrUnauthorized = errors.New("cluster request not authorised")

// Sign adds the signature headers to r, whose body is body (nil for none).
// Without a key it only names the sender.
func (a *Auth) Sign(r *http.Request, from string, body []byte) {
	r.Header.Set(hdrFrom, from)
	if !a.Keyed() {
		return
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	r.Header.Set(hdrTime, ts)
	r.Header.Set(hdrSig, a.mac(r.Method, r.URL.RequestURI(), ts, from, body))
}

func (a *Auth) mac(method, uri, ts, from string, body []byte) string {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, a.key)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%x", method, uri, ts, from, bh)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a cluster request whose body was read into body. With a
// key the signature must be valid and recent, whatever the peer's address;
// without one the peer must be on loopback.
func (a *Auth) Verify(r *http.Request, body []byte) error {
	if !a.Keyed() {
		if !Loopback(r.RemoteAddr) {
			return fmt.Errorf("%w: no <resin-system-auth-key>, and %s is not loopback", ErrUnauthorized, r.RemoteAddr)
		}
		return nil
	}
	sig, ts := r.Header.Get(hdrSig), r.Header.Get(hdrTime)
	if sig == "" || ts == "" {
		return fmt.Errorf("%w: unsigned", ErrUnauthorized)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad time %q", ErrUnauthorized, ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("%w: signature time is %s away", ErrUnauthorized, d.Round(time.Second))
	}
	want := a.mac(r.Method, r.URL.RequestURI(), ts, r.Header.Get(hdrFrom), body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return fmt.Errorf("%w: bad signature", ErrUnauthorized)
	}
	return nil
}

// VerifyClient checks a request of the session or cache API: loopback
// callers are always let in (the application next to its server), others
// must be signed.
func (a *Auth) VerifyClient(r *http.Request, body []byte) error {
	if Loopback(r.RemoteAddr) {
		return nil
	}
	return a.Verify(r, body)
}

// Loopback reports whether addr ("host:port" or a bare host) is a
// loopback address (127.0.0.0/8, ::1 or localhost).
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// streamKey derives the key that seals one stream from the system key and
// the nonces of both ends, so a replayed handshake yields a key the
// replayer cannot use.
func (a *Auth) streamKey(clientNonce, serverNonce string) []byte {
	m := hmac.New(sha256.New, a.key)
	fmt.Fprintf(m, "stream\n%s\n%s", clientNonce, serverNonce)
	return m.Sum(nil)
}
