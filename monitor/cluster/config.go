// Package cluster joins Switchboard nodes through NATS JetStream: every
// change a node's sources make goes to one stream, every node's hub is fed
// from it, and each PBX or router source is connected by one node at a
// time, the holder of its lease in a key-value bucket.
package cluster

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrBadConfig is wrapped by every error of Config.Validate.
var ErrBadConfig = errors.New("invalid cluster configuration")

// DefaultLeaseTTL is how long a source's lease lasts without renewal when
// the configuration names no lease_ttl: a dead owner's sources are taken
// over within it.
const DefaultLeaseTTL = 10 * time.Second

// MinLeaseTTL is the shortest lease_ttl: the owner renews three times per
// TTL, and less leaves a busy NATS server no time to answer.
const MinLeaseTTL = time.Second

// Config is the cluster: section of the configuration.
type Config struct {
	// NATS is the NATS server (or cluster) the nodes share.
	NATS NATSConfig `yaml:"nats"`
	// Node names this node among the others: unique, and the same across
	// its restarts (letters, digits, - and _).
	Node string `yaml:"node"`
	// LeaseTTL is how long a source's lease lasts unless renewed; a dead
	// node's sources are taken over within it. The same on every node.
	// Default 10s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// NATSConfig says how to reach NATS.
type NATSConfig struct {
	// URL is nats://host:port (tls://… for TLS); several, comma-separated,
	// for the servers of a NATS cluster.
	URL string `yaml:"url"`
	// CredsFile is a NATS credentials file (a user JWT and its NKey seed);
	// empty connects without.
	CredsFile string `yaml:"creds_file"`
}

// TTL returns the lease TTL, the default when none is set.
func (c Config) TTL() time.Duration {
	if c.LeaseTTL == 0 {
		return DefaultLeaseTTL
	}
	return c.LeaseTTL
}

// Validate checks the URL, the node's name and the lease TTL; errors
// wrap ErrBadConfig.
func (c Config) Validate() error {
	if strings.TrimSpace(c.NATS.URL) == "" {
		return fmt.Errorf("%w: nats: url is required (nats://host:4222)", ErrBadConfig)
	}
	for raw := range strings.SplitSeq(c.NATS.URL, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%w: nats: url %q: want nats://host:port", ErrBadConfig, raw)
		}
		switch u.Scheme {
		case "nats", "tls":
		default:
			return fmt.Errorf("%w: nats: url %q: want the scheme nats:// or tls://", ErrBadConfig, raw)
		}
	}
	if c.Node == "" {
		return fmt.Errorf("%w: node is required: a name for this node, unique among them", ErrBadConfig)
	}
	if !validName(c.Node) {
		return fmt.Errorf("%w: node %q: only letters, digits, - and _", ErrBadConfig, c.Node)
	}
	if c.LeaseTTL != 0 && c.LeaseTTL < MinLeaseTTL {
		return fmt.Errorf("%w: lease_ttl %s is too short: at least %s", ErrBadConfig, c.LeaseTTL, MinLeaseTTL)
	}
	return nil
}

// validName reports whether s is a node name: 1 to 64 letters, digits,
// - and _.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
