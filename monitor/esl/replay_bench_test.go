package esl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

type discard struct{}

func (discard) Call(monitor.Call)                 {}
func (discard) SourceStatus(monitor.SourceStatus) {}
func (discard) UserEvent(monitor.UserEvent)       {}

// BenchmarkReplay replays every fixture (JSON decoding, header
// canonicalisation, tracking) and reports events per second.
func BenchmarkReplay(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	var all []byte
	events := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, data...)
		events += bytes.Count(data, []byte("\n"))
	}
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Replay(context.Background(), "fs", bytes.NewReader(all), discard{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
