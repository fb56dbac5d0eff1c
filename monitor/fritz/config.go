package fritz

import (
	"fmt"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// DefaultPort is the call monitor's TCP port.
const DefaultPort = "1012"

// Config is one Fritz!Box source in the YAML source list. Durations are
// written like "30s" or "2m".
type Config struct {
	// Name names the source in calls and status ("home").
	Name monitor.SourceName `yaml:"name"`
	// Type is "fritz".
	Type string `yaml:"type"`
	// LinkConfig holds the keys every source shares: address (host or
	// host:port, the port defaulting to 1012), reconnect_min,
	// reconnect_max, dial_timeout and link_grace.
	monitor.LinkConfig `yaml:",inline"`
	// HealthInterval is how long the stream may stay silent before the
	// router is probed by opening a second connection to the same port,
	// as fritzconnection's FritzMonitor does (its socket timeout).
	// Default 10s.
	HealthInterval time.Duration `yaml:"health_interval"`
	// HealthTimeout bounds that probe connection (fritzconnection's
	// health-check timeout). Default 10s.
	HealthTimeout time.Duration `yaml:"health_timeout"`
	// KeepAlive is the TCP keep-alive idle time; probes follow every
	// KeepAlive/3, and the kernel drops the link after 3 unanswered ones.
	// Default 30s.
	KeepAlive time.Duration `yaml:"keepalive"`
	// Location is the router's time zone as an IANA name
	// ("Europe/Berlin"); its lines carry local times without a zone.
	// Default: the server's local zone.
	Location string `yaml:"location"`
	// InternalPrefixes mark internal numbers: a call to or from one is
	// internal. Default ["**"].
	InternalPrefixes []string `yaml:"internal_prefixes"`
}

// withDefaults returns c with every unset field at its default and the
// port added to Address.
func (c Config) withDefaults() Config {
	if c.Type == "" {
		c.Type = "fritz"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	c.LinkConfig = c.LinkConfig.WithDefaults(DefaultPort)
	def(&c.HealthInterval, 10*time.Second)
	def(&c.HealthTimeout, 10*time.Second)
	def(&c.KeepAlive, 30*time.Second)
	if c.InternalPrefixes == nil {
		c.InternalPrefixes = DefaultInternalPrefixes
	}
	return c
}

// Validate reports the first setting that cannot work. Unset fields are
// fine: they take their defaults.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.Name == "":
		return fmt.Errorf("%w: name is required", ErrInvalidConfig)
	case d.Type != "fritz":
		return fmt.Errorf("%w: type %q, want fritz", ErrInvalidConfig, d.Type)
	case d.HealthInterval < 0 || d.HealthTimeout < 0 || d.KeepAlive < 0:
		return fmt.Errorf("%w: negative timeout", ErrInvalidConfig)
	}
	if err := c.LinkConfig.Validate(DefaultPort); err != nil {
		return err
	}
	if _, err := d.location(); err != nil {
		return err
	}
	return nil
}

func (c Config) location() (*time.Location, error) {
	if c.Location == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Location)
	if err != nil {
		return nil, fmt.Errorf("%w: location %q: %w", ErrInvalidConfig, c.Location, err)
	}
	return loc, nil
}
