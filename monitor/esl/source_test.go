package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func fixtureEvents(t *testing.T, name string) []esltest.Event {
	t.Helper()
	return esltest.ReadRecording(t, filepath.Join("testdata", name))
}

// startSource runs an inbound source against srv until the test ends.
func startSource(t *testing.T, srv *esltest.Server, mod func(*Config), prep ...func(*Source)) (*Source, *monitortest.Recorder) {
	t.Helper()
	cfg := Config{Name: "fs", Type: "esl", Password: "ClueCon", HeartbeatTimeout: 5 * time.Second,
		LinkConfig: monitor.LinkConfig{Address: srv.Addr(), ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, LinkGrace: time.Hour}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prep {
		p(s)
	}
	rec := newRecorder()
	monitortest.Start(t, func(ctx context.Context) error { return s.Run(ctx, rec) })
	return s, rec
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	// Generous: a loaded machine running the race detector takes
	// seconds for what is instant otherwise; only a hang reaches it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sawStatus reports whether rec saw a status in state whose error holds
// errPart.
func sawStatus(rec *monitortest.Recorder, state monitor.LinkState, errPart string) bool {
	for _, s := range rec.Statuses() {
		if s.State == state && strings.Contains(s.Error, errPart) {
			return true
		}
	}
	return false
}

func TestInboundSubscribesAndTracks(t *testing.T) {
	for _, format := range []string{"json", "plain"} {
		t.Run(format, func(t *testing.T) {
			srv := esltest.New(t)
			ctx := testCtx(t)
			_, rec := startSource(t, srv, func(c *Config) {
				c.Filters = []string{"Caller-Context default"}
				c.Nixevents = []string{"CHANNEL_CALLSTATE"}
			})
			if err := srv.WaitSubscribed(ctx, 1); err != nil {
				t.Fatal(err)
			}
			rec.WaitFor(t, "connected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
			cmds := strings.Join(srv.Commands(), "\n")
			for _, want := range []string{"auth ClueCon", "event json CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE HEARTBEAT BACKGROUND_JOB PRESENCE_IN CUSTOM sofia::transferor", "sofia::register sofia::unregister sofia::expire callcenter::info",
				"filter Caller-Context default", "nixevent CHANNEL_CALLSTATE", "api show channels as json"} {
				if !strings.Contains(cmds, want) {
					t.Errorf("commands lack %q:\n%s", want, cmds)
				}
			}
			if format == "plain" {
				// Replay the same stream as text/event-plain: a switch
				// configured for plain events must read alike.
				srv.SetPlain(true)
			}
			srv.Push(fixtureEvents(t, "held.jsonl")...)
			rec.WaitFor(t, "call ended", func() bool { return len(rec.Ended()) == 1 })
			c := rec.Ended()[0]
			if c.From.Number != "+4930123456" || c.From.Name != "ACME GmbH" || c.Reason != monitor.ReasonCompleted {
				t.Errorf("call %+v", c)
			}
			if got := rec.States(c.ID); len(got) != 5 || got[2] != monitor.Held {
				t.Errorf("states %v", got)
			}
		})
	}
}

func TestWrongPasswordIsClearAndRetried(t *testing.T) {
	srv := esltest.New(t)
	srv.SetPassword("secret")
	_, rec := startSource(t, srv, nil)
	rec.WaitFor(t, "auth failure status", func() bool {
		return sawStatus(rec, monitor.LinkDown, "authentication failed: the event socket password was refused")
	})
	// It keeps trying: with the right password it comes up.
	srv.SetPassword("ClueCon")
	rec.WaitFor(t, "connected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
}

func TestRudeRejectionIsClear(t *testing.T) {
	srv := esltest.New(t)
	srv.SetReject(true)
	_, rec := startSource(t, srv, nil)
	rec.WaitFor(t, "rejection status", func() bool {
		return sawStatus(rec, monitor.LinkDown, "rejected by FreeSWITCH's event socket ACL")
	})
}

func TestRefusedConnectionIsClear(t *testing.T) {
	srv := esltest.New(t)
	addr := srv.Addr()
	srv.Stop()
	ctx := testCtx(t)
	s, rec := startSource(t, srv, func(c *Config) { c.Address = addr })
	rec.WaitFor(t, "refused status", func() bool { return sawStatus(rec, monitor.LinkDown, "cannot connect") })
	if err := s.Hangup(ctx, "fs:x"); !errors.Is(err, monitor.ErrNotConnected) {
		t.Errorf("Hangup while down = %v, want ErrNotConnected", err)
	}
}

func TestSilentPeerIsDroppedAndReconnected(t *testing.T) {
	srv := esltest.New(t)
	_, rec := startSource(t, srv, func(c *Config) { c.HeartbeatTimeout = 200 * time.Millisecond })
	rec.WaitFor(t, "connected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
	srv.Silent()
	rec.WaitFor(t, "health check status", func() bool { return sawStatus(rec, monitor.LinkDown, "no HEARTBEAT") })
	// The silent connection is abandoned and a fresh one subscribes.
	rec.WaitFor(t, "reconnected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
}

// fakeWatchdog is a heartbeat watchdog the test fires; every Reset is
// reported.
type fakeWatchdog struct {
	c      chan time.Time
	resets chan time.Duration
}

func (w *fakeWatchdog) C() <-chan time.Time { return w.c }
func (w *fakeWatchdog) Reset(d time.Duration) {
	w.resets <- d
}
func (w *fakeWatchdog) Stop() {}

// TestHeartbeatsKeepLinkUp: every HEARTBEAT re-arms the watchdog for the
// full timeout, and only the watchdog running out drops the link.
func TestHeartbeatsKeepLinkUp(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	w := &fakeWatchdog{c: make(chan time.Time), resets: make(chan time.Duration, 64)}
	_, rec := startSource(t, srv, func(c *Config) { c.HeartbeatTimeout = 45 * time.Second },
		func(s *Source) { s.newWatchdog = func(time.Duration) watchdog { return w } })
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, "connected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
	for i := 0; i < 16; i++ {
		srv.Heartbeat()
		select {
		case d := <-w.resets:
			if d != 45*time.Second {
				t.Fatalf("heartbeat %d re-armed the watchdog for %v, want 45s", i, d)
			}
		case <-ctx.Done():
			t.Fatalf("heartbeat %d did not re-arm the watchdog", i)
		}
	}
	if sawStatus(rec, monitor.LinkDown, "") {
		t.Fatalf("link went down despite heartbeats: %+v", rec.Statuses())
	}
	select {
	case w.c <- time.Now():
	case <-ctx.Done():
		t.Fatal("the session does not watch its watchdog")
	}
	rec.WaitFor(t, "down as silent", func() bool { return sawStatus(rec, monitor.LinkDown, "no HEARTBEAT") })
}

// TestReconnectResyncs drops the link mid-call: on the new connection
// `show channels` lists one live call (kept) and not the other (ended).
func TestReconnectResyncs(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	_, rec := startSource(t, srv, nil)
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	simple := fixtureEvents(t, "simple.jsonl")
	held := fixtureEvents(t, "held.jsonl")
	srv.Push(simple[:8]...) // answered and bridged
	srv.Push(held[:9]...)   // answered and bridged
	rec.WaitFor(t, "two connected calls", func() bool {
		n := 0
		for _, c := range rec.Active() {
			if c.State == monitor.Connected {
				n++
			}
		}
		return n == 2
	})
	keep := held[0]["Unique-ID"]
	channels, err := os.ReadFile(filepath.Join("testdata", "channels.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetChannels(string(channels))
	srv.CloseConns()
	rec.WaitFor(t, "stale call ended", func() bool { return len(rec.Ended()) == 1 })
	ended := rec.Ended()[0]
	if ended.From.Number != "1000" || ended.Reason != monitor.ReasonFailed || ended.Cause != monitor.CauseEndedWhileDisconnected {
		t.Errorf("ended %+v", ended)
	}
	rec.WaitFor(t, "reconnected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
	act := rec.Active()
	if len(act) != 2 {
		t.Fatalf("active calls %+v", act)
	}
	live, ok := act[monitor.MakeCallID("fs", keep)]
	if !ok || live.State != monitor.Connected {
		t.Fatalf("kept call %+v", live)
	}
	// A call that started while the link was down appears.
	var fresh monitor.Call
	for id, c := range act {
		if id != live.ID {
			fresh = c
		}
	}
	if fresh.From.Number != "1003" || fresh.State != monitor.Ringing || len(fresh.Ringing) != 1 || fresh.Ringing[0].Number != "1004" {
		t.Errorf("call started while down: %+v", fresh)
	}
	// The kept call goes on being followed.
	srv.Push(held[9:]...)
	rec.WaitFor(t, "kept call ended", func() bool { return len(rec.Ended()) == 2 })
	if got := rec.Ended()[1]; got.ID != live.ID || got.Reason != monitor.ReasonCompleted {
		t.Errorf("kept call ended %+v", got)
	}
	// One call throughout: never ended and begun again by the drop.
	if got := rec.States(live.ID); got[len(got)-1] != monitor.Ended || slices.Index(got, monitor.Ended) != len(got)-1 || got[0] != monitor.Ringing {
		t.Errorf("kept call went through %v", got)
	}
}

func TestDisconnectNoticeReconnects(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	_, rec := startSource(t, srv, nil)
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Disconnect()
	rec.WaitFor(t, "down", func() bool { return sawStatus(rec, monitor.LinkDown, "goodbye") })
	rec.WaitFor(t, "reconnected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
}

func TestCallControl(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	s, rec := startSource(t, srv, func(c *Config) { c.Context = "office" })
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	simple := fixtureEvents(t, "simple.jsonl")
	srv.Push(simple[:8]...)
	// Connected, not only active: the call is active from its first
	// leg's CHANNEL_CREATE on, and a hang-up before the second leg is
	// known would kill only the first.
	var id monitor.CallID
	rec.WaitFor(t, "connected call", func() bool {
		for k, c := range rec.Active() {
			if c.State == monitor.Connected {
				id = k
				return true
			}
		}
		return false
	})
	a, b := simple[0]["Unique-ID"], simple[1]["Unique-ID"]
	if err := s.Transfer(ctx, id, "1005"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitCommand(ctx, "api uuid_transfer "+a+" 1005 XML office"); err != nil {
		t.Error(err)
	}
	if err := s.Transfer(ctx, id, "1005 XML evil"); err == nil {
		t.Error("transfer to a number with spaces accepted")
	}
	if err := s.Hangup(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []string{a, b} {
		if _, err := srv.WaitCommand(ctx, "api uuid_kill "+uid); err != nil {
			t.Error(err)
		}
	}
	if err := s.Hangup(ctx, "fs:nope"); !errors.Is(err, monitor.ErrNoSuchCall) {
		t.Errorf("Hangup of unknown call = %v", err)
	}

	// Originate waits for the job's own BACKGROUND_JOB, matched by Job-UUID.
	srv.SetJobs(func(cmd, args string) string {
		if strings.Contains(args, "user/1009") {
			return "-ERR USER_NOT_REGISTERED\n"
		}
		return "+OK 7d2b3c4e-0000-4000-8000-00000000aaaa\n"
	})
	if err := s.Originate(ctx, "1000", "1002"); err != nil {
		t.Fatalf("originate: %v", err)
	}
	cmd, err := srv.WaitCommand(ctx, "bgapi originate")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd, "user/1000 1002 XML office") || !strings.Contains(cmd, "\nJob-UUID: ") {
		t.Errorf("originate command %q", cmd)
	}
	err = s.Originate(ctx, "1009", "1002")
	if !errors.Is(err, ErrCommandFailed) || !errors.Is(err, monitor.ErrRefused) || !strings.Contains(err.Error(), "USER_NOT_REGISTERED") {
		t.Errorf("originate to an unregistered phone = %v", err)
	}
	if st := rec.LastStatus(); len(st.Actions) != 6 {
		t.Errorf("actions %v", st.Actions)
	}

	// Queue members: mod_callcenter's agent status, one per agent.
	srv.SetAPI(func(cmd, args string) string {
		switch {
		case cmd != "callcenter_config" || !strings.HasPrefix(args, "agent set status"):
			return ""
		case strings.Contains(args, "nobody@default"):
			return "-ERR Invalid Agent!\n"
		}
		return "+OK\n"
	})
	for _, c := range []struct {
		do   func() error
		want string
	}{
		{func() error { return s.PauseMember(ctx, "support@default", "1000@default", true, "lunch") }, "api callcenter_config agent set status 1000@default 'On Break'"},
		{func() error { return s.PauseMember(ctx, "support@default", "1000@default", false, "") }, "api callcenter_config agent set status 1000@default 'Available'"},
		{func() error { return s.RemoveMember(ctx, "support@default", "1001@default") }, "api callcenter_config agent set status 1001@default 'Logged Out'"},
		{func() error { return s.AddMember(ctx, "support@default", "1001@default", "") }, "api callcenter_config agent set status 1001@default 'Available'"},
	} {
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.want, err)
		}
		if _, err := srv.WaitCommand(ctx, c.want); err != nil {
			t.Error(err)
		}
	}
	if err := s.PauseMember(ctx, "support@default", "nobody@default", true, ""); !errors.Is(err, monitor.ErrRefused) || !strings.Contains(err.Error(), "Invalid Agent") {
		t.Errorf("unknown agent: %v", err)
	}
	if err := s.PauseMember(ctx, "support@default", "1000 XML evil", true, ""); !errors.Is(err, monitor.ErrRefused) {
		t.Errorf("agent with spaces: %v", err)
	}
}

func TestDefaultPasswordOnlyWhenNoneConfigured(t *testing.T) {
	s, err := New(Config{Name: "fs", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.password != DefaultPassword || s.cfg.Address != "127.0.0.1:8021" {
		t.Errorf("password %q address %q", s.password, s.cfg.Address)
	}
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = New(Config{Name: "fs", LinkConfig: monitor.LinkConfig{Address: "127.0.0.1:8021"}, PasswordFile: f})
	if err != nil || s.password != "s3cret" {
		t.Errorf("password file: %q %v", s.password, err)
	}
	for _, bad := range []Config{{LinkConfig: monitor.LinkConfig{Address: "x"}}, {Name: "fs"}, {Name: "fs", LinkConfig: monitor.LinkConfig{Address: "x"}, Filters: []string{"nospace"}},
		{Name: "fs", LinkConfig: monitor.LinkConfig{Address: "x"}, Password: "a", PasswordFile: "b"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

// TestBadInputKeepsTheLink: events the reader cannot take (an absurd but
// readable Content-Length, an over-long header line, a header line
// without a colon, a body that is no event) are skipped and counted, and
// the link stays up; input after which the next message cannot be found
// drops the link, which comes back.
func TestBadInputKeepsTheLink(t *testing.T) {
	event := func(extra string, body string) string {
		return fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-json\n%s\n%s", len(body), extra, body)
	}
	heartbeat := `{"Event-Name":"HEARTBEAT","Core-UUID":"x"}`
	tests := []struct {
		name  string
		raw   string
		drops bool
	}{
		{"body over the limit", fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-json\n\n%s", maxBody+1, strings.Repeat("x", maxBody+1)), false},
		{"over-long header line", event("X-Junk: "+strings.Repeat("j", maxLine+1)+"\n", heartbeat), false},
		{"header line without a colon", event("no colon here\n", heartbeat), false},
		{"body that is no event", event("", `{"Event-Name": "HEARTB`), false},
		{"unreadable Content-Length", "Content-Length: many\nContent-Type: text/event-json\n\n{}", true},
		{"absurd Content-Length", fmt.Sprintf("Content-Length: %d\nContent-Type: text/event-json\n\n", maxSkip+1), true},
		{"unreadable reply", "Content-Type: command/reply\nno colon\n\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := esltest.New(t)
			ctx := testCtx(t)
			counters := new(monitor.Counters)
			_, rec := startSource(t, srv, nil, func(s *Source) { s.counters = counters })
			if err := srv.WaitSubscribed(ctx, 1); err != nil {
				t.Fatal(err)
			}
			rec.WaitFor(t, "connected", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
			srv.PushRaw([]byte(tt.raw))
			if tt.drops {
				rec.WaitFor(t, "down", func() bool { return sawStatus(rec, monitor.LinkDown, "") })
				rec.WaitFor(t, "back", func() bool { return rec.LastStatus().State == monitor.LinkConnected })
				return
			}
			simple := fixtureEvents(t, "simple.jsonl")
			srv.Push(simple...)
			rec.WaitFor(t, "the call after the bad input", func() bool { return len(rec.Ended()) == 1 })
			if n := counters.ParseErrors.Load(); n != 1 {
				t.Errorf("parse errors = %d, want 1", n)
			}
			if n := rec.CountStatus(monitor.LinkConnected); n != 1 || sawStatus(rec, monitor.LinkDown, "") {
				t.Errorf("statuses %v: bad input touched the link", rec.LinkStates())
			}
		})
	}
}

// TestRefusedCommands: FreeSWITCH's -ERR is monitor.ErrRefused with its
// words; "No such channel" on a transfer means the call is gone.
func TestRefusedCommands(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	s, rec := startSource(t, srv, nil)
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Push(fixtureEvents(t, "simple.jsonl")[:8]...)
	rec.WaitFor(t, "connected call", func() bool { return len(rec.Active()) == 1 })
	var id monitor.CallID
	for k := range rec.Active() {
		id = k
	}
	tests := []struct {
		reply string
		want  error
	}{
		{"-ERR Cannot transfer while bridged to a conference\n", monitor.ErrRefused},
		{"-ERR No such channel!\n", monitor.ErrNoSuchCall},
	}
	for _, tt := range tests {
		srv.SetAPI(func(cmd, args string) string {
			if cmd == "uuid_transfer" {
				return tt.reply
			}
			return ""
		})
		err := s.Transfer(ctx, id, "1005")
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), strings.TrimSpace(strings.TrimPrefix(tt.reply, "-ERR"))) {
			t.Errorf("%q: Transfer = %v, want %v with FreeSWITCH's words", tt.reply, err, tt.want)
		}
	}
}
