package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const tlsConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="web">
    <server id="web-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
      <http address="127.0.0.1" port="{{.HTTPS}}">
        <openssl>
          <certificate-file>keys/site.crt</certificate-file>
          <certificate-key-file>keys/site.key</certificate-key-file>
          <password>{{.Password}}</password>
        </openssl>
      </http>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/root"/>
    </host>
  </cluster>
</resin>
`

// writeSiteCert writes a certificate for 127.0.0.1 under dir/keys, its key
// encrypted with password as `openssl genrsa -aes256` does, and returns a
// pool trusting it.
func writeSiteCert(t *testing.T, dir, password string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", kder, []byte(password), x509.PEMCipherAES256) //nolint:staticcheck // the legacy format Resin's OpenSSL keys use
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "keys"), 0o700)
	os.WriteFile(filepath.Join(dir, "keys", "site.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "keys", "site.key"), pem.EncodeToMemory(block), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestOpenSSLListenerServesHTTP2OverModernTLS(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	d := struct {
		HTTP, HTTPS, Cluster int
		Password             string
	}{freePort(t), freePort(t), freePort(t), "test123"}
	pool := writeSiteCert(t, s.dir, d.Password)
	s.write("resin.xml", tlsConf, d)
	os.Chmod(s.conf, 0o600)
	s.writeRaw("root/index.html", "home")
	s.start("web-a")

	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := h2.Get(fmt.Sprintf("https://127.0.0.1:%d/", d.HTTPS))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(body) != "home" || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET over TLS = %d %s %q (TLS %x)", resp.StatusCode, resp.Proto, body, resp.TLS.Version)
	}
	// The plain listener beside it is still plain.
	if resp, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", d.HTTP)); resp.StatusCode != 200 || body != "home" {
		t.Errorf("plain GET = %d %q", resp.StatusCode, body)
	}
	// Old protocols are not offered.
	if c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.HTTPS), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Errorf("a TLS 1.1 handshake succeeded")
	}
	st := s.resind("-server", "web-a", "status")
	if !strings.Contains(st.stdout, fmt.Sprintf("https 127.0.0.1:%d", d.HTTPS)) {
		t.Errorf("status does not list the https listener:\n%s", st.stdout)
	}
	for _, f := range []string{"web-a.log", "web-a.out"} {
		b, _ := os.ReadFile(filepath.Join(s.dir, "log", f))
		if strings.Contains(string(b), d.Password) {
			t.Errorf("%s shows the key's password", f)
		}
	}
	if strings.Contains(s.log("web-a"), "holds secrets") {
		t.Errorf("warned about files readable by the owner only:\n%s", s.log("web-a"))
	}
}
