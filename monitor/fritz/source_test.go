package fritz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// testConfig has intervals short enough for tests.
func testConfig(addr string) Config {
	return Config{
		Name:           "home",
		Type:           "fritz",
		Address:        addr,
		ReconnectMin:   5 * time.Millisecond,
		ReconnectMax:   40 * time.Millisecond,
		HealthInterval: 80 * time.Millisecond,
		HealthTimeout:  500 * time.Millisecond,
		Location:       "Europe/Berlin",
	}
}

// running is a Source running in the background of a test.
type running struct {
	rec      *recorder
	counters *monitor.Counters
	cancel   context.CancelFunc
	done     chan error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{rec: newRecorder(), counters: new(monitor.Counters), done: make(chan error, 1)}
	src, err := New(cfg, WithCounters(r.counters))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- src.Run(ctx, r.rec) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// waitFor waits until cond holds of the recorder, failing after 10s.
func (r *running) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		r.rec.mu.Lock()
		ok, ch := cond(), r.rec.changed
		r.rec.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; statuses %+v", what, r.statuses())
		}
	}
}

// lastState is the newest status state; recorder lock held on entry.
func (r *running) lastState() monitor.LinkState {
	if len(r.rec.statuses) == 0 {
		return ""
	}
	return r.rec.statuses[len(r.rec.statuses)-1].State
}

func (r *running) statuses() []monitor.LinkState {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var out []monitor.LinkState
	for _, s := range r.rec.statuses {
		out = append(out, s.State)
	}
	return out
}

// countState counts statuses in state; recorder lock held on entry.
func (r *running) countState(st monitor.LinkState) int {
	n := 0
	for _, s := range r.rec.statuses {
		if s.State == st {
			n++
		}
	}
	return n
}

// endedWith reports whether call key ended with reason; recorder lock
// held on entry.
func (r *running) endedWith(key string, reason monitor.Reason) bool {
	for _, c := range r.rec.calls {
		if isKey(c.ID, "home", key) && c.State == monitor.Ended && c.Reason == reason {
			return true
		}
	}
	return false
}

func (r *running) hasState(key string, st monitor.State) bool {
	for _, c := range r.rec.calls {
		if isKey(c.ID, "home", key) && c.State == st {
			return true
		}
	}
	return false
}

// serverSees waits until srv has registered the source's connection, so
// that what it sends next reaches the source.
func serverSees(t *testing.T, srv *fritztest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSourceCallFlow(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	r := start(t, testConfig(srv.Addr()))
	r.waitFor(t, "connected", func() bool { return r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)

	srv.Send("23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;")
	r.waitFor(t, "ringing", func() bool { return r.hasState("0", monitor.Ringing) })
	// A line in two pieces, and two lines in one write.
	srv.SendRaw([]byte("23.11.26 10:15:07;CONNECT;0;10;0170"))
	srv.SendRaw([]byte("1234567;\r\nnot a line\r\n"))
	r.waitFor(t, "connected call", func() bool { return r.hasState("0", monitor.Connected) })
	serverSees(t, srv)
	srv.Send("23.11.26 10:16:30;DISCONNECT;0;83;")
	r.waitFor(t, "ended", func() bool { return r.endedWith("0", monitor.ReasonCompleted) })

	got := r.rec.ended()[0]
	if got.Duration != 83 || got.From.Number != "01701234567" || got.Line != "SIP0" {
		t.Errorf("ended call %+v", got)
	}
	wantStart := time.Date(2026, 11, 23, 10, 15, 3, 0, berlin)
	if !got.Started.Equal(wantStart) {
		t.Errorf("started %v, want %v (router time in Europe/Berlin)", got.Started, wantStart)
	}
	if n := r.counters.Events.Load(); n != 4 {
		t.Errorf("events = %d, want 4", n)
	}
	if n := r.counters.ParseErrors.Load(); n != 1 {
		t.Errorf("parse errors = %d, want 1", n)
	}
	r.rec.mu.Lock()
	st := r.rec.statuses[len(r.rec.statuses)-1]
	r.rec.mu.Unlock()
	if st.Type != "fritz" || st.Name != "home" || st.Address != srv.Addr() || st.Since.IsZero() {
		t.Errorf("status %+v", st)
	}
}

func TestSourceReconnectsAfterRouterReboot(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	r := start(t, testConfig(srv.Addr()))
	r.waitFor(t, "connected", func() bool { return r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
	srv.Send("23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;")
	r.waitFor(t, "ringing", func() bool { return r.hasState("0", monitor.Ringing) })

	// The router goes away: the connection closes and new ones are
	// refused for a while.
	srv.Stop()
	r.waitFor(t, "down", func() bool { return r.lastState() == monitor.LinkDown })
	r.waitFor(t, "call ended as failed", func() bool { return r.endedWith("0", monitor.ReasonFailed) })
	c := r.rec.ended()[0]
	if !strings.Contains(c.Cause, "link lost") {
		t.Errorf("cause %q, want link lost", c.Cause)
	}
	r.rec.mu.Lock()
	down := r.rec.statuses[len(r.rec.statuses)-1]
	r.rec.mu.Unlock()
	if down.Error == "" {
		t.Error("down status without the error")
	}

	// It comes back on the same port.
	srv.Restart()
	r.waitFor(t, "connected again", func() bool { return r.countState(monitor.LinkConnected) == 2 && r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
	if n := r.counters.Reconnects.Load(); n < 1 {
		t.Errorf("reconnects = %d", n)
	}
	srv.Send("23.11.26 10:20:00;CALL;1;20;1234567;0891234567;SIP1;")
	srv.Send("23.11.26 10:20:09;DISCONNECT;1;0;")
	r.waitFor(t, "call after reconnect", func() bool { return r.endedWith("1", monitor.ReasonCancelled) })

	// A reboot that only drops the connection is survived too.
	srv.CloseConns()
	r.waitFor(t, "connected a third time", func() bool { return r.countState(monitor.LinkConnected) == 3 && r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
}

func TestSourceDetectsSilentDeadLink(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	r := start(t, testConfig(srv.Addr()))
	r.waitFor(t, "connected", func() bool { return r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
	srv.Send("23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;")
	r.waitFor(t, "ringing", func() bool { return r.hasState("0", monitor.Ringing) })

	// A quiet but healthy router: health checks pass and the link stays.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.WaitAccepted(ctx, srv.Accepted()+1); err != nil {
		t.Fatal(err)
	}
	if got := r.statuses(); got[len(got)-1] != monitor.LinkConnected || srv.Conns() < 1 {
		t.Fatalf("a quiet link was dropped: %v", got)
	}

	// The router dies without a word: the socket stays open and silent,
	// the probe is refused.
	srv.Hang()
	r.waitFor(t, "down", func() bool { return r.lastState() == monitor.LinkDown })
	r.waitFor(t, "call ended as failed", func() bool { return r.endedWith("0", monitor.ReasonFailed) })
	r.rec.mu.Lock()
	var sawHealth bool
	for _, s := range r.rec.statuses {
		sawHealth = sawHealth || strings.Contains(s.Error, ErrHealthCheck.Error())
	}
	r.rec.mu.Unlock()
	if !sawHealth {
		t.Errorf("no status says the health check failed: %+v", r.rec.statuses)
	}
	srv.Stop()
	srv.Restart()
	r.waitFor(t, "connected again", func() bool { return r.countState(monitor.LinkConnected) == 2 && r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
}

func TestSourceStopsOnCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		prep func(srv *fritztest.Server)
		want monitor.LinkState
	}{
		{name: "while connected", prep: func(*fritztest.Server) {}, want: monitor.LinkConnected},
		{name: "while retrying", prep: func(srv *fritztest.Server) { srv.Stop() }, want: monitor.LinkDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fritztest.New(t)
			cfg := testConfig(srv.Addr())
			cfg.ReconnectMin, cfg.ReconnectMax = time.Hour, time.Hour
			r := start(t, cfg)
			r.waitFor(t, "connected", func() bool { return r.lastState() == monitor.LinkConnected })
			serverSees(t, srv)
			srv.Send("23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;")
			r.waitFor(t, "ringing", func() bool { return r.hasState("0", monitor.Ringing) })
			tc.prep(srv)
			r.waitFor(t, string(tc.want), func() bool { return r.lastState() == tc.want })
			r.cancel()
			select {
			case err := <-r.done:
				r.done <- err // for the cleanup
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			if got := r.statuses(); got[len(got)-1] != monitor.LinkStopped {
				t.Errorf("statuses %v, want stopped last", got)
			}
			if r.rec.ended()[0].Reason != monitor.ReasonFailed {
				t.Error("active call not ended at stop")
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no name", Config{Type: "fritz", Address: "127.0.0.1"}},
		{"no address", Config{Name: "home", Type: "fritz"}},
		{"wrong type", Config{Name: "home", Type: "ami", Address: "127.0.0.1"}},
		{"bad location", Config{Name: "home", Address: "127.0.0.1", Location: "Mars/Olympus"}},
		{"max below min", Config{Name: "home", Address: "127.0.0.1", ReconnectMin: time.Minute, ReconnectMax: time.Second}},
		{"bad port", Config{Name: "home", Address: "127.0.0.1:notaport"}},
		{"port out of range", Config{Name: "home", Address: "127.0.0.1:99999"}},
		{"no host", Config{Name: "home", Address: ":1012"}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New error %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	src, err := New(Config{Name: "home", Address: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Config(); got.Address != "192.0.2.1:1012" || got.HealthInterval != 10*time.Second || got.Type != "fritz" {
		t.Errorf("defaults not applied: %+v", got)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	min, max := 100*time.Millisecond, time.Second
	for n := 0; n < 10; n++ {
		want := min << n
		if want > max {
			want = max
		}
		for i := 0; i < 50; i++ {
			got := monitor.Backoff(min, max, n)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want/2, want)
			}
		}
	}
}
