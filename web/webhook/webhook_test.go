package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

func callEvent(seq uint64) monitor.Event {
	return monitor.Event{Seq: seq, Type: monitor.EventCall, Call: &monitor.Call{ID: "home:1", Source: "home", State: monitor.Ended, Reason: monitor.ReasonCompleted}}
}

func start(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
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
	d.Observe(monitor.Event{Seq: 1, Type: monitor.EventSource, Source: &monitor.SourceStatus{Name: "home"}}) // not subscribed
	d.Observe(callEvent(2))
	var r *http.Request
	select {
	case r = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	body := <-bodies
	if r.Header.Get(SignatureHeader) != Sign([]byte("k3y"), body) || r.Header.Get(EventHeader) != "call" {
		t.Fatalf("headers = %v", r.Header)
	}
	var m struct {
		Type string       `json:"type"`
		Seq  uint64       `json:"seq"`
		Call monitor.Call `json:"call"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Type != "call" || m.Seq != 2 || m.Call.ID != "home:1" {
		t.Fatalf("body = %s (%v)", body, err)
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
