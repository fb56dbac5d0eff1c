package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
)

// slowDisk is a saver that holds every save until released, as a stuck
// disk would, then saves for real.
type slowDisk struct {
	entered chan monitor.CallID
	release chan struct{}
}

func withSlowDisk(d *slowDisk) Option {
	return func(s *Store) {
		s.save = func(ctx context.Context, c monitor.Call) error {
			d.entered <- c.ID
			select {
			case <-d.release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return s.Save(ctx, c)
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
	disk := newSlowDisk()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), withSlowDisk(disk))
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
	if st := s.out.Stats(); st.Queued != 49 || st.Handled != 0 || st.Overflow != 0 {
		t.Fatalf("queue %+v, want 49 waiting behind the stuck one", st)
	}

	close(disk.release)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := s.Query(context.Background(), Filter{Limit: MaxLimit})
	if err != nil || p.Total != 50 {
		t.Fatalf("after Flush: %d calls, %v; want 50", p.Total, err)
	}
	if st := s.out.Stats(); st.Handled != 50 || st.Queued != 0 {
		t.Fatalf("queue %+v", st)
	}
}

// TestOverflowIsLoggedAndCounted fills a small queue behind a stuck disk:
// the calls that do not fit are logged at Error with their ids and
// counted, and the ones that did are saved once the disk moves.
func TestOverflowIsLoggedAndCounted(t *testing.T) {
	disk := newSlowDisk()
	var logs logBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), withSlowDisk(disk), WithQueueSize(2), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
	defer hub.Close()
	tr := monitor.NewTracker("home", hub)
	endCalls(tr, 0, 1)
	<-disk.entered
	endCalls(tr, 1, 5) // 1 and 2 fit; 3, 4 and 5 do not
	if got := gather(t, s)["switchboard_history_unsaved_total{reason=overflow}"]; got != 3 {
		t.Fatalf("unsaved overflow = %v, want 3", got)
	}

	close(disk.release)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := gather(t, s)
	if m["switchboard_history_saved_total"] != 3 || m["switchboard_history_queued"] != 0 || m["switchboard_history_queue_capacity"] != 2 ||
		m["switchboard_history_behind_seconds"] != 0 || m["switchboard_history_unsaved_total{reason=error}"] != 0 {
		t.Fatalf("metrics %v", m)
	}
	// The log lines are written off the publishing path; Close waits for
	// them.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, r := range logs.records(t) {
		if r["level"] != "ERROR" || r["msg"] != "history: call not saved" || r["reason"] != unsavedOverflow {
			t.Fatalf("log record %v", r)
		}
		lost = append(lost, r["call"].(string))
	}
	if fmt.Sprint(lost) != "[home:3 home:4 home:5]" {
		t.Fatalf("logged as lost: %v", lost)
	}
}

// TestBehindShowsTheStuckCall reads the age of the call the disk holds.
func TestBehindShowsTheStuckCall(t *testing.T) {
	disk := newSlowDisk()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), withSlowDisk(disk))
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
}

// TestCloseSavesWhatIsQueued closes right after queueing: Close drains
// the queue, so a reopened store has every call.
func TestCloseSavesWhatIsQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		c := ended("home", fmt.Sprint(i), i, monitor.Outbound, true, "1", "2")
		s.Observe(monitor.NewEvent(uint64(i+1), time.Now(), &c))
	}
	active := ended("home", "x", 0, monitor.Inbound, false, "1", "2")
	active.State = monitor.Ringing
	s.Observe(monitor.NewEvent(99, time.Now(), &active)) // not ended: ignored
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err := open(t, path).Query(context.Background(), Filter{}); err != nil || p.Total != 20 {
		t.Fatalf("after reopen: %d calls, %v", p.Total, err)
	}
}

// TestCloseGivesUpOnAStuckDisk bounds Close by the drain timeout: the
// calls still queued are logged as unsaved at shutdown.
func TestCloseGivesUpOnAStuckDisk(t *testing.T) {
	disk := newSlowDisk()
	var logs logBuffer
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"), withSlowDisk(disk),
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
	reasons := map[string]int{}
	for _, r := range logs.records(t) {
		reasons[r["reason"].(string)]++
	}
	// The save in hand saw its ctx end; the two behind it were never
	// tried: all three are lost to the shutdown.
	if reasons[unsavedShutdown] != 3 || len(reasons) != 1 {
		t.Fatalf("unsaved by reason %v", reasons)
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
