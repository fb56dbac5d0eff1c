package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate for 127.0.0.1 with serial
// and its key to certFile and keyFile, dated mod.
func writePair(t *testing.T, certFile, keyFile string, serial int64, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial is the serial of the certificate a TLS handshake with
// addr gets.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} // the test reads the served certificate, whatever it is
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSReload: a renewed certificate is served without a restart; a
// renewal that does not load leaves the one in use.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	writePair(t, certFile, keyFile, 1, t0)
	cfg := testConfig(t)
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	logs := &logBuffer{}
	srv := runServer(t, cfg, Deps{}, WithLogger(logs.logger()))
	addr := srv.Addr().String()
	if got := servedSerial(t, addr); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	writePair(t, certFile, keyFile, 2, t0.Add(time.Minute))
	// The files are looked at once a second.
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(t, addr) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was not served: %s", grepLines(logs.String(), "TLS"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no log line for the reload: %s", logs.String())
	}
}

func TestTLSReloadBadRenewal(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	writePair(t, certFile, keyFile, 1, t0)
	logs := &logBuffer{}
	c, err := newCertReloader(certFile, keyFile, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	c.every = 0
	serial := func() int64 {
		cert, err := c.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return cert.Leaf.SerialNumber.Int64()
	}
	// Half a renewal: the new key is written, the certificate not yet.
	other := filepath.Join(dir, "other")
	writePair(t, other+".crt", other+".key", 2, t0)
	b, _ := os.ReadFile(other + ".key")
	if err := os.WriteFile(keyFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != 1 {
		t.Errorf("a mismatched pair: serial %d, want the old 1", got)
	}
	if !strings.Contains(logs.String(), "does not load") {
		t.Errorf("no warning for the pair that does not load: %s", logs.String())
	}
	writePair(t, certFile, keyFile, 3, t0.Add(2*time.Minute))
	if got := serial(); got != 3 {
		t.Errorf("after the whole renewal: serial %d, want 3", got)
	}
	if _, err := newCertReloader(filepath.Join(dir, "missing.pem"), keyFile, logs.logger()); err == nil {
		t.Error("a missing certificate at start was accepted")
	}
}
