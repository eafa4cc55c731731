package conf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLimitsDefaultWhenUnset(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c"><server id="a"><http port="8080"/></server></cluster>`))
	if got := cfg.Clusters[0].Servers[0].Limits; got != DefaultLimits {
		t.Errorf("limits %+v, want the defaults %+v", got, DefaultLimits)
	}
}

func TestLimitsFromServerDefaultAndServer(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c">
  <server-default>
    <connection-max>10</connection-max>
    <header-size-max>16k</header-size-max>
    <body-size-max>1M</body-size-max>
  </server-default>
  <server id="a" header-count-max="20" url-length-max="2k">
    <header-timeout>3s</header-timeout>
    <http port="8080" connection-max="5"/>
  </server>
  <server id="b" body-size-max="-1" max-uri-length="100"/>
</cluster>`))
	a, b := cfg.Clusters[0].Servers[0], cfg.Clusters[0].Servers[1]
	want := Limits{ConnectionMax: 10, URLLengthMax: 2048, HeaderSizeMax: 16 << 10, HeaderCountMax: 20, BodySizeMax: 1 << 20, HeaderTimeout: 3 * time.Second}
	if a.Limits != want {
		t.Errorf("a: %+v, want %+v", a.Limits, want)
	}
	if a.HTTP[0].ConnectionMax != 5 {
		t.Errorf("a's <http connection-max> = %d, want 5", a.HTTP[0].ConnectionMax)
	}
	if b.Limits.BodySizeMax != 0 || b.Limits.URLLengthMax != 100 || b.Limits.ConnectionMax != 10 {
		t.Errorf("b: %+v (body-size-max -1 is no limit; the default's connection-max applies)", b.Limits)
	}
}

func TestLimitRefusalsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{`<connection-max>lots</connection-max>`, `resin.xml:3: <server id="a">: connection-max: "lots" is not a size`},
		{`<header-size-max>0</header-size-max>`, `resin.xml:3: <server id="a">: header-size-max: 0 is out of range`},
		{`<header-count-max>2G</header-count-max>`, `resin.xml:3: <server id="a">: header-count-max: 2G is out of range`},
		{`<body-size-max>big</body-size-max>`, `resin.xml:3: <server id="a">: body-size-max: "big" is not a size`},
		{`<header-timeout>-1</header-timeout>`, `resin.xml:3: <server id="a">: header-timeout must be a positive time`},
	} {
		got := strings.Join(refused(t, resinXML("<cluster id=\"c\"><server id=\"a\">\n"+tc.body+"\n</server></cluster>")), "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n got %s\nwant %s", tc.body, got, tc.want)
		}
	}
}

// writeCert writes a self-signed certificate and its key as PEM into dir;
// with password the key is encrypted the way `openssl rsa -des3` does.
func writeCert(t *testing.T, dir, password string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}
	if password != "" {
		block, err = x509.EncryptPEMBlock(rand.Reader, block.Type, kder, []byte(password), x509.PEMCipherAES256) //nolint:staticcheck // Resin's keys are made this way
		if err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile = filepath.Join(dir, "keys", "site.crt"), filepath.Join(dir, "keys", "site.key")
	os.MkdirAll(filepath.Dir(certFile), 0o700)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestOpenSSLListenerLoadsItsCertificate(t *testing.T) {
	t.Parallel()
	for _, password := range []string{"", "test123"} {
		dir := t.TempDir()
		writeCert(t, dir, password)
		xml := resinXML(`<cluster id="c"><server id="a">
  <http port="8443">
    <openssl>
      <certificate-file>keys/site.crt</certificate-file>
      <certificate-key-file>keys/site.key</certificate-key-file>
      <password>` + password + `</password>
      <protocol>TLSv1.3</protocol>
    </openssl>
  </http>
</server></cluster>`)
		path := filepath.Join(dir, "resin.xml")
		os.WriteFile(path, []byte(xml), 0o600)
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("password %q: %v", password, err)
		}
		ln := cfg.Clusters[0].Servers[0].HTTP
		if len(ln) != 1 || ln[0].TLS == nil {
			t.Fatalf("listeners %+v", ln)
		}
		tc := ln[0].TLS
		if tc.CertificateFile != filepath.Join(dir, "keys/site.crt") || tc.MinVersion != tls.VersionTLS13 || tc.Password != password {
			t.Errorf("TLS %+v", *tc)
		}
		if _, err := LoadCertificate(tc); err != nil {
			t.Error(err)
		}
		if password != "" && strings.Contains(tc.String(), password) {
			t.Errorf("TLS.String() shows the password: %s", tc)
		}
		if hasWarning(cfg, "holds secrets") {
			t.Errorf("warned about files only their owner reads: %v", cfg.Warnings)
		}
		// A private key others may read is warned about, naming it.
		os.Chmod(filepath.Join(dir, "keys/site.key"), 0o644)
		if cfg, err = Load(path); err != nil || !hasWarning(cfg, "chmod 600 "+filepath.Join(dir, "keys/site.key")) {
			t.Errorf("a world-readable key: %v %v", err, cfg.Warnings)
		}
	}
}

func TestTLSRefusalsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ tls, password, want string }{
		{`<certificate-file>keys/none.crt</certificate-file><certificate-key-file>keys/site.key</certificate-key-file>`, "",
			"resin.xml:4: <openssl>: certificate-file: open "},
		{`<certificate-file>keys/site.crt</certificate-file><certificate-key-file>keys/site.key</certificate-key-file>`, "sesame",
			"resin.xml:4: <openssl>: certificate-key-file " /* encrypted, no password */},
		{`<certificate-file>keys/site.crt</certificate-file><certificate-key-file>keys/site.key</certificate-key-file><password>wrong</password>`, "sesame",
			"cannot decrypt with the <password> given"},
		{`<certificate-file>keys/site.crt</certificate-file><certificate-key-file>keys/site.crt</certificate-key-file>`, "",
			"resin.xml:4: <openssl>: "},
		{`<certificate-file>keys/site.crt</certificate-file><certificate-key-file>keys/site.key</certificate-key-file><protocol>SSLv3 TLSv1.2</protocol>`, "",
			"resin.xml:6: <openssl>: <protocol>: SSLv3 is insecure"},
	} {
		dir := t.TempDir()
		writeCert(t, dir, tc.password)
		path := filepath.Join(dir, "resin.xml")
		os.WriteFile(path, []byte(resinXML("<cluster id=\"c\"><server id=\"a\">\n<http port=\"8443\">\n<openssl>\n"+strings.ReplaceAll(tc.tls, "><protocol>", ">\n<protocol>")+"</openssl></http></server></cluster>")), 0o600)
		_, err := Load(path)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir+"/", ""), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.tls, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "wrong") {
			t.Errorf("the refusal shows the password: %v", err)
		}
	}
}

func TestJavaKeyStoreListenerIsLeftOutWithWarning(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, resinXML(`<cluster id="c"><server id="a">
    <http port="8443"><jsse-ssl><key-store-type>jks</key-store-type><key-store-file>keys/a.jks</key-store-file></jsse-ssl></http>
  </server></cluster>`))
	if l := cfg.Clusters[0].Servers[0].HTTP; len(l) != 0 {
		t.Errorf("listeners %+v", l)
	}
	if !hasWarning(cfg, "resin.xml:3: <http>: TLS (<jsse-ssl>) is not supported without a PEM certificate: key-store-type, key-store-file is not supported") {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestReadableSecretsAreWarnedAbout(t *testing.T) {
	t.Parallel()
	xml := resinXML(`<resin-system-auth-key>sys-key-123</resin-system-auth-key>
<resin:AdminAuthenticator password-digest="none">
  <resin:user name="admin" password="pw-456"/>
</resin:AdminAuthenticator>
<cluster id="c"><server id="a"/></cluster>`)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o600} {
		dir := t.TempDir()
		path := filepath.Join(dir, "resin.xml")
		os.WriteFile(path, []byte(xml), mode)
		os.Chmod(path, mode)
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		warned := hasWarning(cfg, "resin.xml:2: this file holds secrets and is readable by other users")
		if warned != (mode != 0o600) {
			t.Errorf("mode %04o: warned %v: %v", mode, warned, cfg.Warnings)
		}
		for _, w := range cfg.Warnings {
			if strings.Contains(w.Msg, "sys-key-123") || strings.Contains(w.Msg, "pw-456") {
				t.Errorf("a warning shows a secret: %s", w)
			}
		}
	}
	// A broken expression where a secret is written is refused without
	// the text.
	got := strings.Join(refused(t, strings.Replace(xml, "sys-key-123", "${sys-key-123", 1)), "\n")
	if !strings.Contains(got, "resin.xml:2: <resin-system-auth-key>: the value is not a valid expression") || strings.Contains(got, "sys-key") {
		t.Errorf("refusal: %s", got)
	}
	// A file without secrets may be world-readable.
	cfg := mustLoad(t, resinXML(`<cluster id="c"><server id="a"/></cluster>`))
	if hasWarning(cfg, "holds secrets") {
		t.Errorf("warned about a file without secrets: %v", cfg.Warnings)
	}
}

func TestMinTLSVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint16{"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13, "+TLSv1.3 -TLSv1.2": tls.VersionTLS13,
		"TLSv1.2,TLSv1.3": tls.VersionTLS12, "all -SSLv3": tls.VersionTLS12} {
		if got, err := minTLSVersion(in); err != nil || got != want {
			t.Errorf("%q = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, in := range []string{"", "TLSv1", "-TLSv1.2", "QUIC"} {
		if _, err := minTLSVersion(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzMinTLSVersion: <protocol> never yields a version older than TLS 1.2.
func FuzzMinTLSVersion(f *testing.F) {
	for _, s := range []string{"TLSv1.2", "+TLSv1.3 -TLSv1.2", "all -SSLv3 -TLSv1", "SSLv2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := minTLSVersion(s)
		if err == nil && v < tls.VersionTLS12 {
			t.Fatalf("%q gives version %x", s, v)
		}
	})
}

// FuzzServerLimits loads a <server> whose children are the input (limits,
// <http> with <openssl>, …): Load never panics, a refusal names a line,
// and a loaded server never has a limit below its floor.
func FuzzServerLimits(f *testing.F) {
	for _, s := range []string{
		`<connection-max>10</connection-max><body-size-max>-1</body-size-max><header-timeout>3s</header-timeout>`,
		`<http port="8443" connection-max="2k"><openssl><certificate-file>a</certificate-file><certificate-key-file>b</certificate-key-file><protocol>TLSv1.3</protocol></openssl></http>`,
		`<http port="1"><jsse-ssl><key-store-file>x.jks</key-store-file></jsse-ssl></http><url-length-max>1G</url-length-max>`,
		`<header-size-max>${1+1}k</header-size-max><header-count-max>0x10</header-count-max>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "resin.xml")
		os.WriteFile(path, []byte(resinXML(`<cluster id="c"><server id="a">`+body+`</server></cluster>`)), 0o600)
		cfg, err := Load(path)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T: %v", err, err)
			}
			for _, d := range ce.Diags {
				if d.Pos.File == "" {
					t.Fatalf("a refusal without a file: %v", d)
				}
			}
			return
		}
		for _, cl := range cfg.Clusters {
			for _, s := range cl.Servers {
				l := s.Limits
				if l.ConnectionMax < 0 || l.URLLengthMax < 0 || l.HeaderSizeMax < 1 || l.HeaderCountMax < 0 || l.BodySizeMax < 0 || l.HeaderTimeout <= 0 {
					t.Fatalf("limits %+v", l)
				}
				for _, h := range s.HTTP {
					if h.TLS != nil && h.TLS.MinVersion < tls.VersionTLS12 {
						t.Fatalf("TLS %+v", *h.TLS)
					}
				}
			}
		}
	})
}
