package fritz

import (
	"bytes"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// discard is a Sink that drops everything.
type discard struct{}

func (discard) Call(monitor.Call)                 {}
func (discard) SourceStatus(monitor.SourceStatus) {}
func (discard) UserEvent(monitor.UserEvent)       {}

func BenchmarkParseLine(b *testing.B) {
	line := []byte("23.11.26 10:20:00;CALL;1;20;1234567;0891234567;SIP1;\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := ParseLine(line, time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrack pushes the demo recording's lines through the parser and
// the tracker into a discarding sink; events/s counts call changes
// published, lines/s lines handled.
func BenchmarkTrack(b *testing.B) {
	lines := bytes.Split(bytes.TrimSpace(demoRecording), []byte("\n"))
	counting := &countSink{}
	tr := NewTracker("bench", counting, time.UTC, nil)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := tr.Handle(lines[n%len(lines)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)/secs, "lines/s")
	b.ReportMetric(float64(counting.n)/secs, "events/s")
}

type countSink struct {
	discard
	n int
}

func (c *countSink) Call(monitor.Call) { c.n++ }
