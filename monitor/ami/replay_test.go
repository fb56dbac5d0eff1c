package ami

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func TestReplayReadsArraysAndLines(t *testing.T) {
	path := filepath.Join("testdata", "simple", "ab_reject.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	if err := json.Unmarshal(raw, &events); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		lines.Write(b)
		lines.WriteByte('\n')
	}
	for name, in := range map[string]string{"array": string(raw), "lines": lines.String()} {
		t.Run(name, func(t *testing.T) {
			sink := monitortest.NewRecorder()
			if err := Replay(context.Background(), "pbx", strings.NewReader(in), sink); err != nil {
				t.Fatal(err)
			}
			if len(sink.Ended()) != 1 || sink.Ended()[0].Reason != monitor.ReasonBusy {
				t.Fatalf("ended = %+v", sink.Ended())
			}
		})
	}
}

func TestReplayReportsBrokenInput(t *testing.T) {
	err := Replay(context.Background(), "pbx", strings.NewReader(`{"Event":"Newchannel"}`+"\n{broken"), monitortest.NewRecorder())
	if err == nil || !strings.Contains(err.Error(), "event 2") {
		t.Fatalf("err = %v", err)
	}
	if err := Replay(context.Background(), "pbx", strings.NewReader("  \n"), monitortest.NewRecorder()); err != nil {
		t.Fatalf("empty input: %v", err)
	}
}

func BenchmarkReplay(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "xfer_attended", "xfer_abacbc.json"))
	if err != nil {
		b.Fatal(err)
	}
	var events []map[string]any
	_ = json.Unmarshal(raw, &events)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if err := Replay(context.Background(), "pbx", strings.NewReader(string(raw)), monitortest.NewRecorder()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}
