package fritz

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// demoRecording is a realistic call-monitor recording of about three
// minutes: inbound calls answered and missed, outbound calls answered and
// given up, a withheld number, a long call, calls at once on two lines
// (SIP0, SIP1), a reused connection id.
//
//go:embed testdata/demo.txt
var demoRecording []byte

// DemoConfig is the demo source in the YAML source list.
type DemoConfig struct {
	// Name names the source. Default "demo".
	Name monitor.SourceName `yaml:"name"`
	// Type is "demo".
	Type string `yaml:"type"`
	// MaxGap caps the wait between two lines, so something happens every
	// few seconds. Default 8s.
	MaxGap time.Duration `yaml:"max_gap"`
	// Speed plays the recording faster (2 is twice as fast). Default 1.
	Speed float64 `yaml:"speed"`
}

func (c DemoConfig) withDefaults() DemoConfig {
	if c.Name == "" {
		c.Name = "demo"
	}
	if c.Type == "" {
		c.Type = "demo"
	}
	if c.MaxGap == 0 {
		c.MaxGap = 8 * time.Second
	}
	if c.Speed == 0 {
		c.Speed = 1
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c DemoConfig) Validate() error {
	d := c.withDefaults()
	switch {
	case d.Type != "demo":
		return fmt.Errorf("%w: type %q, want demo", ErrInvalidConfig, d.Type)
	case d.MaxGap < 0:
		return fmt.Errorf("%w: negative max_gap", ErrInvalidConfig)
	case d.Speed < 0:
		return fmt.Errorf("%w: negative speed", ErrInvalidConfig)
	}
	return nil
}

// Demo replays the bundled recording in a loop, in real time, with every
// time shifted to now: a source for a server without a router (the
// built-in configuration). It implements monitor.Source.
type Demo struct {
	cfg   DemoConfig
	lines []Line
	o     options
	raw   []Option
}

var _ monitor.Source = (*Demo)(nil)

// NewDemo returns a demo source.
func NewDemo(cfg DemoConfig, opts ...Option) (*Demo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo source %s: %w", cfg.Name, err)
	}
	d := &Demo{cfg: cfg.withDefaults(), o: newOptions(opts), raw: opts}
	for i, raw := range bytes.Split(bytes.TrimSpace(demoRecording), []byte("\n")) {
		l, err := ParseLine(raw, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("demo recording line %d: %w", i+1, err)
		}
		d.lines = append(d.lines, l)
	}
	return d, nil
}

// Name returns the configured name.
func (d *Demo) Name() monitor.SourceName { return d.cfg.Name }

// Run plays the recording until ctx ends and returns nil then.
func (d *Demo) Run(ctx context.Context, sink monitor.Sink) error {
	tr := NewTracker(d.cfg.Name, sink, time.UTC, nil, append(d.raw, WithKeys(d.o.keys))...)
	sink.SourceStatus(monitor.SourceStatus{Name: d.cfg.Name, Type: "demo", State: monitor.LinkConnected, Address: "bundled recording", Since: d.o.now()})
	defer func() {
		tr.EndAll("demo stopped")
		tr.lamps.forget(true)
		sink.SourceStatus(monitor.SourceStatus{Name: d.cfg.Name, Type: "demo", State: monitor.LinkStopped, Since: d.o.now()})
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	wait := func(gap time.Duration) bool {
		gap = time.Duration(float64(min(gap, d.cfg.MaxGap)) / d.cfg.Speed)
		if gap <= 0 {
			return ctx.Err() == nil
		}
		timer.Reset(gap)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	for {
		// The recording's own durations would not match what a wallboard
		// saw when gaps are capped or sped up, so talk time is measured
		// from the CONNECT as played.
		answered := map[string]time.Time{}
		prev := d.lines[0].Time
		for _, l := range d.lines {
			if !wait(l.Time.Sub(prev)) {
				return nil
			}
			prev = l.Time
			l.Time = d.o.now()
			switch l.Kind {
			case KindConnect:
				answered[l.ID] = l.Time
			case KindDisconnect:
				l.Seconds = 0
				if at, ok := answered[l.ID]; ok {
					l.Seconds = int(l.Time.Sub(at).Round(time.Second) / time.Second)
					delete(answered, l.ID)
				}
			}
			d.o.counters.Events.Add(1)
			tr.Apply(l)
		}
		if !wait(d.cfg.MaxGap) {
			return nil
		}
	}
}
