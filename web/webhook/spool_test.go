package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseSpool(t *testing.T) {
	tests := []struct {
		file    string
		seqs    []uint64
		skipped int
	}{
		{file: "two-endpoints.jsonl", seqs: []uint64{41, 42, 43}},
		{file: "damaged.jsonl", seqs: []uint64{7, 9}, skipped: 4},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "spool", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			events, skipped, err := parseSpool(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if skipped != tt.skipped {
				t.Errorf("skipped %d lines, want %d", skipped, tt.skipped)
			}
			var seqs []uint64
			for _, ev := range events {
				var m struct {
					Seq uint64 `json:"seq"`
				}
				if err := json.Unmarshal(ev.Body, &m); err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, m.Seq)
			}
			if !equalSeqs(seqs, tt.seqs) {
				t.Errorf("events %v, want %v", seqs, tt.seqs)
			}
		})
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParseSpool feeds the testdata spools, whole and split in two (as
// two reads), and checks that parsing never panics, that the split input
// parses as the whole does, and that every event written out again
// parses back the same.
func FuzzParseSpool(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "spool", "*.jsonl"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, len(b)/2)
	}
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		if cut < 0 || cut > len(b) {
			cut = len(b)
		}
		whole, skipped, err := parseSpool(bytes.NewReader(b))
		split, skipped2, err2 := parseSpool(io.MultiReader(bytes.NewReader(b[:cut]), bytes.NewReader(b[cut:])))
		if (err == nil) != (err2 == nil) || skipped != skipped2 || len(whole) != len(split) {
			t.Fatalf("split input parsed differently: %d/%d events, %d/%d skipped, %v/%v", len(whole), len(split), skipped, skipped2, err, err2)
		}
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		for _, ev := range whole {
			if err := enc.Encode(ev); err != nil {
				t.Fatal(err)
			}
		}
		again, skipped, err := parseSpool(&out)
		if err != nil || skipped != 0 || len(again) != len(whole) {
			t.Fatalf("written events do not parse back: %d of %d, %d skipped, %v", len(again), len(whole), skipped, err)
		}
	})
}

// holdingReceiver answers every request after the first at once; the
// first waits until release is closed (or the request is cancelled).
func holdingReceiver(t *testing.T, release <-chan struct{}) (*httptest.Server, <-chan uint64, <-chan struct{}) {
	t.Helper()
	got := make(chan uint64, 100)
	first := make(chan struct{})
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n++
		if n == 1 {
			close(first)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		var m struct {
			Seq uint64 `json:"seq"`
		}
		_ = json.Unmarshal(b, &m)
		got <- m.Seq
	}))
	t.Cleanup(srv.Close)
	return srv, got, first
}

// TestShutdownDeliversQueued: what is queued when Close starts is
// delivered, behind a slow first delivery, before Close returns.
func TestShutdownDeliversQueued(t *testing.T) {
	release := make(chan struct{})
	srv, got, first := holdingReceiver(t, release)
	d, err := New([]Config{{URL: srv.URL, Secret: "k", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		d.Observe(callEvent(i))
	}
	<-first
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Close(ctx) }()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Close: %v", err)
	}
	var seqs []uint64
	for len(got) > 0 {
		seqs = append(seqs, <-got)
	}
	if !equalSeqs(seqs, []uint64{1, 2, 3}) {
		t.Fatalf("delivered %v, want 1 2 3 in order", seqs)
	}
	if st := d.Status()[0]; st.Delivered != 3 || st.Failed != 0 || st.Queued != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestShutdownForcedSpools: an endpoint that never answers; when the
// Close's ctx ends, the delivery in flight and the queue are saved,
// and the next dispatcher on the same spool sends them, in order.
func TestShutdownForcedSpools(t *testing.T) {
	// Holds every request until it is cancelled, then, once answering is
	// set, answers and records.
	var answering atomic.Bool
	first := make(chan struct{}, 1)
	got := make(chan uint64, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read first: the server notices a client gone only then.
		b, _ := io.ReadAll(r.Body)
		if !answering.Load() {
			select {
			case first <- struct{}{}:
			default:
			}
			<-r.Context().Done()
			return
		}
		var m struct {
			Seq uint64 `json:"seq"`
		}
		_ = json.Unmarshal(b, &m)
		got <- m.Seq
	}))
	defer srv.Close()
	spool := filepath.Join(t.TempDir(), "webhook-queue.jsonl")
	cfg := []Config{{URL: srv.URL, Secret: "k", Timeout: time.Minute}}
	d, err := New(cfg, WithSpool(spool))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		d.Observe(callEvent(i))
	}
	<-first
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Close(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("forced Close: %v, want context.Canceled", err)
	}
	if st := d.Status()[0]; st.Failed != 0 || st.Delivered != 0 {
		t.Errorf("status %+v: saved events must not count as failed", st)
	}

	// The next start sends them to the same URL, now answering.
	answering.Store(true)
	d2, err := New(cfg, WithSpool(spool))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool still there after loading: %v", err)
	}
	t.Cleanup(func() { _ = d2.Close(context.Background()) })
	for _, want := range []uint64{1, 2, 3} {
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("got seq %d, want %d", s, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("saved event %d not delivered", want)
		}
	}
}

// TestShutdownWithoutSpoolCountsFailed: without a spool, what a forced
// shutdown leaves is counted as dropped.
func TestShutdownWithoutSpoolCountsFailed(t *testing.T) {
	never := make(chan struct{})
	defer close(never)
	srv, _, first := holdingReceiver(t, never)
	d, err := New([]Config{{URL: srv.URL, Secret: "k", Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	d.Observe(callEvent(1))
	d.Observe(callEvent(2))
	<-first
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("forced Close: %v", err)
	}
	if st := d.Status()[0]; st.Dropped != 2 || st.Delivered != 0 {
		t.Errorf("status %+v, want both events dropped", st)
	}
}
