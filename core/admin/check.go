package admin

import (
	"net/http"
	"time"

	"resind/conf"
)

// CheckUser reports whether user is one of users, enabled, with password:
// the check /resin-admin makes. An unknown user costs about as much as a
// known one.
func CheckUser(users []conf.AdminUser, user, password string) bool {
	// The last of several users with one name wins, as in SetUsers.
	for i := len(users) - 1; i >= 0; i-- {
		if users[i].Name == user {
			return checkPassword(users[i], password)
		}
	}
	checkPassword(conf.AdminUser{Name: user, Password: "AAAAAAAAAAAAAAAAAAAAAA=="}, password)
	return false
}

// Checker checks admin credentials for endpoints outside /resin-admin (the
// deployment API) exactly as /resin-admin does, with the same limit on
// failed attempts per client address (5 a minute).
type Checker struct{ limit *limiter }

// NewChecker returns a Checker with no failures recorded.
func NewChecker() *Checker { return &Checker{limit: newLimiter(time.Now)} }

// Check reports whether r's client may act as user with password. When the
// client failed too often lately it is not checked at all and retry says
// how long it must wait.
func (c *Checker) Check(r *http.Request, users []conf.AdminUser, user, password string) (ok bool, retry time.Duration) {
	ip := clientIP(r)
	if wait := c.limit.retryAfter(ip); wait > 0 {
		return false, wait
	}
	if CheckUser(users, user, password) {
		return true, 0
	}
	c.limit.fail(ip)
	return false, 0
}
