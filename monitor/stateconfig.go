package monitor

import (
	"fmt"
	"time"
)

// DefaultStateRefresh is how often a source lists its queues again when
// StateConfig.StateRefresh is unset.
const DefaultStateRefresh = 60 * time.Second

// DefaultServiceLevel is the service-level threshold of a queue whose PBX
// sets none and that the configuration does not name.
const DefaultServiceLevel = 20 * time.Second

// StateConfig are the keys of the sources that report extension and queue
// state (Asterisk, FreeSWITCH), inline in their configuration.
type StateConfig struct {
	// StateRefresh is how often the queues are listed again (Asterisk
	// QueueStatus and QueueSummary) to correct what the events missed.
	// Default 60s; negative: only after each (re)connect.
	StateRefresh time.Duration `yaml:"state_refresh"`
	// ServiceLevel is the threshold T of a queue's service level (answered
	// within T) for queues whose PBX sets none: every FreeSWITCH queue, an
	// Asterisk queue without servicelevel. Default 20s.
	ServiceLevel time.Duration `yaml:"service_level"`
	// ServiceLevels sets T per queue name, over ServiceLevel.
	ServiceLevels map[string]time.Duration `yaml:"service_levels"`
}

// Validate reports a state configuration that cannot work.
func (c StateConfig) Validate() error {
	if c.ServiceLevel < 0 {
		return fmt.Errorf("%w: service_level %s is negative", ErrInvalidConfig, c.ServiceLevel)
	}
	for q, d := range c.ServiceLevels {
		if d <= 0 {
			return fmt.Errorf("%w: service_levels %s: %s is not positive", ErrInvalidConfig, q, d)
		}
	}
	return nil
}

// Refresh is the refresh period in effect; 0 means never.
func (c StateConfig) Refresh() time.Duration {
	switch {
	case c.StateRefresh < 0:
		return 0
	case c.StateRefresh == 0:
		return DefaultStateRefresh
	}
	return c.StateRefresh
}

// Threshold is the service-level threshold of queue in whole seconds.
func (c StateConfig) Threshold(queue string) int {
	if d, ok := c.ServiceLevels[queue]; ok {
		return int(d / time.Second)
	}
	if c.ServiceLevel > 0 {
		return int(c.ServiceLevel / time.Second)
	}
	return int(DefaultServiceLevel / time.Second)
}
