package conf

import (
	"fmt"
	"os"
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

// checkSecretModes warns about each file holding a secret that its group or
// other users may read: anyone with a login on the machine could read the
// admin password hashes, the system key or the TLS private key.
func (l *loader) checkSecretModes() {
	for abs, at := range l.secrets {
		fi, err := os.Stat(abs)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		l.warnf(at, "%s holds secrets and is readable by other users (mode %04o); make it readable by its owner only: chmod 600 %s",
			l.show(abs), fi.Mode().Perm(), l.show(abs))
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
