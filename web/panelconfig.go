package web

import (
	"fmt"
	"strings"
	"time"
)

// PanelConfig is the `panel:` section: how the operator panel groups its
// lamps and when its queue figures turn amber (warn) or red (bad).
type PanelConfig struct {
	// Groups are the lamp groups, in the order shown. An extension shows
	// in every group that names it; those no group names show under
	// "Other extensions". No groups: one grid of every extension.
	Groups []PanelGroup `yaml:"groups"`
	// SLWarn and SLBad are service levels in percent: a queue's SL below
	// SLWarn is amber, below SLBad red. Defaults 80 and 60.
	SLWarn float64 `yaml:"sl_warn"`
	SLBad  float64 `yaml:"sl_bad"`
	// AbandonedWarn and AbandonedBad are abandon rates in percent: above
	// AbandonedWarn amber, above AbandonedBad red. Defaults 5 and 10.
	AbandonedWarn float64 `yaml:"abandoned_warn"`
	AbandonedBad  float64 `yaml:"abandoned_bad"`
	// WaitWarn and WaitBad are waits: a longest wait beyond WaitWarn is
	// amber, beyond WaitBad red. Defaults 30s and 60s.
	WaitWarn time.Duration `yaml:"wait_warn"`
	WaitBad  time.Duration `yaml:"wait_bad"`
}

// PanelGroup is one group of lamps.
type PanelGroup struct {
	// Name is the group's heading ("Reception", "Sales").
	Name string `yaml:"name" json:"name"`
	// Extensions name the group's extensions, each a number ("201"), an
	// extension id ("pbx:201@ext-local") or a pattern of either where *
	// stands for any characters ("2*", "pbx:*"); the page matches them.
	Extensions []string `yaml:"extensions" json:"extensions"`
}

// Default panel thresholds.
const (
	DefaultSLWarn        = 80
	DefaultSLBad         = 60
	DefaultAbandonedWarn = 5
	DefaultAbandonedBad  = 10
	DefaultWaitWarn      = 30 * time.Second
	DefaultWaitBad       = 60 * time.Second
)

func (p PanelConfig) withDefaults() PanelConfig {
	if p.SLWarn == 0 {
		p.SLWarn = DefaultSLWarn
	}
	if p.SLBad == 0 {
		p.SLBad = DefaultSLBad
	}
	if p.AbandonedWarn == 0 {
		p.AbandonedWarn = DefaultAbandonedWarn
	}
	if p.AbandonedBad == 0 {
		p.AbandonedBad = DefaultAbandonedBad
	}
	if p.WaitWarn == 0 {
		p.WaitWarn = DefaultWaitWarn
	}
	if p.WaitBad == 0 {
		p.WaitBad = DefaultWaitBad
	}
	return p
}

// validate checks p (with its defaults).
func (p PanelConfig) validate() error {
	for _, v := range []struct {
		name string
		v    float64
	}{{"sl_warn", p.SLWarn}, {"sl_bad", p.SLBad}, {"abandoned_warn", p.AbandonedWarn}, {"abandoned_bad", p.AbandonedBad}} {
		if v.v < 0 || v.v > 100 {
			return fmt.Errorf("%s %g: want a percentage from 0 to 100", v.name, v.v)
		}
	}
	if p.SLBad > p.SLWarn {
		return fmt.Errorf("sl_bad %g is above sl_warn %g: a lower service level is worse", p.SLBad, p.SLWarn)
	}
	if p.AbandonedBad < p.AbandonedWarn {
		return fmt.Errorf("abandoned_bad %g is below abandoned_warn %g: more abandoned calls are worse", p.AbandonedBad, p.AbandonedWarn)
	}
	if p.WaitWarn < 0 || p.WaitBad < p.WaitWarn {
		return fmt.Errorf("wait_warn %s and wait_bad %s: want 0 < wait_warn <= wait_bad", p.WaitWarn, p.WaitBad)
	}
	names := map[string]bool{}
	for i, g := range p.Groups {
		if strings.TrimSpace(g.Name) == "" {
			return fmt.Errorf("groups[%d]: name is required", i)
		}
		if names[g.Name] {
			return fmt.Errorf("groups[%d]: duplicate name %q", i, g.Name)
		}
		names[g.Name] = true
		if len(g.Extensions) == 0 {
			return fmt.Errorf("groups[%d]: no extensions: name at least one (a number, an id or a pattern)", i)
		}
		for _, e := range g.Extensions {
			if strings.TrimSpace(e) == "" || strings.ContainsAny(e, " \t\r\n") {
				return fmt.Errorf("groups[%d]: extension %q: want a number, an id or a pattern such as 2*", i, e)
			}
		}
	}
	return nil
}
