package sipbridge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// waitExt waits until the latest published version of extension id
// satisfies ok, and returns it.
func (s *statusSink) waitExt(t *testing.T, id monitor.ExtensionID, what string, d time.Duration, ok func(monitor.Extension) bool) monitor.Extension {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		var last *monitor.Extension
		var history []string
		for i := range s.exts {
			if s.exts[i].ID == id {
				last = &s.exts[i]
				history = append(history, string(s.exts[i].State))
			}
		}
		ch := s.changed
		var cur monitor.Extension
		if last != nil {
			cur = *last
		}
		s.mu.Unlock()
		if last != nil && ok(cur) {
			return cur
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("extension %s: %s not seen in %v; states %v", id, what, d, history)
		}
	}
}

// waitExtState waits for extension id in state.
func (s *statusSink) waitExtState(t *testing.T, id monitor.ExtensionID, state monitor.DeviceState, d time.Duration) monitor.Extension {
	t.Helper()
	return s.waitExt(t, id, "state "+string(state), d, func(e monitor.Extension) bool { return e.State == state })
}

// waitSub waits until account's latest status shows its subscription i in
// state.
func (s *statusSink) waitSub(t *testing.T, account string, i int, state monitor.SubscriptionState, d time.Duration) monitor.SubscriptionStatus {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		h := s.status[monitor.SourceName(account)]
		ch := s.changed
		s.mu.Unlock()
		var seen []string
		for _, st := range h {
			if len(st.Subscriptions) > i {
				seen = append(seen, string(st.Subscriptions[i].State)+" "+st.Subscriptions[i].Error)
			}
		}
		if n := len(h); n > 0 && len(h[n-1].Subscriptions) > i && h[n-1].Subscriptions[i].State == state {
			return h[n-1].Subscriptions[i]
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("account %s: subscription %d not %s in %v; seen %q", account, i, state, d, seen)
		}
	}
}

// TestBLFKamailio watches a baresip phone's busy lamp through kamailio's
// presence server: pua_dialoginfo publishes the phone's dialogs, our
// account subscribes to them (SUBSCRIBE Event: dialog, 407 answered) and
// the lamp follows: idle, ringing with the caller named, in use once
// answered, idle after; in use while the phone itself calls, idle after;
// and on shutdown the lamp goes with the un-SUBSCRIBE; over UDP and TCP.
func TestBLFKamailio(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) { testBLFKamailio(t, transport) })
	}
}

func testBLFKamailio(t *testing.T, transport string) {
	t.Helper()
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{Presence: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	watched := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: kam.Addr()})
	other := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: kam.Addr(), AutoAnswer: true})
	for _, p := range []*siptest.Baresip{watched, other} {
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	acct := testAccount("office", "1000", "pw1000", kam.Addr(), 60)
	acct.Transport = transport
	acct.BLF = []BLFTarget{{Target: "1001", Name: "Anna", Group: "Sales"}}
	r := startBridge(t, Config{Accounts: []AccountConfig{acct}}, nil)
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionActive, 15*time.Second)
	id := monitor.MakeExtensionID("office", "blf:1001")
	e := r.sink.waitExtState(t, id, monitor.DeviceIdle, 15*time.Second)
	if e.Number != "1001" || e.Name != "Anna" || e.Group != "Sales" || e.Source != "office" || e.Lamp != monitor.LampFree {
		t.Fatalf("idle lamp %+v", e)
	}

	// 1002 calls the watched phone, which rings until it answers.
	if err := other.Dial(ctx, watched.URI()); err != nil {
		t.Fatal(err)
	}
	e = r.sink.waitExtState(t, id, monitor.DeviceRinging, 15*time.Second)
	if len(e.Peers) != 1 || e.Peers[0].Number != "1002" {
		t.Fatalf("ringing lamp names %+v, want caller 1002", e.Peers)
	}
	if err := watched.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	e = r.sink.waitExtState(t, id, monitor.DeviceInUse, 15*time.Second)
	if len(e.Peers) != 1 || e.Peers[0].Number != "1002" || e.Lamp != monitor.LampBusy {
		t.Fatalf("in-use lamp %+v", e)
	}
	if err := watched.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	r.sink.waitExtState(t, id, monitor.DeviceIdle, 15*time.Second)

	// The watched phone calls 1002 (which answers at once).
	if err := watched.Dial(ctx, other.URI()); err != nil {
		t.Fatal(err)
	}
	e = r.sink.waitExtState(t, id, monitor.DeviceInUse, 15*time.Second)
	if len(e.Peers) != 1 || e.Peers[0].Number != "1002" {
		t.Fatalf("calling lamp names %+v, want 1002", e.Peers)
	}
	if _, err := other.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if err := watched.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	r.sink.waitExtState(t, id, monitor.DeviceIdle, 15*time.Second)

	r.stop(t)
	r.sink.waitExt(t, id, "removed", 5*time.Second, func(e monitor.Extension) bool { return e.Removed })
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionStopped, 5*time.Second)
}

// TestBLFKamailioRestart: the presence server and registrar restarts and
// forgets every subscription; once the account has registered again the
// lamp subscribes anew and follows the phone as before.
func TestBLFKamailioRestart(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(siptest.TestbedDir(), "kamailio", "kamailio-presence.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	// Registrations of a few seconds, so that the account notices the
	// restart within the test.
	cfg := strings.Replace(string(b), `modparam("usrloc", "db_mode", 0)`,
		`modparam("usrloc", "db_mode", 0)`+"\n"+`modparam("registrar", "min_expires", 1)`+"\n"+`modparam("registrar", "default_expires", 4)`, 1)
	path := filepath.Join(t.TempDir(), "kamailio-presence.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{Presence: true, Config: path})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	watched := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: kam.Addr()})
	other := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: kam.Addr(), AutoAnswer: true})
	acct := testAccount("office", "1000", "pw1000", kam.Addr(), 4)
	acct.BLF = []BLFTarget{{Target: "1001"}}
	r := startBridge(t, Config{RetryMin: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond, RegisterTimeout: time.Second,
		Accounts: []AccountConfig{acct}}, nil)
	id := monitor.MakeExtensionID("office", "blf:1001")
	r.sink.waitExtState(t, id, monitor.DeviceIdle, 15*time.Second)
	first := r.byName["office"].subs[0].dialogCallID()

	kam.Stop()
	r.sink.waitStatus(t, "office", monitor.LinkRetrying, 15*time.Second)
	kam.Restart()
	r.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	// The registration came back: the lamp subscribes anew (a new
	// dialog), and the new subscription becomes active.
	deadline := time.Now().Add(15 * time.Second)
	for r.byName["office"].subs[0].dialogCallID() == first {
		if time.Now().After(deadline) {
			t.Fatal("the lamp did not subscribe anew after the restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionActive, 15*time.Second)
	for _, p := range []*siptest.Baresip{watched, other} {
		if err := p.Reregister(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Dial(ctx, watched.URI()); err != nil {
		t.Fatal(err)
	}
	r.sink.waitExtState(t, id, monitor.DeviceRinging, 15*time.Second)
	if err := other.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	r.sink.waitExtState(t, id, monitor.DeviceIdle, 15*time.Second)
}
