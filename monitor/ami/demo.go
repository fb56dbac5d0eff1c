package ami

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// ReplayConfig is a recording served as a live source, looping: a
// demonstration, or a PBX's own day played back to try a wallboard.
type ReplayConfig struct {
	Name monitor.SourceName `yaml:"name"`
	// Type is "ami-replay".
	Type string `yaml:"type"`
	// Path is a recording: JSON lines from `switchboard record` or a
	// cacofonisk JSON array.
	Path string `yaml:"path"`
	// Interval is the pause between two events that carry no Timestamp
	// (timestampevents=no). Default 150ms.
	Interval time.Duration `yaml:"interval"`
	// MaxGap caps the pause between timestamped events. Default 5s.
	MaxGap time.Duration `yaml:"max_gap"`
}

// ReplaySource plays a recording in a loop, paced in real time. It
// implements monitor.Source.
type ReplaySource struct {
	cfg    ReplayConfig
	events []Message
}

var _ monitor.Source = (*ReplaySource)(nil)

// NewReplaySource reads the recording at cfg.Path.
func NewReplaySource(cfg ReplayConfig) (*ReplaySource, error) {
	if cfg.Name == "" || cfg.Path == "" {
		return nil, errors.New("ami-replay: name and path are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 150 * time.Millisecond
	}
	if cfg.MaxGap <= 0 {
		cfg.MaxGap = 5 * time.Second
	}
	f, err := os.Open(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("ami-replay %s: %w", cfg.Name, err)
	}
	defer f.Close()
	var events []Message
	if err := decodeRecording(context.Background(), f, func(m Message) { events = append(events, m) }); err != nil {
		return nil, fmt.Errorf("ami-replay %s: %w", cfg.Name, err)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("ami-replay %s: %s holds no events", cfg.Name, cfg.Path)
	}
	return &ReplaySource{cfg: cfg, events: events}, nil
}

// Name is the source's name.
func (r *ReplaySource) Name() monitor.SourceName { return r.cfg.Name }

// Run plays the recording until ctx ends. Each loop's conversations get
// fresh keys, so a loop never continues the calls of the last one.
func (r *ReplaySource) Run(ctx context.Context, sink monitor.Sink) error {
	sink.SourceStatus(monitor.SourceStatus{Name: r.cfg.Name, Type: "ami-replay", State: monitor.LinkConnected, Address: r.cfg.Path, Since: time.Now()})
	tr := NewTracker(r.cfg.Name, sink, nil)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for loop := 1; ; loop++ {
		var prev float64
		for _, m := range r.events {
			wait := r.cfg.Interval
			if ts, err := strconv.ParseFloat(m.Get("Timestamp"), 64); err == nil {
				if prev > 0 {
					wait = min(time.Duration((ts-prev)*float64(time.Second)), r.cfg.MaxGap)
				}
				prev = ts
			}
			timer.Reset(max(wait, 0))
			select {
			case <-ctx.Done():
				tr.t.EndAll(monitor.Ending{Reason: monitor.ReasonFailed, Cause: "monitor stopped"})
				return nil
			case <-timer.C:
			}
			tr.Handle(relabel(m, loop))
		}
	}
}

// relabel makes a loop's unique and linked ids its own.
func relabel(m Message, loop int) Message {
	out := make(Message, len(m))
	suffix := "-" + strconv.Itoa(loop)
	for i, f := range m {
		if hasSuffixFold(f.Key, "Uniqueid") || hasSuffixFold(f.Key, "Linkedid") {
			f.Value += suffix
		}
		out[i] = f
	}
	return out
}

// hasSuffixFold is strings.HasSuffix ignoring case: LocalOptimizationBegin
// spells its field DestUniqueId.
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
