package ami

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

var writeCorpus = flag.String("write-corpus", "", "write the replay benchmark's corpus (JSON lines) to this file, for timing `switchboard replay --source ami`")

// corpusEvents is about how many events the benchmark corpus holds: as
// many as a day of a busy office, or the large recording the Python
// tracker is timed on.
const corpusEvents = 90_000

var corpus struct {
	once   sync.Once
	events int
	lines  []byte // JSON lines
	wire   []byte // the manager protocol, banner first
}

// benchCorpus builds the corpus from every recorded log and written
// scenario, repeated with fresh unique and linked ids each round so the
// calls of one round never meet those of another. Only bytes are kept:
// a heap of parsed events would tax every benchmark's garbage collector.
func benchCorpus(tb testing.TB) (int, []byte, []byte) {
	tb.Helper()
	corpus.once.Do(func() {
		files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
		more, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.jsonl"))
		var round []Message
		for _, f := range append(files, more...) {
			round = append(round, fixtureEvents(tb, f)...)
		}
		var lines bytes.Buffer
		wire := []byte("Asterisk Call Manager/5.0.1\r\n")
		for r := 1; corpus.events < corpusEvents; r++ {
			for _, m := range round {
				m = relabel(m, r)
				corpus.events++
				b, _ := json.Marshal(orderedEvent(m))
				lines.Write(b)
				lines.WriteByte('\n')
				wire, _ = AppendMessage(wire, m)
			}
		}
		corpus.lines, corpus.wire = lines.Bytes(), wire
	})
	return corpus.events, corpus.lines, corpus.wire
}

// orderedEvent marshals as a JSON object with m's fields in order.
type orderedEvent Message

func (o orderedEvent) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range o {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(f.Key)
		v, _ := json.Marshal(f.Value)
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

func TestWriteCorpus(t *testing.T) {
	if *writeCorpus == "" {
		t.Skip("no -write-corpus file given")
	}
	events, lines, _ := benchCorpus(t)
	if err := os.WriteFile(*writeCorpus, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events, %d bytes", events, len(lines))
}

// TestCorpusEndsEveryCall: the corpus the benchmarks time is one the
// tracker follows to the end.
func TestCorpusEndsEveryCall(t *testing.T) {
	_, lines, _ := benchCorpus(t)
	tr := NewTracker("pbx", discard{}, nil)
	if err := scanRecording(t.Context(), bytes.NewReader(lines), true, tr.Handle); err != nil {
		t.Fatal(err)
	}
	if n := tr.t.Len(); n != 0 || len(tr.chans) != 0 {
		t.Fatalf("%d calls, %d channels left", n, len(tr.chans))
	}
}

type discard struct{}

func (discard) Call(monitor.Call)                 {}
func (discard) SourceStatus(monitor.SourceStatus) {}
func (discard) UserEvent(monitor.UserEvent)       {}

// BenchmarkReplayCorpus is `switchboard replay --source ami` without the
// output: JSON lines decoded and tracked into a sink that drops the
// calls. One op is the whole corpus (about 90 k events).
func BenchmarkReplayCorpus(b *testing.B) {
	events, lines, _ := benchCorpus(b)
	b.SetBytes(int64(len(lines)))
	done := perEvent(b, events)
	for i := 0; i < b.N; i++ {
		if err := Replay(context.Background(), "pbx", bytes.NewReader(lines), discard{}); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// BenchmarkLive is the live path on one core: manager-protocol bytes
// through the wire reader and the tracker into the hub, as Source runs
// them (without the TCP socket and the goroutine hand-off). One op is
// the whole corpus.
func BenchmarkLive(b *testing.B) {
	events, _, wire := benchCorpus(b)
	b.SetBytes(int64(len(wire)))
	done := perEvent(b, events)
	for i := 0; i < b.N; i++ {
		hub := monitor.NewHub(monitor.HubConfig{})
		tr := NewTracker("pbx", hub, nil)
		r := NewReader(bytes.NewReader(wire))
		if _, err := r.ReadBanner(); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := r.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			tr.Handle(m)
			n++
		}
		if n != events {
			b.Fatalf("read %d events, want %d", n, events)
		}
		hub.Close()
	}
	done()
}

// BenchmarkReader is the wire reader alone over the corpus.
func BenchmarkReader(b *testing.B) {
	events, _, wire := benchCorpus(b)
	b.SetBytes(int64(len(wire)))
	done := perEvent(b, events)
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(wire))
		_, _ = r.ReadBanner()
		for {
			if _, err := r.ReadMessage(); err != nil {
				break
			}
		}
	}
	done()
}

// perEvent starts the timing of a benchmark whose op is events events;
// the function it returns reports events per second (wall time, and CPU
// time of every core the process used: garbage collection included) and
// allocations and bytes per event.
func perEvent(b *testing.B, events int) func() {
	b.Helper()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	cpu := cpuTime()
	return func() {
		cpu = cpuTime() - cpu
		b.StopTimer()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		n := float64(events * b.N)
		b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
		if cpu > 0 {
			b.ReportMetric(n/cpu.Seconds(), "events/cpu-s")
		}
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/event")
	}
}
