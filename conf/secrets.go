package conf

import (
	"fmt"
	"os"
	"strings"
)

// secret notes that p, written in some file, holds a secret (an admin
// password, the system key, a TLS key password), so that the file is
// checked for who may read it once the load is done.
func (l *loader) secret(p prop) {
	if p.raw == "" {
		return
	}
	l.secretFile(p.abs(), p.pos)
}

// secretFile notes that the file abs holds a secret; at is where the first
// one is named.
func (l *loader) secretFile(abs string, at Pos) {
	if l.secrets == nil {
		l.secrets = map[string]Pos{}
	}
	if _, ok := l.secrets[abs]; !ok {
		l.secrets[abs] = at
	}
}

// secretStr evaluates a prop holding a secret, as str does, and notes its
// file (see secret). Its problems are reported without the text written:
// a refusal is logged and shown on /resin-admin, the secret must not be.
func (l *loader) secretStr(p prop) (string, bool) {
	l.secret(p)
	owner := p.owner
	if p.child != nil {
		owner = p.child
	}
	var res evalResult
	v, err := interpolate(p.raw, l.scopeFor(p.abs()), &res)
	if err != nil {
		l.errorf(p.pos, "%s: the value is not a valid expression (it is a secret, so it is not shown here)", l.desc(owner))
		return "", false
	}
	if len(res.unknown) > 0 || len(res.funcs) > 0 {
		l.warnf(p.pos, "%s: the value uses undefined variables or unsupported functions, which are empty (it is a secret, so it is not shown here)", l.desc(owner))
	}
	return strings.TrimSpace(toString(v)), true
}

// checkSecretModes warns about each file holding a secret that its group or
// other users may read: anyone with a login on the machine could read the
// admin password hashes, the system key or the TLS private key.
func (l *loader) checkSecretModes() {
	for abs, at := range l.secrets {
		fi, err := os.Stat(abs)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		l.warnf(at, "this file holds secrets and is readable by other users (mode %04o); make it readable by its owner only: chmod 600 %s",
			fi.Mode().Perm(), l.show(abs))
	}
}

// String hides the password when a TLS setting is printed.
func (t TLS) String() string {
	pw := ""
	if t.Password != "" {
		pw = " password=(hidden)"
	}
	return fmt.Sprintf("{cert=%s key=%s%s}", t.CertificateFile, t.CertificateKeyFile, pw)
}
