package monitor

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults of LinkConfig.
const (
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = time.Minute
	DefaultDialTimeout  = 10 * time.Second
	// DefaultLinkGrace is long enough for a PBX or router restart that
	// keeps its calls up, or a network blip, and short enough that a call
	// never lingers on a wallboard for long after its link died.
	DefaultLinkGrace = 60 * time.Second
)

// LinkConfig is what every networked source's configuration shares. Each
// source embeds it in its own Config with `yaml:",inline"`, so the keys
// sit beside the source's own. Durations are written like "30s" or "2m".
type LinkConfig struct {
	// Address is the PBX or router as host or host:port; the port
	// defaults to the source's own (1012, 5038, 8021).
	Address string `yaml:"address"`
	// ReconnectMin is the first wait after a failed or lost connection;
	// it doubles per failure up to ReconnectMax, with jitter, and starts
	// over after a session that stayed up at least ReconnectMax. Defaults
	// 1s and 1m (never below ReconnectMin).
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// DialTimeout bounds connecting, logging in and the resync. Default
	// 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// LinkGrace is how long the calls of a lost link are kept while it
	// reconnects: a link back within it reconciles them with the PBX's
	// own list (calls still up go on, calls gone end as failed "ended
	// while disconnected"); a link down longer ends them all as failed
	// "link lost". Default 60s.
	LinkGrace time.Duration `yaml:"link_grace"`
}

// WithDefaults returns c with every unset field at its default and port
// added to an address without one.
func (c LinkConfig) WithDefaults(port string) LinkConfig {
	c.Address = withPort(c.Address, port)
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = max(DefaultReconnectMax, c.ReconnectMin)
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.LinkGrace == 0 {
		c.LinkGrace = DefaultLinkGrace
	}
	return c
}

// Validate reports the first setting that cannot work, the source's
// default port assumed. Unset fields are fine: they take their defaults.
func (c LinkConfig) Validate(port string) error {
	d := c.WithDefaults(port)
	switch {
	case d.Address == "":
		return fmt.Errorf("%w: address is required", ErrInvalidConfig)
	case d.ReconnectMin < 0 || d.ReconnectMax < d.ReconnectMin:
		return fmt.Errorf("%w: reconnect_min %s, reconnect_max %s", ErrInvalidConfig, d.ReconnectMin, d.ReconnectMax)
	case d.DialTimeout < 0:
		return fmt.Errorf("%w: dial_timeout %s", ErrInvalidConfig, d.DialTimeout)
	case d.LinkGrace < 0:
		return fmt.Errorf("%w: link_grace %s", ErrInvalidConfig, d.LinkGrace)
	}
	host, p, err := net.SplitHostPort(d.Address)
	if err != nil {
		return fmt.Errorf("%w: address %q: %w", ErrInvalidConfig, c.Address, err)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || host == "" {
		return fmt.Errorf("%w: address %q: want host or host:port", ErrInvalidConfig, c.Address)
	}
	return nil
}

// withPort adds port to an address without one.
func withPort(addr, port string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	if _, _, err := net.SplitHostPort(addr); err == nil || port == "" {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), port)
}

// Secret is a credential given in the configuration or in a file beside
// it (a mounted container secret). Sources keep their own YAML keys for
// the two (secret and secret_file, password and password_file) and share
// this one rule. A Secret's value is never logged.
type Secret struct {
	// Value is the credential as written.
	Value string
	// File holds the credential instead; surrounding white space, a
	// trailing newline above all, is trimmed.
	File string
}

// Validate reports a secret given both ways; key names the inline key in
// the message ("secret", "password").
func (s Secret) Validate(key string) error {
	if s.Value != "" && s.File != "" {
		return fmt.Errorf("%w: give %s or %s_file, not both", ErrInvalidConfig, key, key)
	}
	return nil
}

// IsZero reports whether the secret is given neither way.
func (s Secret) IsZero() bool { return s.Value == "" && s.File == "" }

// Read returns the credential, reading File when set.
func (s Secret) Read() (string, error) {
	if s.File == "" {
		return s.Value, nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
