package conf

import (
	"slices"
	"strings"
)

// admin applies <resin:AdminAuthenticator password-digest>: its <user>
// children (also <resin:user>) become Config.AdminUsers.
func (l *loader) admin(cfg *Config, n *node) {
	digest := ""
	for _, p := range props(n) {
		switch p.name {
		case "password-digest":
			digest, _ = l.str(p)
		case "user":
			if p.child == nil {
				l.unknown(p)
				continue
			}
			u, ok := l.adminUser(p.child, digest)
			if ok && !slices.ContainsFunc(cfg.AdminUsers, func(o AdminUser) bool { return o.Pos == u.Pos && o.Name == u.Name }) {
				cfg.AdminUsers = append(cfg.AdminUsers, u)
			}
		default:
			l.unknown(p)
		}
	}
}

// adminUser reads <user name password disabled password-digest>, or the
// text form of Resin's XmlAuthenticator, "name:password[:roles]".
func (l *loader) adminUser(n *node, digest string) (AdminUser, bool) {
	u := AdminUser{Pos: n.pos, PasswordDigest: digest}
	if n.text != "" && len(n.attrs) == 0 && len(n.kids) == 0 {
		v, _ := l.secretStr(prop{name: "user", raw: n.text, owner: n, pos: n.pos})
		parts := strings.SplitN(v, ":", 3)
		u.Name = parts[0]
		if len(parts) > 1 {
			u.Password = parts[1]
		}
	} else {
		for _, p := range props(n) {
			switch p.name {
			case "name":
				u.Name, _ = l.str(p)
			case "password":
				u.Password, _ = l.secretStr(p)
			case "password-digest":
				if v, _ := l.str(p); v != "" {
					u.PasswordDigest = v
				}
			case "disabled", "disable":
				u.Disabled = l.boolean(p, u.Disabled)
			case "role", "roles", "group":
			default:
				l.unknown(p)
			}
		}
	}
	if u.Name == "" {
		l.warnf(n.pos, "%s: a user without a name is ignored", l.desc(n))
		return u, false
	}
	return u, true
}
