package fritz

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

func TestReplay(t *testing.T) {
	b, err := os.ReadFile("testdata/calls.txt")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	var counters monitor.Counters
	if err := ReplayWith(context.Background(), "rec", bytes.NewReader(b), rec, WithCounters(&counters)); err != nil {
		t.Fatal(err)
	}
	var reasons []monitor.Reason
	for _, c := range rec.Ended() {
		reasons = append(reasons, c.Reason)
	}
	want := []monitor.Reason{monitor.ReasonCancelled, monitor.ReasonCompleted, monitor.ReasonNoAnswer}
	if len(reasons) != len(want) {
		t.Fatalf("ended %v, want %v", reasons, want)
	}
	for i := range want {
		if reasons[i] != want[i] {
			t.Fatalf("ended %v, want %v", reasons, want)
		}
	}
	if got := counters.ParseErrors.Load(); got != 1 {
		t.Errorf("parse errors = %d, want 1", got)
	}
	if got := counters.Unknown.Load(); got != 1 {
		t.Errorf("unknown = %d, want 1 (CONNECT for an unknown id)", got)
	}
}

func TestReplaySurvivesLongLines(t *testing.T) {
	in := "23.11.26 10:15:03;RING;0;" + strings.Repeat("9", 3*MaxLineLength) + ";1;SIP0;\n" +
		"23.11.26 10:15:03;RING;1;0301;1234567;SIP0;\r\n" +
		"23.11.26 10:15:09;DISCONNECT;1;0"
	rec := newRecorder()
	var counters monitor.Counters
	if err := ReplayWith(context.Background(), "rec", strings.NewReader(in), rec, WithCounters(&counters)); err != nil {
		t.Fatal(err)
	}
	if got := rec.Ended(); len(got) != 1 || got[0].Reason != monitor.ReasonNoAnswer {
		t.Fatalf("ended %+v", got)
	}
	if got := counters.ParseErrors.Load(); got != 1 {
		t.Errorf("parse errors = %d, want 1", got)
	}
}

func TestReplayStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Replay(ctx, "rec", strings.NewReader("23.11.26 10:15:03;RING;0;1;2;SIP0;\n"), newRecorder())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Replay = %v, want context.Canceled", err)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
