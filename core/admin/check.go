package admin

import "resind/conf"

// CheckUser reports whether user is one of users, enabled, with password:
// the check /resin-admin makes, for other endpoints that admin users may
// use (the deployment API). An unknown user costs about as much as a known
// one.
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
