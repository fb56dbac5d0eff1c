package web

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckEvery is how often a handshake looks whether tls_cert or
// tls_key changed: a stat of two files, at most once a second.
const certCheckEvery = time.Second

// certReloader serves tls_cert/tls_key and reads them again when either
// file changes (a renewal by certbot or an ACME client), without a
// restart. A pair that does not load (a half-written renewal, a key
// that does not match) is logged and the certificate in use stays.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]fileStamp
	lastCheck time.Time
}

// fileStamp is what tells a changed file: its modification time and
// size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// newCertReloader loads the pair once; an error then is the server's
// start failing.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, every: certCheckEvery, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the pair; c.mu is held or c is not shared yet.
func (c *certReloader) load() error {
	cs, err := stampOf(c.certFile)
	if err != nil {
		return fmt.Errorf("tls_cert: %w", err)
	}
	ks, err := stampOf(c.keyFile)
	if err != nil {
		return fmt.Errorf("tls_key: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls_cert/tls_key: %w", err)
	}
	c.cert, c.stamp = &cert, [2]fileStamp{cs, ks}
	return nil
}

// GetCertificate is the tls.Config hook: the current certificate, read
// again first when a file changed since the last look.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.lastCheck) < c.every {
		return c.cert, nil
	}
	c.lastCheck = now
	cs, err1 := stampOf(c.certFile)
	ks, err2 := stampOf(c.keyFile)
	if err1 != nil || err2 != nil || [2]fileStamp{cs, ks} == c.stamp {
		// A file gone for a moment (replaced by a rename) is looked at
		// again at the next handshake.
		return c.cert, nil
	}
	if err := c.load(); err != nil {
		// Do not try this same pair again at every handshake; a further
		// change of either file is tried.
		c.stamp = [2]fileStamp{cs, ks}
		c.log.Warn("TLS certificate changed but does not load; the previous one stays in use", "cert", c.certFile, "err", err)
		return c.cert, nil
	}
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "not_after", c.cert.Leaf.NotAfter)
	return c.cert, nil
}
