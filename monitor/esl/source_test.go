package esl

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
)

func fixtureEvents(t *testing.T, name string) []esltest.Event {
	return esltest.ReadRecording(t, filepath.Join("testdata", name))
}

// startSource runs an inbound source against srv until the test ends.
func startSource(t *testing.T, srv *esltest.Server, mod func(*Config)) (*Source, *recorder) {
	t.Helper()
	cfg := Config{Name: "fs", Type: "esl", Address: srv.Addr(), Password: "ClueCon",
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return s, rec
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (r *recorder) lastStatus() monitor.SourceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.statuses) == 0 {
		return monitor.SourceStatus{}
	}
	return r.statuses[len(r.statuses)-1]
}

func (r *recorder) sawStatus(state monitor.LinkState, errPart string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.statuses {
		if s.State == state && strings.Contains(s.Error, errPart) {
			return true
		}
	}
	return false
}

func (r *recorder) active() map[monitor.CallID]monitor.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[monitor.CallID]monitor.Call{}
	for _, c := range r.changes {
		if c.State == monitor.Ended {
			delete(m, c.ID)
		} else {
			m[c.ID] = c
		}
	}
	return m
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
			rec.waitFor(t, ctx, "connected", func() bool { return rec.lastStatus().State == monitor.LinkConnected })
			cmds := strings.Join(srv.Commands(), "\n")
			for _, want := range []string{"auth ClueCon", "event json CHANNEL_CREATE", "CHANNEL_HANGUP_COMPLETE HEARTBEAT BACKGROUND_JOB CUSTOM sofia::transferor",
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
			rec.waitFor(t, ctx, "call ended", func() bool { return len(rec.ended()) == 1 })
			c := rec.ended()[0]
			if c.From.Number != "+4930123456" || c.From.Name != "ACME GmbH" || c.Reason != monitor.ReasonCompleted {
				t.Errorf("call %+v", c)
			}
			if got := rec.states(c.ID); len(got) != 5 || got[2] != monitor.Held {
				t.Errorf("states %v", got)
			}
		})
	}
}

func TestWrongPasswordIsClearAndRetried(t *testing.T) {
	srv := esltest.New(t)
	srv.SetPassword("secret")
	ctx := testCtx(t)
	_, rec := startSource(t, srv, nil)
	rec.waitFor(t, ctx, "auth failure status", func() bool {
		return rec.sawStatus(monitor.LinkDown, "authentication failed: the event socket password was refused")
	})
	// It keeps trying: with the right password it comes up.
	srv.SetPassword("ClueCon")
	rec.waitFor(t, ctx, "connected", func() bool { return rec.lastStatus().State == monitor.LinkConnected })
}

func TestRudeRejectionIsClear(t *testing.T) {
	srv := esltest.New(t)
	srv.SetReject(true)
	ctx := testCtx(t)
	_, rec := startSource(t, srv, nil)
	rec.waitFor(t, ctx, "rejection status", func() bool {
		return rec.sawStatus(monitor.LinkDown, "rejected by FreeSWITCH's event socket ACL")
	})
}

func TestRefusedConnectionIsClear(t *testing.T) {
	srv := esltest.New(t)
	addr := srv.Addr()
	srv.Stop()
	ctx := testCtx(t)
	s, rec := startSource(t, srv, func(c *Config) { c.Address = addr })
	rec.waitFor(t, ctx, "refused status", func() bool { return rec.sawStatus(monitor.LinkDown, "cannot connect") })
	if err := s.Hangup(ctx, "fs:x"); !errors.Is(err, monitor.ErrNotConnected) {
		t.Errorf("Hangup while down = %v, want ErrNotConnected", err)
	}
}

func TestSilentPeerIsDroppedAndReconnected(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	_, rec := startSource(t, srv, func(c *Config) { c.HeartbeatTimeout = 200 * time.Millisecond })
	rec.waitFor(t, ctx, "connected", func() bool { return rec.lastStatus().State == monitor.LinkConnected })
	srv.Silent()
	rec.waitFor(t, ctx, "health check status", func() bool { return rec.sawStatus(monitor.LinkDown, "no HEARTBEAT") })
	// The silent connection is abandoned and a fresh one subscribes.
	rec.waitFor(t, ctx, "reconnected", func() bool { return rec.lastStatus().State == monitor.LinkConnected })
}

func TestHeartbeatsKeepLinkUp(t *testing.T) {
	srv := esltest.New(t)
	ctx := testCtx(t)
	_, rec := startSource(t, srv, func(c *Config) { c.HeartbeatTimeout = 300 * time.Millisecond })
	if err := srv.WaitSubscribed(ctx, 1); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 16; i++ { // 800 ms, well past the timeout
		<-tick.C
		srv.Heartbeat()
	}
	if rec.sawStatus(monitor.LinkDown, "") {
		t.Fatalf("link went down despite heartbeats: %+v", rec.statuses)
	}
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
	rec.waitFor(t, ctx, "two connected calls", func() bool {
		n := 0
		for _, c := range rec.active() {
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
	rec.waitFor(t, ctx, "stale call ended", func() bool { return len(rec.ended()) == 1 })
	ended := rec.ended()[0]
	if ended.From.Number != "1000" || ended.Cause != "ended while disconnected" {
		t.Errorf("ended %+v", ended)
	}
	rec.waitFor(t, ctx, "reconnected", func() bool { return rec.lastStatus().State == monitor.LinkConnected })
	act := rec.active()
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
	rec.waitFor(t, ctx, "kept call ended", func() bool { return len(rec.ended()) == 2 })
	if got := rec.ended()[1]; got.ID != live.ID || got.Reason != monitor.ReasonCompleted {
		t.Errorf("kept call ended %+v", got)
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
	rec.waitFor(t, ctx, "down", func() bool { return rec.sawStatus(monitor.LinkDown, "goodbye") })
	rec.waitFor(t, ctx, "reconnected", func() bool { return rec.lastStatus().State == monitor.LinkConnected })
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
	rec.waitFor(t, ctx, "connected call", func() bool { return len(rec.active()) == 1 })
	var id monitor.CallID
	for k := range rec.active() {
		id = k
	}
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
	if !errors.Is(err, ErrCommandFailed) || !strings.Contains(err.Error(), "USER_NOT_REGISTERED") {
		t.Errorf("originate to an unregistered phone = %v", err)
	}
	if st := rec.lastStatus(); len(st.Actions) != 3 {
		t.Errorf("actions %v", st.Actions)
	}
}

func TestDefaultPasswordOnlyWhenNoneConfigured(t *testing.T) {
	s, err := New(Config{Name: "fs", Address: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if s.password != DefaultPassword || s.cfg.Address != "127.0.0.1:8021" {
		t.Errorf("password %q address %q", s.password, s.cfg.Address)
	}
	f := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(f, []byte("s3cret\n"), 0o600)
	s, err = New(Config{Name: "fs", Address: "127.0.0.1:8021", PasswordFile: f})
	if err != nil || s.password != "s3cret" {
		t.Errorf("password file: %q %v", s.password, err)
	}
	for _, bad := range []Config{{Address: "x"}, {Name: "fs"}, {Name: "fs", Address: "x", Filters: []string{"nospace"}},
		{Name: "fs", Address: "x", Password: "a", PasswordFile: "b"}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}
