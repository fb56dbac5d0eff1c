package esl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
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
	done := perEvent(b, events)
	for i := 0; i < b.N; i++ {
		if err := Replay(context.Background(), "fs", bytes.NewReader(all), discard{}); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// TestReplayDecodesWhatTheTrackerReads: a replay decodes only the
// headers the tracker reads; every fixture must give the same calls and
// user events as with every header decoded.
func TestReplayDecodesWhatTheTrackerReads(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, f := range files {
		var got [2][]string
		for i, only := range []bool{false, true} {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sink := newRecorder()
			tr := NewTracker("fs", sink, nil)
			if err := decodeRecording(context.Background(), bytes.NewReader(data), only, tr.Handle); err != nil {
				t.Fatal(err)
			}
			for _, c := range sink.Calls() {
				c.Started, c.Answered, c.Ended = time.Time{}, time.Time{}, time.Time{}
				for j := range c.Transfers {
					c.Transfers[j].At = time.Time{}
				}
				b, _ := json.Marshal(c)
				got[i] = append(got[i], string(b))
			}
			for _, u := range sink.Users() {
				u.At = time.Time{}
				b, _ := json.Marshal(u)
				got[i] = append(got[i], string(b))
			}
		}
		if strings.Join(got[0], "\n") != strings.Join(got[1], "\n") {
			t.Errorf("%s: the tracked headers alone give\n%s\nall headers\n%s", f, strings.Join(got[1], "\n"), strings.Join(got[0], "\n"))
		}
	}
}

// benchEvents are every fixture event, framed as FreeSWITCH sends them
// on the socket in JSON and in plain form.
func benchEvents(b *testing.B) (events int, jsonWire, plainWire []byte) {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, f := range files {
		for _, ev := range esltest.ReadRecording(b, f) {
			js, _ := json.Marshal(ev)
			jsonWire = fmt.Appendf(jsonWire, "Content-Length: %d\nContent-Type: text/event-json\n\n%s", len(js), js)
			plain := esltest.Plain(ev)
			plainWire = fmt.Appendf(plainWire, "Content-Length: %d\nContent-Type: text/event-plain\n\n%s", len(plain), plain)
			events++
		}
	}
	return events, jsonWire, plainWire
}

// BenchmarkReadEvents is the live path's parsing: socket bytes through
// the message reader and the event decoder, JSON and plain. One op is
// every fixture event once.
func BenchmarkReadEvents(b *testing.B) {
	events, jsonWire, plainWire := benchEvents(b)
	for _, tc := range []struct {
		name string
		wire []byte
	}{{"json", jsonWire}, {"plain", plainWire}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.wire)))
			done := perEvent(b, events)
			for i := 0; i < b.N; i++ {
				r := NewReader(bytes.NewReader(tc.wire))
				for n := 0; ; n++ {
					msg, err := r.Read()
					if errors.Is(err, io.EOF) {
						if n != events {
							b.Fatalf("read %d events, want %d", n, events)
						}
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if _, err := ParseEvent(msg); err != nil {
						b.Fatal(err)
					}
				}
			}
			done()
		})
	}
}

// perEvent starts the timing of a benchmark whose op is events events;
// the function it returns reports events per second and allocations and
// bytes per event.
func perEvent(b *testing.B, events int) func() {
	b.Helper()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	return func() {
		b.StopTimer()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		n := float64(events * b.N)
		b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/event")
	}
}
