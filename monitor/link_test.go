package monitor_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// fakeProto is a PBX a test scripts: every Connect waits for the test's
// next answer, every session's Follow until the test drops it.
type fakeProto struct {
	tr       *monitor.Tracker
	connects chan connectResult
	// following receives each session once it follows events.
	following chan *fakeSession
	clock     *fakeClock
}

type connectResult struct {
	err error
	// live are the calls the PBX lists at the resync; nil: a session
	// that cannot resync.
	live []string
}

func newFakeProto(sink monitor.Sink, clock *fakeClock) *fakeProto {
	return &fakeProto{tr: monitor.NewTracker("pbx", sink), connects: make(chan connectResult), following: make(chan *fakeSession), clock: clock}
}

func (p *fakeProto) Connect(ctx context.Context) (monitor.Session, error) {
	select {
	case r := <-p.connects:
		if r.err != nil {
			return nil, r.err
		}
		s := &fakeSession{p: p, drop: make(chan time.Duration), closed: make(chan struct{})}
		if r.live == nil {
			return s, nil
		}
		return &resyncSession{s, r.live}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *fakeProto) EndCalls(e monitor.Ending) int { return p.tr.EndAll(e) }

type fakeSession struct {
	p         *fakeProto
	drop      chan time.Duration // how long the session was up when it drops
	closed    chan struct{}
	closeOnce sync.Once
}

// Follow ignores ctx on purpose: the link must close a session whose
// ctx ended.
func (s *fakeSession) Follow(context.Context) error {
	s.p.following <- s
	select {
	case d := <-s.drop:
		s.p.clock.advance(d)
		return errors.New("peer closed the connection")
	case <-s.closed:
		return errors.New("closed")
	}
}

func (s *fakeSession) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

type resyncSession struct {
	*fakeSession
	live []string
}

func (s *resyncSession) Resync(context.Context) error {
	tr := s.p.tr
	tr.Retain(func(k string) bool { return slices.Contains(s.live, k) }, monitor.EndedWhileDisconnected)
	for _, k := range s.live {
		tr.Start(k, monitor.Call{From: monitor.Party{Number: k}})
	}
	return nil
}

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// linkRun is a Link running against a fakeProto until the test ends.
type linkRun struct {
	p       *fakeProto
	rec     *monitortest.Recorder
	run     *monitortest.Running
	mu      sync.Mutex
	backoff []int
}

func startLink(t *testing.T, cfg monitor.LinkConfig, wait time.Duration) *linkRun {
	t.Helper()
	return startLinkVia(t, cfg, wait, func(s monitor.Sink) monitor.Sink { return s })
}

// startLinkVia is startLink with the tracker and the link publishing
// through via(the recorder).
func startLinkVia(t *testing.T, cfg monitor.LinkConfig, wait time.Duration, via func(monitor.Sink) monitor.Sink) *linkRun {
	t.Helper()
	clock := &fakeClock{ns: atomic.Int64{}}
	clock.advance(time.Hour)
	r := &linkRun{rec: monitortest.NewRecorder()}
	sink := via(r.rec)
	r.p = newFakeProto(sink, clock)
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	l, err := monitor.NewLink(monitor.LinkInfo{Name: "pbx", Type: "fake"}, cfg, "5038", monitor.WithLinkClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	monitor.SetLinkBackoff(l, func(n int) time.Duration {
		r.mu.Lock()
		r.backoff = append(r.backoff, n)
		r.mu.Unlock()
		return wait
	})
	r.run = monitortest.Start(t, func(ctx context.Context) error { return l.Run(ctx, sink, r.p) })
	return r
}

// connect answers the link's next Connect; a session that comes up is
// returned once it follows.
func (r *linkRun) connect(t *testing.T, res connectResult) *fakeSession {
	t.Helper()
	select {
	case r.p.connects <- res:
	case <-time.After(monitortest.WaitTimeout):
		t.Fatal("the link did not connect")
	}
	if res.err != nil {
		return nil
	}
	select {
	case s := <-r.p.following:
		return s
	case <-time.After(monitortest.WaitTimeout):
		t.Fatal("the session did not follow")
		return nil
	}
}

// stop cancels Run and waits for it to return.
func (r *linkRun) stop(t *testing.T) {
	t.Helper()
	r.run.Stop(t)
	if st := r.rec.LastStatus(); st.State != monitor.LinkStopped {
		t.Errorf("last status %+v, want stopped", st)
	}
}

var errRefused = errors.New("connection refused")

func TestLinkBackoffStartsOverAfterASessionThatWorked(t *testing.T) {
	t.Parallel()
	const max = time.Minute
	tests := []struct {
		name    string
		lasted  time.Duration // how long the session in the middle stayed up
		backoff []int
	}{
		{"long session", max, []int{0, 1, 0, 1}},
		{"session dropped at once", time.Second, []int{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startLink(t, monitor.LinkConfig{ReconnectMin: time.Second, ReconnectMax: max}, 0)
			r.connect(t, connectResult{err: errRefused})
			r.connect(t, connectResult{err: errRefused})
			s := r.connect(t, connectResult{live: []string{}})
			s.drop <- tt.lasted
			r.connect(t, connectResult{err: errRefused})
			r.connect(t, connectResult{live: []string{}}) // the backoff before it is known now
			r.stop(t)
			r.mu.Lock()
			defer r.mu.Unlock()
			if !slices.Equal(r.backoff, tt.backoff) {
				t.Errorf("backoff asked for failures %v, want %v", r.backoff, tt.backoff)
			}
		})
	}
}

func TestLinkPublishesEachStatusOnce(t *testing.T) {
	t.Parallel()
	r := startLink(t, monitor.LinkConfig{}, 0)
	r.connect(t, connectResult{err: errRefused})
	r.connect(t, connectResult{err: errRefused})
	r.connect(t, connectResult{err: errors.New("no route to host")})
	s := r.connect(t, connectResult{live: []string{}})
	s.drop <- time.Second
	r.connect(t, connectResult{}) // a session without resync
	r.stop(t)

	type st struct {
		state monitor.LinkState
		err   string
	}
	var got []st
	for _, s := range r.rec.Statuses() {
		got = append(got, st{s.State, s.Error})
		if s.Name != "pbx" || s.Type != "fake" || s.Address != "127.0.0.1:5038" {
			t.Errorf("status %+v", s)
		}
	}
	want := []st{
		{monitor.LinkConnecting, ""},
		{monitor.LinkDown, "connection refused"},
		// Still down, for another reason; never "connecting" between.
		{monitor.LinkDown, "no route to host"},
		{monitor.LinkResyncing, ""},
		{monitor.LinkConnected, ""},
		{monitor.LinkDown, "peer closed the connection"},
		{monitor.LinkConnected, ""},
		{monitor.LinkStopped, ""},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	all := r.rec.Statuses()
	if !all[2].Since.Equal(all[1].Since) {
		t.Errorf("down since %v, then %v: a link still down keeps its since", all[1].Since, all[2].Since)
	}
}

func TestLinkLostCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		grace time.Duration
		// down: how the link stays down before the next session; true
		// waits for the grace period to end the calls first.
		outlast bool
		// ended: call → cause it ended with before the stop.
		ended map[string]string
		// kept: calls that never ended before the stop, started once.
		kept []string
	}{
		{"short drop reconciled by the resync", time.Hour, false,
			map[string]string{"b": monitor.CauseEndedWhileDisconnected}, []string{"a", "c"}},
		{"down longer than the grace period", time.Nanosecond, true,
			map[string]string{"a": monitor.CauseLinkLost, "b": monitor.CauseLinkLost}, []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startLink(t, monitor.LinkConfig{LinkGrace: tt.grace}, 0)
			s := r.connect(t, connectResult{live: []string{"a", "b"}})
			s.drop <- time.Second
			r.connect(t, connectResult{err: errRefused})
			if tt.outlast {
				r.rec.WaitFor(t, "calls ended", func() bool { return len(r.rec.Ended()) == 2 })
			}
			// After the reconnect the PBX has a (still up), not b (gone
			// while down), and c (new).
			r.connect(t, connectResult{live: []string{"a", "c"}})
			r.rec.WaitFor(t, "c", func() bool { _, ok := r.rec.Active()["pbx:c"]; return ok })
			ended := map[string]string{}
			for _, c := range r.rec.Ended() {
				if c.Reason != monitor.ReasonFailed {
					t.Errorf("%s ended %s, want failed", c.ID, c.Reason)
				}
				ended[c.From.Number] = c.Cause
			}
			if len(ended) != len(tt.ended) {
				t.Errorf("ended %v, want %v", ended, tt.ended)
			}
			for k, cause := range tt.ended {
				if ended[k] != cause {
					t.Errorf("%s ended with %q, want %q", k, ended[k], cause)
				}
			}
			for _, k := range tt.kept {
				starts := 0
				for _, c := range r.rec.Calls() {
					if c.From.Number == k {
						starts++
					}
				}
				if _, ok := ended[k]; ok || starts != 1 {
					t.Errorf("call %s: started %d times, ended %v; want one call throughout", k, starts, ok)
				}
			}
			r.stop(t)
			for _, c := range r.rec.Ended()[len(tt.ended):] {
				if c.Cause != monitor.CauseStopped {
					t.Errorf("%s ended at stop with %q", c.ID, c.Cause)
				}
			}
			if n := len(r.rec.Active()); n != 0 {
				t.Errorf("%d calls still active after stop", n)
			}
		})
	}
}

func TestLinkRunReturnsPromptlyOnCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		prep func(t *testing.T, r *linkRun)
	}{
		{"mid-dial", func(*testing.T, *linkRun) {}},
		{"mid-backoff", func(t *testing.T, r *linkRun) {
			t.Helper()
			r.connect(t, connectResult{err: errRefused})
			r.rec.WaitFor(t, "down", func() bool { return r.rec.LastStatus().State == monitor.LinkDown })
		}},
		{"mid-follow, the session deaf to ctx", func(t *testing.T, r *linkRun) {
			t.Helper()
			r.connect(t, connectResult{live: []string{"a"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := startLink(t, monitor.LinkConfig{}, time.Hour)
			tt.prep(t, r)
			r.stop(t)
		})
	}
}

func TestLinkConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  monitor.LinkConfig
		ok   bool
	}{
		{"host only", monitor.LinkConfig{Address: "pbx.example"}, true},
		{"ipv6", monitor.LinkConfig{Address: "::1"}, true},
		{"no address", monitor.LinkConfig{}, false},
		{"bad port", monitor.LinkConfig{Address: "127.0.0.1:notaport"}, false},
		{"port out of range", monitor.LinkConfig{Address: "127.0.0.1:99999"}, false},
		{"no host", monitor.LinkConfig{Address: ":5038"}, false},
		{"max below min", monitor.LinkConfig{Address: "x", ReconnectMin: time.Minute, ReconnectMax: time.Second}, false},
		{"min above the default max", monitor.LinkConfig{Address: "x", ReconnectMin: 2 * time.Minute}, true},
		{"negative grace", monitor.LinkConfig{Address: "x", LinkGrace: -time.Second}, false},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate("5038")
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, monitor.ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v", tt.name, err)
		}
	}
	d := monitor.LinkConfig{Address: "::1"}.WithDefaults("5038")
	if d.Address != "[::1]:5038" || d.ReconnectMin != time.Second || d.ReconnectMax != time.Minute || d.LinkGrace != monitor.DefaultLinkGrace || d.DialTimeout != monitor.DefaultDialTimeout {
		t.Errorf("defaults %+v", d)
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	f := t.TempDir() + "/secret"
	if err := os.WriteFile(f, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		s       monitor.Secret
		want    string
		invalid bool
	}{
		{monitor.Secret{Value: "pw"}, "pw", false},
		{monitor.Secret{File: f}, "s3cret", false},
		{monitor.Secret{Value: "pw", File: f}, "", true},
	}
	for _, tt := range tests {
		if err := tt.s.Validate("secret"); (err != nil) != tt.invalid {
			t.Errorf("%+v: Validate = %v", tt.s, err)
			continue
		}
		if tt.invalid {
			continue
		}
		if got, err := tt.s.Read(); err != nil || got != tt.want {
			t.Errorf("%+v: Read = %q, %v", tt.s, got, err)
		}
	}
	if _, err := (monitor.Secret{File: f + ".missing"}).Read(); err == nil {
		t.Error("a missing secret file read fine")
	}
}
