package fritz

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// testConfig has intervals short enough for tests; calls outlive a lost
// link for an hour unless a test says otherwise.
func testConfig(addr string) Config {
	return Config{
		Name: "home",
		Type: "fritz",
		LinkConfig: monitor.LinkConfig{
			Address:      addr,
			ReconnectMin: 5 * time.Millisecond,
			ReconnectMax: 40 * time.Millisecond,
			LinkGrace:    time.Hour,
		},
		HealthInterval: 80 * time.Millisecond,
		HealthTimeout:  500 * time.Millisecond,
		Location:       "Europe/Berlin",
	}
}

// running is a Source running in the background of a test.
type running struct {
	rec      *monitortest.Recorder
	counters *monitor.Counters
	run      *monitortest.Running
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{rec: monitortest.NewRecorder(), counters: new(monitor.Counters)}
	src, err := New(cfg, WithCounters(r.counters))
	if err != nil {
		t.Fatal(err)
	}
	r.run = monitortest.Start(t, func(ctx context.Context) error { return src.Run(ctx, r.rec) })
	return r
}

func (r *running) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	r.rec.WaitFor(t, what, cond)
}

func (r *running) lastState() monitor.LinkState { return r.rec.LastStatus().State }

// endedWith reports whether call key ended with reason.
func (r *running) endedWith(key string, reason monitor.Reason) bool {
	for _, c := range r.rec.Ended() {
		if isKey(c.ID, "home", key) && c.Reason == reason {
			return true
		}
	}
	return false
}

func (r *running) hasState(key string, st monitor.State) bool {
	for _, c := range r.rec.Calls() {
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

// ringOnce waits for the source to connect and rings call 0 on it.
func ringOnce(t *testing.T, srv *fritztest.Server, r *running) {
	t.Helper()
	r.waitFor(t, "connected", func() bool { return r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
	srv.Send("23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;")
	r.waitFor(t, "ringing", func() bool { return r.hasState("0", monitor.Ringing) })
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

	got := r.rec.Ended()[0]
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
	st := r.rec.LastStatus()
	if st.Type != "fritz" || st.Name != "home" || st.Address != srv.Addr() || st.Since.IsZero() {
		t.Errorf("status %+v", st)
	}
}

func TestSourceReconnectsAfterRouterReboot(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	cfg := testConfig(srv.Addr())
	// The router stays away longer than the grace period: its calls end.
	cfg.LinkGrace = time.Nanosecond
	r := start(t, cfg)
	ringOnce(t, srv, r)

	// The router goes away: the connection closes and new ones are
	// refused for a while.
	srv.Stop()
	r.waitFor(t, "down", func() bool { return r.lastState() == monitor.LinkDown })
	r.waitFor(t, "call ended as failed", func() bool { return r.endedWith("0", monitor.ReasonFailed) })
	c := r.rec.Ended()[0]
	if c.Cause != monitor.CauseLinkLost {
		t.Errorf("cause %q, want link lost", c.Cause)
	}
	if down := r.rec.LastStatus(); down.Error == "" {
		t.Error("down status without the error")
	}

	// It comes back on the same port.
	srv.Restart()
	r.waitFor(t, "connected again", func() bool {
		return r.rec.CountStatus(monitor.LinkConnected) == 2 && r.lastState() == monitor.LinkConnected
	})
	serverSees(t, srv)
	if n := r.counters.Reconnects.Load(); n < 1 {
		t.Errorf("reconnects = %d", n)
	}
	srv.Send("23.11.26 10:20:00;CALL;1;20;1234567;0891234567;SIP1;")
	srv.Send("23.11.26 10:20:09;DISCONNECT;1;0;")
	r.waitFor(t, "call after reconnect", func() bool { return r.endedWith("1", monitor.ReasonCancelled) })

	// A reboot that only drops the connection is survived too.
	srv.CloseConns()
	r.waitFor(t, "connected a third time", func() bool {
		return r.rec.CountStatus(monitor.LinkConnected) == 3 && r.lastState() == monitor.LinkConnected
	})
	serverSees(t, srv)
}

func TestSourceDetectsSilentDeadLink(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	cfg := testConfig(srv.Addr())
	cfg.LinkGrace = time.Nanosecond
	r := start(t, cfg)
	ringOnce(t, srv, r)

	// A quiet but healthy router: health checks pass and the link stays.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.WaitAccepted(ctx, srv.Accepted()+1); err != nil {
		t.Fatal(err)
	}
	if got := r.rec.LinkStates(); got[len(got)-1] != monitor.LinkConnected || srv.Conns() < 1 {
		t.Fatalf("a quiet link was dropped: %v", got)
	}

	// The router dies without a word: the socket stays open and silent,
	// the probe is refused.
	srv.Hang()
	r.waitFor(t, "down", func() bool { return r.lastState() == monitor.LinkDown })
	r.waitFor(t, "call ended as failed", func() bool { return r.endedWith("0", monitor.ReasonFailed) })
	var sawHealth bool
	for _, s := range r.rec.Statuses() {
		sawHealth = sawHealth || strings.Contains(s.Error, ErrHealthCheck.Error())
	}
	if !sawHealth {
		t.Errorf("no status says the health check failed: %+v", r.rec.Statuses())
	}
	srv.Stop()
	srv.Restart()
	r.waitFor(t, "connected again", func() bool {
		return r.rec.CountStatus(monitor.LinkConnected) == 2 && r.lastState() == monitor.LinkConnected
	})
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
			ringOnce(t, srv, r)
			tc.prep(srv)
			r.waitFor(t, string(tc.want), func() bool { return r.lastState() == tc.want })
			r.run.Stop(t)
			if got := r.rec.LinkStates(); got[len(got)-1] != monitor.LinkStopped {
				t.Errorf("statuses %v, want stopped last", got)
			}
			if c := r.rec.Ended()[0]; c.Reason != monitor.ReasonFailed || c.Cause != monitor.CauseStopped {
				t.Errorf("active call ended %s %q at stop, want failed, monitor stopped", c.Reason, c.Cause)
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
		{"no name", Config{Type: "fritz", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1"}}},
		{"no address", Config{Name: "home", Type: "fritz"}},
		{"wrong type", Config{Name: "home", Type: "ami", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1"}}},
		{"bad location", Config{Name: "home", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1"}, Location: "Mars/Olympus"}},
		{"max below min", Config{Name: "home", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1", ReconnectMin: time.Minute, ReconnectMax: time.Second}}},
		{"bad port", Config{Name: "home", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1:notaport"}}},
		{"port out of range", Config{Name: "home", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1:99999"}}},
		{"no host", Config{Name: "home", LinkConfig: monitor.LinkConfig{Address: ":1012"}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New error %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	src, err := New(Config{Name: "home", LinkConfig: monitor.LinkConfig{Address: "192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := src.Config(); got.Address != "192.0.2.1:1012" || got.HealthInterval != 10*time.Second || got.Type != "fritz" || got.LinkGrace != monitor.DefaultLinkGrace {
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

// TestSourceKeepsCallsAcrossABriefDrop: the router's connection drops
// and comes straight back. A call still up is one call throughout, ended
// by the DISCONNECT the router sends to the new connection; a call whose
// DISCONNECT fell into the gap ends "ended while disconnected" when the
// router reuses its connection id.
func TestSourceKeepsCallsAcrossABriefDrop(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	r := start(t, testConfig(srv.Addr()))
	r.waitFor(t, "connected", func() bool { return r.lastState() == monitor.LinkConnected })
	serverSees(t, srv)
	srv.Send("23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;")
	srv.Send("23.11.26 10:15:05;CONNECT;0;10;01701234567;")
	srv.Send("23.11.26 10:15:10;CALL;1;20;1234567;0891234567;SIP1;")
	r.waitFor(t, "two calls", func() bool { return r.hasState("0", monitor.Connected) && r.hasState("1", monitor.Dialing) })

	srv.CloseConns()
	r.waitFor(t, "connected again", func() bool {
		return r.rec.CountStatus(monitor.LinkConnected) == 2 && r.lastState() == monitor.LinkConnected
	})
	serverSees(t, srv)
	if n := len(r.rec.Ended()); n != 0 {
		t.Fatalf("%d calls ended by a brief drop: %+v", n, r.rec.Ended())
	}
	// Call 1 ended while the link was down; a new call gets its id.
	srv.Send("23.11.26 10:16:00;RING;1;030999;1234567;SIP0;")
	srv.Send("23.11.26 10:16:30;DISCONNECT;0;85;")
	r.waitFor(t, "call 0 completed", func() bool { return r.endedWith("0", monitor.ReasonCompleted) })

	var zero, one []monitor.Call
	for _, c := range r.rec.Ended() {
		switch {
		case isKey(c.ID, "home", "0"):
			zero = append(zero, c)
		case isKey(c.ID, "home", "1"):
			one = append(one, c)
		}
	}
	if len(zero) != 1 || zero[0].Duration != 85 {
		t.Errorf("call 0 ended %+v, want once, completed after 85 s", zero)
	}
	if len(one) != 1 || one[0].Reason != monitor.ReasonFailed || one[0].Cause != monitor.CauseEndedWhileDisconnected {
		t.Errorf("call 1 ended %+v, want failed, ended while disconnected", one)
	}
	ids := map[monitor.CallID]bool{}
	for _, c := range r.rec.Calls() {
		if isKey(c.ID, "home", "0") {
			ids[c.ID] = true
		}
	}
	if len(ids) != 1 {
		t.Errorf("connection 0 became calls %v, want one", ids)
	}
	var fresh []monitor.CallID
	for id, c := range r.rec.Active() {
		if isKey(id, "home", "1") && c.From.Number == "030999" {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) != 1 || one[0].ID == fresh[0] {
		t.Errorf("the new call on connection 1 is not active under an id of its own: %v, ended %v", fresh, one)
	}
}

// TestSourceSkipsOverlongLines: an over-long line (with or without its
// newline in the same read) is skipped and counted; the link and its
// calls stay, and the next line is read whole.
func TestSourceSkipsOverlongLines(t *testing.T) {
	t.Parallel()
	srv := fritztest.New(t)
	r := start(t, testConfig(srv.Addr()))
	ringOnce(t, srv, r)

	long := strings.Repeat("9", 3*MaxLineLength)
	srv.SendRaw([]byte("23.11.26 10:15:04;RING;1;" + long))
	srv.SendRaw([]byte(long + ";1234567;SIP0;\r\n23.11.26 10:15:07;CONNECT;0;10;01701234567;\r\n"))
	srv.Send("23.11.26 10:15:08;RING;2;" + long + ";1;SIP0;")
	srv.Send("23.11.26 10:16:30;DISCONNECT;0;83;")
	r.waitFor(t, "call ended", func() bool { return r.endedWith("0", monitor.ReasonCompleted) })
	if n := r.counters.ParseErrors.Load(); n != 2 {
		t.Errorf("parse errors = %d, want 2", n)
	}
	if n := r.rec.CountStatus(monitor.LinkConnected); n != 1 || r.lastState() != monitor.LinkConnected {
		t.Errorf("statuses %v: an over-long line touched the link", r.rec.LinkStates())
	}
	if r.hasState("1", monitor.Ringing) || r.hasState("2", monitor.Ringing) {
		t.Error("an over-long line became a call")
	}
}

func TestLineSplitter(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxLineLength+1)
	tests := []struct {
		name    string
		chunks  []string
		lines   []string
		tooLong int
	}{
		{"crlf and lf", []string{"a\r\nb\n"}, []string{"a", "b"}, 0},
		{"split across reads", []string{"ab", "c\r", "\nd\n"}, []string{"abc", "d"}, 0},
		{"blank lines", []string{"\r\n \n a\n"}, []string{" a"}, 0},
		{"exactly the limit", []string{strings.Repeat("y", MaxLineLength) + "\r\n"}, []string{strings.Repeat("y", MaxLineLength)}, 0},
		{"over-long in one read", []string{long + "\nok\n"}, []string{"ok"}, 1},
		{"over-long over reads", []string{long[:600], long[600:] + long, "more", "\nok\n"}, []string{"ok"}, 1},
		{"two over-long lines", []string{long + "\n" + long + "\nok\n"}, []string{"ok"}, 2},
	}
	for _, tt := range tests {
		var l lineSplitter
		var got []string
		n := 0
		for _, c := range tt.chunks {
			l.feed([]byte(c), func(b []byte) { got = append(got, string(b)) }, func(err error) {
				if !errors.Is(err, ErrLineTooLong) {
					t.Errorf("%s: reported %v", tt.name, err)
				}
				n++
			})
		}
		if strings.Join(got, "|") != strings.Join(tt.lines, "|") || n != tt.tooLong {
			t.Errorf("%s: lines %q, %d too long; want %q, %d", tt.name, got, n, tt.lines, tt.tooLong)
		}
	}
}
