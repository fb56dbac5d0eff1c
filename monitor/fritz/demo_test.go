package fritz

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// TestDemoRecording checks the bundled recording shows what the demo
// promises, replayed as fast as it can.
func TestDemoRecording(t *testing.T) {
	rec := newRecorder()
	var counters monitor.Counters
	tr := NewTracker("demo", rec, time.UTC, nil, WithCounters(&counters))
	if err := readLines(bytesReader(demoRecording), func(l []byte) error { return tr.Handle(l) }); err != nil {
		t.Fatal(err)
	}
	if n := counters.ParseErrors.Load() + counters.Unknown.Load(); n != 0 {
		t.Fatalf("%d bad or out-of-order lines in the demo recording", n)
	}
	if tr.Calls().Len() != 0 {
		t.Errorf("%d calls left active at the end of a loop", tr.Calls().Len())
	}
	seen := map[string]bool{}
	lines := map[string]bool{}
	var longest int64
	for _, c := range rec.Ended() {
		seen[string(c.Direction)+" "+string(c.Reason)] = true
		lines[c.Line] = true
		longest = max(longest, c.Duration)
		if c.From.Private {
			seen["withheld"] = true
		}
	}
	for _, want := range []string{"inbound completed", "inbound no-answer", "outbound completed", "outbound cancelled", "withheld"} {
		if !seen[want] {
			t.Errorf("demo has no %s call; has %v", want, seen)
		}
	}
	if !lines["SIP0"] || !lines["SIP1"] {
		t.Errorf("demo uses lines %v, want SIP0 and SIP1", lines)
	}
	if longest < 120 {
		t.Errorf("longest call %ds, want a long one (2 minutes or more)", longest)
	}
	// Two calls at once: some moment with two or more active.
	active, most := 0, 0
	for _, c := range rec.Calls() {
		switch c.State {
		case monitor.Ringing, monitor.Dialing:
			active++
		case monitor.Ended:
			active--
		}
		most = max(most, active)
	}
	if most < 3 {
		t.Errorf("at most %d calls at once, want 3", most)
	}
	// A loop lasts 2-3 minutes, with something every few seconds.
	d, err := NewDemo(DemoConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var loop time.Duration
	for i := 1; i < len(d.lines); i++ {
		gap := min(d.lines[i].Time.Sub(d.lines[i-1].Time), d.cfg.MaxGap)
		loop += gap
	}
	if loop < 2*time.Minute || loop > 3*time.Minute {
		t.Errorf("a loop takes %v, want 2-3 minutes", loop)
	}
}

func TestDemoRunsInRealTimeAtNow(t *testing.T) {
	d, err := NewDemo(DemoConfig{Speed: 2000})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	before := time.Now()
	go func() { done <- d.Run(ctx, rec) }()
	// Wait for a full loop and the start of the next one: the first call
	// (connection id 0) starting a second time.
	rec.WaitFor(t, "the demo to loop", func() bool {
		starts := 0
		for _, c := range rec.Calls() {
			if isKey(c.ID, "demo", "0") && c.State == monitor.Ringing {
				starts++
			}
		}
		return starts >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	statuses := rec.Statuses()
	if s := statuses[0]; s.Type != "demo" || s.State != monitor.LinkConnected || s.Name != "demo" {
		t.Errorf("first status %+v", s)
	}
	if s := statuses[len(statuses)-1]; s.State != monitor.LinkStopped {
		t.Errorf("last status %+v, want stopped", s)
	}
	for _, c := range rec.Calls() {
		if c.Started.Before(before) {
			t.Fatalf("call %s started %v, before the demo ran: times are not shifted to now", c.ID, c.Started)
		}
		if c.State == monitor.Ended && c.Reason == monitor.ReasonCompleted && c.Ended.Before(c.Answered) {
			t.Fatalf("call %s ended before it was answered", c.ID)
		}
	}
}

func TestDemoConfigValidate(t *testing.T) {
	for _, c := range []DemoConfig{{Type: "fritz"}, {MaxGap: -1}, {Speed: -1}} {
		if _, err := NewDemo(c); err == nil {
			t.Errorf("NewDemo(%+v) accepted", c)
		}
	}
}
