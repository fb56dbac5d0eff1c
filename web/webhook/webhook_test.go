package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

var at = time.Date(2026, 11, 23, 10, 15, 3, 0, time.UTC)

func callEvent(seq uint64) monitor.Event {
	return monitor.NewEvent(seq, at, &monitor.Call{ID: "home:1", Source: "home", State: monitor.Ended, Reason: monitor.ReasonCompleted})
}

// start makes the dispatcher's workers stop with the test, giving up on
// whatever is still queued.
func start(t *testing.T, d *Dispatcher) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = d.Close(ctx)
	})
}

func TestDeliverySignedAndRetried(t *testing.T) {
	var hits atomic.Int32
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if hits.Add(1) == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	d, err := New([]Config{{URL: srv.URL, Secret: "k3y"}}, WithRetryBase(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	d.Observe(monitor.NewEvent(1, at, &monitor.SourceStatus{Name: "home"})) // not subscribed
	ev := callEvent(2)
	d.Observe(ev)
	var r *http.Request
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	body := <-bodies
	if r.Header.Get(SignatureHeader) != Sign([]byte("k3y"), body) || r.Header.Get(EventHeader) != "call" ||
		r.Header.Get(EventIDHeader) != EventID(body) || len(EventID(body)) != 32 {
		t.Fatalf("headers = %v", r.Header)
	}
	// The body is the envelope, as /events carries it.
	var m struct {
		Type string       `json:"type"`
		Seq  uint64       `json:"seq"`
		At   time.Time    `json:"at"`
		Call monitor.Call `json:"call"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Type != "call" || m.Seq != 2 || !m.At.Equal(at) || m.Call.ID != "home:1" {
		t.Fatalf("body = %s (%v)", body, err)
	}
	if want, _ := ev.JSON(); string(body) != string(want) {
		t.Fatalf("body = %s, want the envelope %s", body, want)
	}
	if hits.Load() != 2 {
		t.Fatalf("hits = %d, want a failure then a retry", hits.Load())
	}
	st := waitStatus(t, d, func(st EndpointStatus) bool { return st.Delivered == 1 })
	if !st.OK || st.Delivered != 1 || st.Failed != 0 {
		t.Fatalf("status = %+v", st)
	}
}

func TestDeadEndpointNeverBlocksAndCountsDrops(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // hangs until the test ends
	}))
	defer srv.Close()
	defer once.Do(func() { close(release) })
	d, err := New([]Config{{URL: srv.URL, Secret: "k", QueueSize: 2, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	for i := 0; i < 100; i++ {
		d.Observe(callEvent(uint64(i))) // must return at once every time
	}
	st := d.Status()[0]
	if st.Dropped < 97 || st.Queued > 2 {
		t.Fatalf("status = %+v, want the overflow dropped and counted", st)
	}
}

func TestRefusalIsNotRetried(t *testing.T) {
	var hits atomic.Int32
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusForbidden)
		done <- struct{}{}
	}))
	defer srv.Close()
	d, _ := New([]Config{{URL: srv.URL, Secret: "k"}}, WithRetryBase(time.Millisecond))
	start(t, d)
	d.Observe(callEvent(1))
	<-done
	if st := waitStatus(t, d, func(st EndpointStatus) bool { return st.Failed > 0 }); st.Failed != 1 || st.OK || hits.Load() != 1 {
		t.Fatalf("status = %+v, hits = %d", st, hits.Load())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{URL: "ftp://x", Secret: "k"}, {URL: "http://x"}, {URL: "http://x", Secret: "k", Events: []string{"calls"}}} {
		if _, err := New([]Config{c}); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	d, err := New([]Config{{URL: "http://x", Secret: "k", Events: []string{"call", "source", "user"}}})
	if err != nil {
		t.Fatalf("every kind: %v", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCloseDeliversWhatIsQueued holds the endpoint's first request, queues
// more behind it, and checks Close returns only once all were delivered.
func TestCloseDeliversWhatIsQueued(t *testing.T) {
	var hits atomic.Int32
	first := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			close(first)
			<-release
		}
	}))
	defer srv.Close()
	d, err := New([]Config{{URL: srv.URL, Secret: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		d.Observe(callEvent(i))
	}
	<-first
	close(release)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := d.Status()[0]; hits.Load() != 3 || st.Delivered != 3 || st.Queued != 0 {
		t.Fatalf("after Close: %d hits, status %+v", hits.Load(), st)
	}
	d.Observe(callEvent(4)) // after Close: dropped, never blocks
	if st := d.Status()[0]; st.Dropped != 1 {
		t.Fatalf("status %+v, want the late event dropped", st)
	}
}

// TestCloseGivesUpWhenCtxEnds stops a dispatcher stuck on a hanging
// endpoint: Close returns with the ctx's error and counts what it left.
func TestCloseGivesUpWhenCtxEnds(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	d, err := New([]Config{{URL: srv.URL, Secret: "k", Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 3; i++ {
		d.Observe(callEvent(i))
	}
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want the ctx's error", err)
	}
	if st := d.Status()[0]; st.Dropped != 3 || st.Delivered != 0 || st.Failed != 0 {
		t.Fatalf("status %+v, want all three dropped", st)
	}
}

// waitStatus polls the endpoint's status: the delivery finishes in the
// worker after the receiving handler has already returned.
func waitStatus(t *testing.T, d *Dispatcher, ok func(EndpointStatus) bool) EndpointStatus {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		if st := d.Status()[0]; ok(st) {
			return st
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("status never reached: %+v", d.Status()[0])
		}
	}
}
