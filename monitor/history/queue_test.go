package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
)

// slowDisk holds every write until released, as a stuck disk would,
// then lets it go through.
type slowDisk struct {
	entered chan monitor.CallID
	release chan struct{}
}

func withSlowDisk(d *slowDisk) Option {
	return func(s *Store) {
		s.hook = func(ctx context.Context, chs []change) error {
			for _, ch := range chs {
				d.entered <- ch.Call.ID
			}
			select {
			case <-d.release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

func newSlowDisk() *slowDisk {
	return &slowDisk{entered: make(chan monitor.CallID, 1000), release: make(chan struct{})}
}

// logBuffer collects JSON log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// endCalls starts and ends n calls through a tracker publishing to hub.
func endCalls(tr *monitor.Tracker, from, n int) {
	for i := from; i < from+n; i++ {
		k := fmt.Sprint(i)
		tr.Start(k, monitor.Call{From: monitor.Party{Number: "0301"}, To: monitor.Party{Number: "5551"}, Started: t0.Add(time.Duration(i) * time.Minute)})
		tr.End(k, monitor.Ending{At: t0.Add(time.Duration(i)*time.Minute + 30*time.Second)})
	}
}

// TestStuckDiskDelaysNoOne publishes while the disk is stuck on the first
// call: every publish returns, every subscriber gets every change, and
// once the disk moves again Flush finds every call saved.
func TestStuckDiskDelaysNoOne(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			disk := newSlowDisk()
			s, err := openPlace(context.Background(), place(t, be), withSlowDisk(disk))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
			defer hub.Close()
			subs := make([]*monitor.Subscription, 3)
			for i := range subs {
				if subs[i], err = hub.Subscribe(nil); err != nil {
					t.Fatal(err)
				}
				defer subs[i].Close()
			}
			tr := monitor.NewTracker("home", hub)

			endCalls(tr, 0, 1)
			<-disk.entered // the saver now holds the first call and does not let go
			endCalls(tr, 1, 49)
			// Every publish above has returned; every subscriber has all 100
			// changes waiting, none dropped.
			for i, sub := range subs {
				if n := len(sub.Events()); n != 100 {
					t.Fatalf("subscriber %d has %d events, want 100", i, n)
				}
			}
			if st := hub.Stats(); st.Dropped[monitor.CloseSlow] != 0 {
				t.Fatalf("hub dropped %v", st.Dropped)
			}
			// Each call is two changes, its start and its end.
			if st := s.out.Stats(); st.Queued != 99 || st.Handled != 0 || st.Overflow != 0 {
				t.Fatalf("queue %+v, want 99 waiting behind the stuck one", st)
			}

			close(disk.release)
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			p, err := s.Query(context.Background(), Filter{Limit: MaxLimit})
			if err != nil || p.Total != 50 {
				t.Fatalf("after Flush: %d calls, %v; want 50", p.Total, err)
			}
			if st := s.out.Stats(); st.Handled != 100 || st.Queued != 0 {
				t.Fatalf("queue %+v", st)
			}
		})
	}
}

// TestOverflowGoesToTheSpool fills a small queue behind a stuck disk:
// the changes that do not fit go to the retry spool (counted, logged
// once), and once the disk moves every call is saved, the spooled ones
// by the retry loop.
func TestOverflowGoesToTheSpool(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			disk := newSlowDisk()
			var logs logBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			s, err := openPlace(context.Background(), place(t, be), withSlowDisk(disk), WithQueueSize(2), WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
			defer hub.Close()
			tr := monitor.NewTracker("home", hub)
			endCalls(tr, 0, 1)
			<-disk.entered     // the start of call 0
			endCalls(tr, 1, 5) // the end of call 0 and the start of 1 fit; 9 changes do not
			if got := gather(t, s)["switchboard_history_unsaved_total{reason=overflow}"]; got != 9 {
				t.Fatalf("unsaved overflow = %v, want 9", got)
			}
			waitFor(t, "the overflow spooled", func() bool { return gather(t, s)["switchboard_history_spooled_total"] == 9 })
			if h := s.Health(); h.OK || h.Spooled == 0 || strings.Contains(h.Problem, "h.db") {
				t.Fatalf("health with a spool: %+v", h)
			}

			close(disk.release)
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the spool written", func() bool { return s.Health().OK })
			p, err := s.Query(context.Background(), Filter{})
			if err != nil || p.Total != 6 {
				t.Fatalf("%d calls saved, %v; want all 6", p.Total, err)
			}
			m := gather(t, s)
			if m["switchboard_history_saved_total"] != 3 || m["switchboard_history_spool_saved_total"] != 9 || m["switchboard_history_queued"] != 0 ||
				m["switchboard_history_queue_capacity"] != 2 || m["switchboard_history_spooled"] != 0 || m["switchboard_history_writable"] != 1 ||
				m["switchboard_history_lost_total{reason=spool-full}"] != 0 {
				t.Fatalf("metrics %v", m)
			}
			if active, err := s.ActiveCalls(context.Background()); err != nil || len(active) != 0 {
				t.Fatalf("active calls left: %v %v", active, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var warned int
			for _, r := range logs.records(t) {
				if r["level"] == "WARN" && r["msg"] == "history: save queue full; spooling calls" {
					warned++
				}
				if r["level"] == "ERROR" {
					t.Errorf("error logged: %v", r)
				}
			}
			if warned != 1 {
				t.Errorf("queue full logged %d times, want once", warned)
			}
		})
	}
}

// TestBehindShowsTheStuckCall reads the age of the call the disk holds.
func TestBehindShowsTheStuckCall(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			disk := newSlowDisk()
			s, err := openPlace(context.Background(), place(t, be), withSlowDisk(disk))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			defer close(disk.release)
			c := ended("home", "0", 0, monitor.Inbound, false, "1", "2")
			s.Observe(monitor.NewEvent(1, time.Now().Add(-time.Hour), &c))
			<-disk.entered
			if got := gather(t, s)["switchboard_history_behind_seconds"]; got < 3600 {
				t.Fatalf("behind %v s, want at least an hour", got)
			}
		})
	}
}

// TestCloseSavesWhatIsQueued closes right after queueing: Close drains
// the queue, so a reopened store has every call, and the call still
// active as active.
func TestCloseSavesWhatIsQueued(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			path := place(t, be)
			s, err := openPlace(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				c := ended("home", fmt.Sprint(i), i, monitor.Outbound, true, "1", "2")
				s.Observe(monitor.NewEvent(uint64(i+1), time.Now(), &c))
			}
			active := ended("home", "x", 0, monitor.Inbound, false, "1", "2")
			active.State = monitor.Ringing
			s.Observe(monitor.NewEvent(99, time.Now(), &active))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openAt(t, path)
			if p, err := s2.Query(context.Background(), Filter{}); err != nil || p.Total != 20 {
				t.Fatalf("after reopen: %d calls, %v", p.Total, err)
			}
			if kept, err := s2.ActiveCalls(context.Background()); err != nil || len(kept) != 1 || kept[0].ID != active.ID {
				t.Fatalf("active after reopen: %v %v", kept, err)
			}
		})
	}
}

// TestCloseSpoolsWhatAStuckDiskHolds bounds Close by the drain timeout:
// the calls still queued go to the spool, which survives the restart, and
// the next Open saves them.
func TestCloseSpoolsWhatAStuckDiskHolds(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			disk := newSlowDisk()
			var logs logBuffer
			path := place(t, be)
			s, err := openPlace(context.Background(), path, withSlowDisk(disk),
				WithDrainTimeout(time.Nanosecond), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				c := ended("home", fmt.Sprint(i), i, monitor.Inbound, false, "1", "2")
				s.Observe(monitor.NewEvent(uint64(i+1), time.Now(), &c))
			}
			<-disk.entered
			if err := s.Close(); err == nil {
				t.Fatal("Close with a stuck disk reported nothing")
			}
			var warned int
			for _, r := range logs.records(t) {
				if r["reason"] != nil || r["level"] == "ERROR" {
					t.Errorf("log %v", r)
				}
				if r["level"] == "WARN" && strings.Contains(r["msg"].(string), "shutdown") {
					warned++
				}
			}
			if warned != 1 {
				t.Errorf("shutdown spooling logged %d times, want once", warned)
			}
			// The save in hand saw its ctx end; the two behind it were never
			// tried: all three wait in the spool for the next start.
			if n := spoolLines(t, SpoolPath(path)); n != 3 {
				t.Fatalf("%d changes in the spool file, want 3", n)
			}
			s2 := openAt(t, path)
			if p, err := s2.Query(context.Background(), Filter{}); err != nil || p.Total != 3 {
				t.Fatalf("after the restart: %d calls, %v; want the 3 spooled", p.Total, err)
			}
			if h := s2.Health(); !h.OK || h.Spooled != 0 {
				t.Fatalf("health after the restart %+v", h)
			}
			if n := spoolLines(t, SpoolPath(path)); n != 0 {
				t.Fatalf("%d changes still in the spool file", n)
			}
		})
	}
}

// spoolLines counts the changes in the spool file at path.
func spoolLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines, bad, _, err := readSpool(bytes.NewReader(b))
	if err != nil || bad != 0 {
		t.Fatalf("spool file: %d bad lines, %v", bad, err)
	}
	return len(lines)
}

// waitFor waits, at most 10 s (a stuck test), until cond holds; it
// asks again every few milliseconds, as a test of a loop that runs on
// its own timer must.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// gather scrapes the store's collector into name{label=value} → value.
func gather(t *testing.T, s *Store) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(s); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[name] = v
		}
	}
	return out
}
