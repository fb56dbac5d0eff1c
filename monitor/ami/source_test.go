package ami_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
)

// statusSink records everything and signals each change.
type statusSink struct {
	mu      sync.Mutex
	changed chan struct{}
	states  []monitor.SourceStatus
	calls   []monitor.Call
}

func newStatusSink() *statusSink { return &statusSink{changed: make(chan struct{}, 1)} }

func (s *statusSink) note() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}
func (s *statusSink) Call(c monitor.Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	s.note()
}
func (s *statusSink) SourceStatus(st monitor.SourceStatus) {
	s.mu.Lock()
	s.states = append(s.states, st)
	s.mu.Unlock()
	s.note()
}
func (s *statusSink) UserEvent(monitor.UserEvent) {}

func (s *statusSink) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *statusSink) lastState() monitor.SourceStatus {
	if len(s.states) == 0 {
		return monitor.SourceStatus{}
	}
	return s.states[len(s.states)-1]
}

func run(t *testing.T, cfg ami.Config) (*statusSink, context.CancelFunc) {
	t.Helper()
	src, err := ami.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := newStatusSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return sink, cancel
}

func TestSourceResyncReconnectAndLoginFailure(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	// A call already up when we connect appears from CoreShowChannels.
	srv.SetChannels(ami.M("Channel", "SIP/150010001-00000001", "Uniqueid", "1.1", "Linkedid", "1.1",
		"CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"))
	sink, _ := run(t, ami.Config{Name: "pbx", Address: srv.Addr(), Username: "admin", Secret: "pw",
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, PingInterval: time.Hour})
	sink.waitFor(t, "connected", func() bool { return sink.lastState().State == monitor.LinkConnected })
	sink.waitFor(t, "resynced call", func() bool {
		return len(sink.calls) > 0 && sink.calls[len(sink.calls)-1].State == monitor.Connected
	})

	// While the link is down the call ends: after the reconnect it is not
	// listed, and it must not stay connected on a wallboard.
	srv.SetChannels()
	srv.CloseConns()
	sink.waitFor(t, "down", func() bool { return sink.lastState().State == monitor.LinkDown })
	sink.waitFor(t, "connected again", func() bool { return sink.lastState().State == monitor.LinkConnected })
	sink.mu.Lock()
	last := sink.calls[len(sink.calls)-1]
	sink.mu.Unlock()
	if last.State != monitor.Ended || last.Reason != monitor.ReasonFailed {
		t.Fatalf("call after link loss = %s %s", last.State, last.Reason)
	}

	// Live events after the reconnect are tracked.
	srv.Push(ami.M("Event", "Newchannel", "Channel", "SIP/150010002-00000009", "Uniqueid", "2.1", "Linkedid", "2.1", "CallerIDNum", "202", "Exten", "203"))
	sink.waitFor(t, "new call", func() bool {
		return len(sink.calls) > 0 && sink.calls[len(sink.calls)-1].From.Number == "202"
	})
}

func TestSourceWrongSecretShowsClearStatus(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	sink, _ := run(t, ami.Config{Name: "pbx", Address: srv.Addr(), Username: "admin", Secret: "wrong",
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	sink.waitFor(t, "down with an auth error", func() bool {
		st := sink.lastState()
		return st.State == monitor.LinkDown && st.Error != "" && containsAll(st.Error, "authentication failed")
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, st := range sink.states {
		if containsAll(st.Error, "wrong") {
			t.Fatalf("status leaks the secret: %q", st.Error)
		}
	}
}

func TestSourceSilentManagerIsDetected(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	sink, _ := run(t, ami.Config{Name: "pbx", Address: srv.Addr(), Username: "admin", Secret: "pw",
		PingInterval: 30 * time.Millisecond, PingTimeout: 50 * time.Millisecond, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	sink.waitFor(t, "connected", func() bool { return sink.lastState().State == monitor.LinkConnected })
	srv.Silent(true)
	sink.waitFor(t, "health check failure", func() bool {
		st := sink.lastState()
		return st.State == monitor.LinkDown && containsAll(st.Error, "health check")
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestSourceCallControl(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	srv.SetChannels(
		ami.M("Channel", "PJSIP/201-00000001", "Uniqueid", "5.1", "Linkedid", "5.1", "CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"),
		ami.M("Channel", "PJSIP/202-00000002", "Uniqueid", "5.2", "Linkedid", "5.1", "CallerIDNum", "202", "ChannelStateDesc", "Up"),
	)
	src, err := ami.New(ami.Config{Name: "pbx", Address: srv.Addr(), Username: "admin", Secret: "pw", PingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx0 := context.Background()
	if err := src.Hangup(ctx0, "pbx:5.1"); !errors.Is(err, monitor.ErrNotConnected) {
		t.Fatalf("before connecting: %v", err)
	}
	sink := newStatusSink()
	ctx, cancel := context.WithCancel(ctx0)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	sink.waitFor(t, "connected", func() bool { return sink.lastState().State == monitor.LinkConnected })
	if acts := sink.lastState().Actions; len(acts) != 3 {
		t.Fatalf("actions = %v", acts)
	}
	if err := src.Transfer(ctx, "pbx:5.1", "203"); err != nil {
		t.Fatal(err)
	}
	if err := src.Originate(ctx, "201", "0301234"); err != nil {
		t.Fatal(err)
	}
	if err := src.Hangup(ctx, "pbx:5.1"); err != nil {
		t.Fatal(err)
	}
	if err := src.Hangup(ctx, "pbx:nope"); !errors.Is(err, monitor.ErrNoSuchCall) {
		t.Fatalf("unknown call: %v", err)
	}
	var got []string
	for _, a := range srv.Actions() {
		switch a.Get("Action") {
		case "Redirect":
			got = append(got, "Redirect "+a.Get("Channel")+" "+a.Get("Exten")+"@"+a.Get("Context"))
		case "Originate":
			got = append(got, "Originate "+a.Get("Channel")+" "+a.Get("Exten"))
		case "Hangup":
			got = append(got, "Hangup "+a.Get("Channel"))
		}
	}
	want := "Redirect PJSIP/201-00000001 203@from-internal,Originate PJSIP/201 0301234,Hangup PJSIP/201-00000001,Hangup PJSIP/202-00000002"
	if strings.Join(got, ",") != want {
		t.Fatalf("actions = %s\nwant      %s", strings.Join(got, ","), want)
	}
}

func TestSourceTLS(t *testing.T) {
	srv, caPEM := amitest.NewTLS(t, "admin", "pw")
	ca := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	sink, _ := run(t, ami.Config{Name: "pbx", Address: srv.Addr(), Username: "admin", Secret: "pw", TLS: true, TLSCAFile: ca, PingInterval: time.Hour})
	sink.waitFor(t, "connected over TLS", func() bool { return sink.lastState().State == monitor.LinkConnected })

	// Without trusting the certificate the link stays down with the reason.
	untrusted, _ := run(t, ami.Config{Name: "pbx2", Address: srv.Addr(), Username: "admin", Secret: "pw", TLS: true,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	untrusted.waitFor(t, "certificate error", func() bool {
		st := untrusted.lastState()
		return st.State == monitor.LinkDown && containsAll(st.Error, "certificate")
	})
}
