package conf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Limits are what one client may ask of a server, set in <server> or
// <server-default> (Resin's url-length-max, header-size-max and
// header-count-max keep their names). Zero means no limit, except where a
// field says otherwise.
type Limits struct {
	// ConnectionMax bounds the open connections of each listener
	// (connection-max, default 4096). Beyond it new connections wait in
	// the kernel's accept queue until one closes.
	ConnectionMax int
	// URLLengthMax bounds the request target (url-length-max, default 8k):
	// a longer one is answered 414.
	URLLengthMax int
	// HeaderSizeMax bounds the request line and headers together
	// (header-size-max, default 64k): more is answered 431.
	HeaderSizeMax int
	// HeaderCountMax bounds the number of header lines (header-count-max,
	// default 100): more is answered 431.
	HeaderCountMax int
	// BodySizeMax bounds a request body (body-size-max, default 64M): a
	// larger one is answered 413. 0 is no limit.
	BodySizeMax int64
	// HeaderTimeout bounds the time a client may take to send the request
	// line and headers (header-timeout, default 15s, never more than
	// socket-timeout); slower clients are disconnected.
	HeaderTimeout time.Duration
}

// DefaultLimits are the limits of a server that sets none.
var DefaultLimits = Limits{
	ConnectionMax:  4096,
	URLLengthMax:   8 << 10,
	HeaderSizeMax:  64 << 10,
	HeaderCountMax: 100,
	BodySizeMax:    64 << 20,
	HeaderTimeout:  15 * time.Second,
}

// TLS is the <openssl> or <jsse-ssl> of an <http> listener: the listener
// speaks TLS 1.2 or later with this certificate, and HTTP/2 as well as
// HTTP/1.1.
type TLS struct {
	Pos Pos
	// CertificateFile and CertificateKeyFile are absolute paths of PEM
	// files; the certificate file may hold the chain after the leaf.
	CertificateFile    string
	CertificateKeyFile string
	// Password decrypts a legacy encrypted PEM key ("Proc-Type:
	// 4,ENCRYPTED"); "" when the key is not encrypted. It is a secret:
	// never log it.
	Password string
	// MinVersion is tls.VersionTLS12 unless <protocol> asks for TLS 1.3
	// only.
	MinVersion uint16
}

// limitProp applies one child of <server> or <server-default> that sets a
// limit, and reports whether p was one.
func (l *loader) limitProp(lim *Limits, p prop) bool {
	var n *int
	switch p.name {
	case "connection-max":
		n = &lim.ConnectionMax
	case "url-length-max", "max-uri-length":
		n = &lim.URLLengthMax
	case "header-size-max":
		n = &lim.HeaderSizeMax
	case "header-count-max":
		n = &lim.HeaderCountMax
	case "body-size-max":
		v, ok := l.str(p)
		if !ok || v == "" {
			return true
		}
		if v == "-1" {
			lim.BodySizeMax = 0
			return true
		}
		size, err := parseSize(v)
		if err != nil {
			l.errorf(p.pos, "%s: body-size-max: %v", l.desc(p.owner), err)
			return true
		}
		lim.BodySizeMax = size
		return true
	case "header-timeout":
		v, ok := l.str(p)
		if !ok || v == "" {
			return true
		}
		d, err := parseDuration(v)
		switch {
		case err != nil:
			l.errorf(p.pos, "%s: header-timeout: %v", l.desc(p.owner), err)
		case d == forever || d == 0:
			l.errorf(p.pos, "%s: header-timeout must be a positive time (e.g. 15s): without one a slow client holds a connection for ever", l.desc(p.owner))
		default:
			lim.HeaderTimeout = d
		}
		return true
	default:
		return false
	}
	if v, ok := l.str(p); ok && v != "" {
		size, err := parseSize(v)
		switch {
		case err != nil:
			l.errorf(p.pos, "%s: %s: %v", l.desc(p.owner), p.name, err)
		case size < 1 || size > 1<<30:
			l.errorf(p.pos, "%s: %s: %s is out of range (1 to 1G)", l.desc(p.owner), p.name, v)
		default:
			*n = int(size)
		}
	}
	return true
}

// tlsSetting reads <openssl> or <jsse-ssl> inside an <http>. It returns nil, after
// a warning or an error, when the listener cannot be opened with it.
func (l *loader) tlsSetting(listener *node, n *node) *TLS {
	t := &TLS{Pos: n.pos, MinVersion: tls.VersionTLS12}
	dir := filepath.Dir(n.abs)
	var unsupported []string
	for _, p := range props(n) {
		switch p.name {
		case "certificate-file", "certificate-key-file":
			v, ok := l.str(p)
			if !ok || v == "" {
				continue
			}
			if p.name == "certificate-file" {
				t.CertificateFile = l.resolve(dir, v)
			} else {
				t.CertificateKeyFile = l.resolve(dir, v)
			}
		case "password":
			t.Password, _ = l.secretStr(p)
		case "protocol":
			v, _ := l.str(p)
			min, err := minTLSVersion(v)
			if err != nil {
				l.errorf(p.pos, "%s: <protocol>: %v", l.desc(n), err)
				continue
			}
			t.MinVersion = min
		case "cipher-suite":
			// Go's TLS stack chooses among modern AEAD suites only and
			// TLS 1.3's are fixed; an OpenSSL cipher string cannot widen
			// that, so it is read and not applied.
			l.warnf(p.pos, "%s: <cipher-suite> is ignored: resind offers only modern AEAD cipher suites (ECDHE with AES-GCM or ChaCha20-Poly1305)", l.desc(n))
		case "key-store-file", "key-store-type", "self-signed-certificate-name", "certificate-chain-file",
			"ca-certificate-file", "ca-certificate-path", "verify-client", "alias", "key-manager-factory", "ssl-context":
			unsupported = append(unsupported, p.name)
		default:
			l.unknown(p)
		}
	}
	if t.CertificateFile == "" || t.CertificateKeyFile == "" {
		why := "certificate-file and certificate-key-file are required"
		if len(unsupported) > 0 {
			why = fmt.Sprintf("%s is not supported; give certificate-file and certificate-key-file (PEM)", strings.Join(unsupported, ", "))
		}
		l.warnf(listener.pos, "%s: TLS (<%s>) is not supported without a PEM certificate: %s; this listener is not opened", l.desc(listener), n.qname, why)
		return nil
	}
	if len(unsupported) > 0 {
		l.warnf(n.pos, "%s: %s: not supported; ignored", l.desc(n), strings.Join(unsupported, ", "))
	}
	if _, err := LoadCertificate(t); err != nil {
		l.errorf(n.pos, "%s: %v", l.desc(n), err)
		return nil
	}
	l.secretFile(t.CertificateKeyFile, n.pos)
	return t
}

// minTLSVersion reads <protocol>: an OpenSSL-style list such as "TLSv1.2
// TLSv1.3" or "+TLSv1.3 -TLSv1.2". The lowest version enabled is returned;
// anything older than TLS 1.2 is refused.
func minTLSVersion(s string) (uint16, error) {
	min := uint16(0)
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ' ' || r == ',' || r == ':' || r == '\t' }) {
		if strings.HasPrefix(f, "-") || strings.HasPrefix(f, "!") {
			continue
		}
		f = strings.TrimPrefix(f, "+")
		var v uint16
		switch strings.ToLower(strings.ReplaceAll(f, "_", ".")) {
		case "tlsv1.2", "tls1.2", "tlsv12":
			v = tls.VersionTLS12
		case "tlsv1.3", "tls1.3", "tlsv13":
			v = tls.VersionTLS13
		case "all":
			v = tls.VersionTLS12
		case "sslv2", "sslv3", "tlsv1", "tlsv1.0", "tlsv1.1", "tls1", "tls1.1":
			return 0, fmt.Errorf("%s is insecure and not offered; use TLSv1.2 or TLSv1.3", f)
		default:
			return 0, fmt.Errorf("%q is not a protocol (TLSv1.2, TLSv1.3)", f)
		}
		if min == 0 || v < min {
			min = v
		}
	}
	if min == 0 {
		return 0, errors.New("no protocol is enabled (TLSv1.2, TLSv1.3)")
	}
	return min, nil
}

// LoadCertificate reads t's certificate and key, decrypting a legacy
// encrypted PEM key with t.Password. Errors name the file and never hold
// the password.
func LoadCertificate(t *TLS) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(t.CertificateFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate-file: %w", err)
	}
	keyPEM, err := os.ReadFile(t.CertificateKeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate-key-file: %w", err)
	}
	if block, _ := pem.Decode(keyPEM); block != nil && x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // Resin's OpenSSL keys use legacy PEM encryption
		if t.Password == "" {
			return tls.Certificate{}, fmt.Errorf("certificate-key-file %s is encrypted and no <password> is given", t.CertificateKeyFile)
		}
		der, err := x509.DecryptPEMBlock(block, []byte(t.Password)) //nolint:staticcheck // as above
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("certificate-key-file %s: cannot decrypt with the <password> given", t.CertificateKeyFile)
		}
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der})
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s and %s: %v", t.CertificateFile, t.CertificateKeyFile, err)
	}
	return cert, nil
}
