package ami_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// testLink has intervals short enough for tests; calls outlive a lost
// link for an hour.
func testLink(addr string) monitor.LinkConfig {
	return monitor.LinkConfig{Address: addr, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, LinkGrace: time.Hour}
}

func lastCall(sink *monitortest.Recorder) monitor.Call {
	calls := sink.Calls()
	if len(calls) == 0 {
		return monitor.Call{}
	}
	return calls[len(calls)-1]
}

func run(t *testing.T, cfg ami.Config, opts ...ami.Option) (*monitortest.Recorder, *ami.Source) {
	t.Helper()
	src, err := ami.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sink := monitortest.NewRecorder()
	monitortest.Start(t, func(ctx context.Context) error { return src.Run(ctx, sink) })
	return sink, src
}

func TestSourceResyncReconnectAndLoginFailure(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	// A call already up when we connect appears from CoreShowChannels.
	srv.SetChannels(ami.M("Channel", "SIP/150010001-00000001", "Uniqueid", "1.1", "Linkedid", "1.1",
		"CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"))
	sink, _ := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour})
	sink.WaitFor(t, "connected", func() bool { return sink.LastStatus().State == monitor.LinkConnected })
	sink.WaitFor(t, "resynced call", func() bool { return lastCall(sink).State == monitor.Connected })

	// While the link is down the call ends: after the reconnect it is not
	// listed, and it must not stay connected on a wallboard.
	srv.SetChannels()
	srv.CloseConns()
	sink.WaitFor(t, "down", func() bool { return sink.LastStatus().State == monitor.LinkDown })
	sink.WaitFor(t, "connected again", func() bool { return sink.LastStatus().State == monitor.LinkConnected })
	if last := lastCall(sink); last.State != monitor.Ended || last.Reason != monitor.ReasonFailed || last.Cause != monitor.CauseEndedWhileDisconnected {
		t.Fatalf("call after link loss = %s %s %q", last.State, last.Reason, last.Cause)
	}

	// Live events after the reconnect are tracked.
	srv.Push(ami.M("Event", "Newchannel", "Channel", "SIP/150010002-00000009", "Uniqueid", "2.1", "Linkedid", "2.1", "CallerIDNum", "202", "Exten", "203"))
	sink.WaitFor(t, "new call", func() bool { return lastCall(sink).From.Number == "202" })
}

func TestSourceWrongSecretShowsClearStatus(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	sink, _ := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "wrong"})
	sink.WaitFor(t, "down with an auth error", func() bool {
		st := sink.LastStatus()
		return st.State == monitor.LinkDown && st.Error != "" && containsAll(st.Error, "authentication failed")
	})
	for _, st := range sink.Statuses() {
		if containsAll(st.Error, "wrong") {
			t.Fatalf("status leaks the secret: %q", st.Error)
		}
	}
}

func TestSourceSilentManagerIsDetected(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	sink, _ := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw",
		PingInterval: 30 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	sink.WaitFor(t, "connected", func() bool { return sink.LastStatus().State == monitor.LinkConnected })
	srv.Silent(true)
	sink.WaitFor(t, "health check failure", func() bool {
		st := sink.LastStatus()
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
	src, err := ami.New(ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx0 := context.Background()
	if err := src.Hangup(ctx0, "pbx:5.1"); !errors.Is(err, monitor.ErrNotConnected) {
		t.Fatalf("before connecting: %v", err)
	}
	sink := monitortest.NewRecorder()
	monitortest.Start(t, func(ctx context.Context) error { return src.Run(ctx, sink) })
	ctx := ctx0
	sink.WaitFor(t, "connected", func() bool { return sink.LastStatus().State == monitor.LinkConnected })
	if acts := sink.LastStatus().Actions; len(acts) != 6 {
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
	if err := src.PauseMember(ctx, "support", "PJSIP/202", true, "lunch"); err != nil {
		t.Fatal(err)
	}
	if err := src.PauseMember(ctx, "support", "PJSIP/202", false, ""); err != nil {
		t.Fatal(err)
	}
	if err := src.AddMember(ctx, "support", "PJSIP/203", "Cem"); err != nil {
		t.Fatal(err)
	}
	srv.Refuse("QueueRemove", "Unable to remove interface: Not there")
	if err := src.RemoveMember(ctx, "support", "PJSIP/209"); !errors.Is(err, monitor.ErrRefused) || !strings.Contains(err.Error(), "Not there") {
		t.Fatalf("refused removal: %v", err)
	}
	var got []string
	for _, a := range srv.Actions() {
		switch a.Get("Action") {
		case "QueuePause":
			got = append(got, "QueuePause "+a.Get("Queue")+" "+a.Get("Interface")+" "+a.Get("Paused")+" "+a.Get("Reason"))
		case "QueueAdd":
			got = append(got, "QueueAdd "+a.Get("Queue")+" "+a.Get("Interface")+" "+a.Get("MemberName"))
		case "QueueRemove":
			got = append(got, "QueueRemove "+a.Get("Queue")+" "+a.Get("Interface"))
		case "Redirect":
			got = append(got, "Redirect "+a.Get("Channel")+" "+a.Get("Exten")+"@"+a.Get("Context"))
		case "Originate":
			got = append(got, "Originate "+a.Get("Channel")+" "+a.Get("Exten"))
		case "Hangup":
			got = append(got, "Hangup "+a.Get("Channel"))
		}
	}
	want := "Redirect PJSIP/201-00000001 203@from-internal,Originate PJSIP/201 0301234,Hangup PJSIP/201-00000001,Hangup PJSIP/202-00000002," +
		"QueuePause support PJSIP/202 true lunch,QueuePause support PJSIP/202 false ,QueueAdd support PJSIP/203 Cem,QueueRemove support PJSIP/209"
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
	sink, _ := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", TLS: true, TLSCAFile: ca, PingInterval: time.Hour})
	sink.WaitFor(t, "connected over TLS", func() bool { return sink.LastStatus().State == monitor.LinkConnected })

	// Without trusting the certificate the link stays down with the reason.
	untrusted, _ := run(t, ami.Config{Name: "pbx2", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", TLS: true})
	untrusted.WaitFor(t, "certificate error", func() bool {
		st := untrusted.LastStatus()
		return st.State == monitor.LinkDown && containsAll(st.Error, "certificate")
	})
}

// TestSourceKeepsCallsAcrossABriefDrop: Asterisk's manager connection
// drops and comes straight back. A call still up stays one call (same
// id, no failed row) through the resync; a call gone meanwhile ends
// "ended while disconnected"; one begun meanwhile appears.
func TestSourceKeepsCallsAcrossABriefDrop(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	up := []ami.Message{
		ami.M("Channel", "PJSIP/201-00000001", "Uniqueid", "1.1", "Linkedid", "1.1", "CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"),
		ami.M("Channel", "PJSIP/202-00000002", "Uniqueid", "1.2", "Linkedid", "1.1", "CallerIDNum", "202", "ChannelStateDesc", "Up"),
	}
	gone := ami.M("Channel", "PJSIP/203-00000003", "Uniqueid", "3.1", "Linkedid", "3.1", "CallerIDNum", "203", "Exten", "204", "ChannelStateDesc", "Ring")
	fresh := ami.M("Channel", "PJSIP/205-00000005", "Uniqueid", "5.1", "Linkedid", "5.1", "CallerIDNum", "205", "Exten", "206", "ChannelStateDesc", "Ring")
	srv.SetChannels(append(up, gone)...)
	sink, _ := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour})
	sink.WaitFor(t, "two calls", func() bool { return len(sink.Active()) == 2 && sink.Active()["pbx:1.1"].State == monitor.Connected })

	srv.SetChannels(append(up, fresh)...)
	srv.CloseConns()
	sink.WaitFor(t, "connected again", func() bool {
		return sink.CountStatus(monitor.LinkConnected) == 2 && sink.LastStatus().State == monitor.LinkConnected
	})
	ended := sink.Ended()
	if len(ended) != 1 || ended[0].ID != "pbx:3.1" || ended[0].Reason != monitor.ReasonFailed || ended[0].Cause != monitor.CauseEndedWhileDisconnected {
		t.Fatalf("ended after the resync: %+v", ended)
	}
	if c, ok := sink.Active()["pbx:5.1"]; !ok || c.From.Number != "205" {
		t.Errorf("call begun while down: %+v", sink.Active())
	}
	srv.Push(ami.M("Event", "Hangup", "Channel", "PJSIP/202-00000002", "Uniqueid", "1.2", "Linkedid", "1.1", "Cause", "16"))
	srv.Push(ami.M("Event", "Hangup", "Channel", "PJSIP/201-00000001", "Uniqueid", "1.1", "Linkedid", "1.1", "Cause", "16", "Cause-txt", "Normal Clearing"))
	sink.WaitFor(t, "the kept call ended", func() bool { return len(sink.Ended()) == 2 })
	// Up when the source first joined, it is shown connected from the
	// first resync on (not ringing first).
	if got := sink.States("pbx:1.1"); strings.Join(stateNames(got), ",") != "connected,ended" {
		t.Errorf("the kept call went through %v, want one call: connected, ended", got)
	}
	if c := sink.Ended()[1]; c.ID != "pbx:1.1" || c.Reason != monitor.ReasonCompleted {
		t.Errorf("the kept call ended %+v", c)
	}
}

func stateNames(states []monitor.State) []string {
	var out []string
	for _, s := range states {
		out = append(out, string(s))
	}
	return out
}

// TestSourceSkipsBadInput: an over-long line and a message with too
// many fields are skipped and counted; the link stays up and the next
// event is read.
func TestSourceSkipsBadInput(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	counters := new(monitor.Counters)
	sink, _ := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour},
		ami.WithCounters(counters))
	sink.WaitFor(t, "connected", func() bool { return sink.LastStatus().State == monitor.LinkConnected })
	long := "Event: VarSet\r\nValue: " + strings.Repeat("x", ami.MaxLineBytes+1) + "\r\n\r\n"
	wide := "Event: VarSet\r\n" + strings.Repeat("Variable: x\r\n", ami.MaxFields+1) + "\r\n"
	srv.PushRaw([]byte(long + wide))
	srv.Push(ami.M("Event", "Newchannel", "Channel", "PJSIP/201-00000009", "Uniqueid", "2.1", "Linkedid", "2.1", "CallerIDNum", "201", "Exten", "203"))
	sink.WaitFor(t, "the call after the bad input", func() bool { return lastCall(sink).From.Number == "201" })
	if n := counters.ParseErrors.Load(); n != 2 {
		t.Errorf("parse errors = %d, want 2", n)
	}
	if n := sink.CountStatus(monitor.LinkConnected); n != 1 || sink.LastStatus().State != monitor.LinkConnected {
		t.Errorf("statuses %v: bad input touched the link", sink.LinkStates())
	}
}

// TestSourceRefusedAction: Asterisk's "Response: Error" is
// monitor.ErrRefused with its Message; "No such channel" means the call
// is gone (monitor.ErrNoSuchCall).
func TestSourceRefusedAction(t *testing.T) {
	srv := amitest.New(t, "admin", "pw")
	srv.SetChannels(ami.M("Channel", "PJSIP/201-00000001", "Uniqueid", "5.1", "Linkedid", "5.1", "CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"))
	srv.Refuse("Redirect", "Redirect failed, extension not found")
	srv.Refuse("Hangup", "No such channel")
	sink, src := run(t, ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour})
	sink.WaitFor(t, "connected", func() bool { return sink.LastStatus().State == monitor.LinkConnected })
	ctx := context.Background()
	tests := []struct {
		name string
		do   func() error
		want error
		text string
	}{
		{"transfer refused", func() error { return src.Transfer(ctx, "pbx:5.1", "299") }, monitor.ErrRefused, "extension not found"},
		{"hangup of a channel gone", func() error { return src.Hangup(ctx, "pbx:5.1") }, monitor.ErrNoSuchCall, "No such channel"},
	}
	for _, tt := range tests {
		err := tt.do()
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: %v, want %v with %q", tt.name, err, tt.want, tt.text)
		}
	}
}
