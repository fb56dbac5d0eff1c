package esl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func outboundData(t *testing.T) esltest.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "outbound_data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data esltest.Event
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	return data
}

func startListener(t *testing.T) (*Listener, *monitortest.Recorder, context.CancelFunc, chan error) {
	t.Helper()
	l, err := NewListener(ListenerConfig{Name: "fs-out", Type: "esl-outbound", Listen: "127.0.0.1:0"},
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, rec) }()
	select {
	case <-l.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(cancel)
	return l, rec, cancel, done
}

func TestOutboundModeTracksCall(t *testing.T) {
	l, rec, _, _ := startListener(t)
	ctx := testCtx(t)
	cmds, err := esltest.DialOutbound(ctx, l.Addr().String(), outboundData(t), fixtureEvents(t, "outbound.jsonl"),
		func(cmds []string) bool { return cmds[len(cmds)-1] == "resume" })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"connect", "myevents json", "linger", "resume"}
	if strings.Join(cmds, ",") != strings.Join(want, ",") {
		t.Errorf("commands %q, want %q (and never exit or hangup)", cmds, want)
	}
	rec.WaitFor(t, "call ended", func() bool { return len(rec.Ended()) == 1 })
	c := rec.Ended()[0]
	if c.Direction != monitor.Inbound || c.From.Number != "+4930123456" || c.To.Number != "1001" ||
		c.AnsweredBy == nil || c.AnsweredBy.Number != "1001" || c.Reason != monitor.ReasonCompleted || c.Duration != 33 {
		t.Errorf("call %+v", c)
	}
	if got := rec.States(c.ID); len(got) != 3 || got[1] != monitor.Connected {
		t.Errorf("states %v", got)
	}
}

// TestOutboundSocketLostEndsCall: a socket that closes before the hangup
// leaves no call behind.
func TestOutboundSocketLostEndsCall(t *testing.T) {
	l, rec, _, _ := startListener(t)
	ctx := testCtx(t)
	events := fixtureEvents(t, "outbound.jsonl")
	if _, err := esltest.DialOutbound(ctx, l.Addr().String(), outboundData(t), events[:3], nil); err != nil {
		t.Fatal(err)
	}
	rec.WaitFor(t, "call ended", func() bool { return len(rec.Ended()) == 1 })
	if c := rec.Ended()[0]; c.Reason != monitor.ReasonFailed || c.Cause != "LINK_LOST" {
		t.Errorf("call %+v", c)
	}
}

// TestOutboundShutdown stops the listener with a call socket open: Run
// returns, the socket is closed, the call ends, and the port is free.
func TestOutboundShutdown(t *testing.T) {
	l, rec, cancel, done := startListener(t)
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Answer "connect" with channel data and leave the socket open.
	buf := make([]byte, 64)
	if _, err := nc.Read(buf); err != nil {
		t.Fatal(err)
	}
	data := outboundData(t)
	var b strings.Builder
	b.WriteString("Content-Type: command/reply\nReply-Text: +OK\n")
	for _, k := range []string{"Event-Name", "Unique-ID", "Channel-Call-UUID", "Call-Direction", "Caller-Caller-ID-Number", "Caller-Destination-Number", "Caller-Context", "Channel-Name"} {
		b.WriteString(k + ": " + data[k] + "\n")
	}
	b.WriteString("\n")
	_, _ = io.WriteString(nc, b.String())
	rec.WaitFor(t, "call seen", func() bool { return len(rec.Active()) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Errorf("socket not closed cleanly: %v", err)
	}
	if len(rec.Active()) != 0 {
		t.Errorf("calls left active: %+v", rec.Active())
	}
	ln, err := net.Listen("tcp", l.Addr().String())
	if err != nil {
		t.Errorf("port still held: %v", err)
	} else {
		ln.Close()
	}
}

// watched is one WatchCalls report.
type watched struct {
	id   monitor.CallID
	here bool
}

// TestOutboundCallControl: hang-up and transfer of a call go over its own
// socket while it is open; without one the call is no such call, and
// originate is not offered.
func TestOutboundCallControl(t *testing.T) {
	l, err := NewListener(ListenerConfig{Name: "fs-out", Type: "esl-outbound", Listen: "127.0.0.1:0", Context: "office"},
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	watch := make(chan watched, 8)
	l.WatchCalls(func(id monitor.CallID, here bool) { watch <- watched{id, here} })
	rec := newRecorder()
	run := monitortest.Start(t, func(ctx context.Context) error { return l.Run(ctx, rec) })
	<-l.Ready()
	ctx := testCtx(t)
	data := outboundData(t)
	uid := data["Unique-ID"]
	fs, err := esltest.DialOutboundCall(ctx, l.Addr().String(), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Wait(ctx, func(cmds []string) bool { return cmds[len(cmds)-1] == "resume" }); err != nil {
		t.Fatal(err)
	}
	var id monitor.CallID
	select {
	case w := <-watch:
		if !w.here {
			t.Fatalf("first report %+v", w)
		}
		id = w.id
	case <-ctx.Done():
		t.Fatal("the call's socket was not reported")
	}
	rec.WaitFor(t, "call seen", func() bool { return len(rec.Active()) == 1 })
	if _, ok := rec.Active()[id]; !ok {
		t.Fatalf("reported call %s, tracked %v", id, rec.Active())
	}

	if err := l.Transfer(ctx, id, "1005"); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_transfer "+uid+" 1005 XML office"); err != nil {
		t.Fatal(err)
	}
	if err := l.Hangup(ctx, id); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_kill "+uid+" NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	fs.SetAPI(func(cmd, _ string) string { return "-ERR No such channel!\n" })
	if err := l.Transfer(ctx, id, "1005"); !errors.Is(err, monitor.ErrNoSuchCall) {
		t.Errorf("transfer of a leg FreeSWITCH no longer has: %v", err)
	}
	if err := l.Hangup(ctx, id); err != nil {
		t.Errorf("hangup of a leg that hung up meanwhile: %v", err)
	}
	if err := l.Transfer(ctx, id, "10 05"); err == nil {
		t.Error("transfer to a number with a space accepted")
	}
	if err := l.Hangup(ctx, "fs-out:no-such-call"); !errors.Is(err, monitor.ErrNoSuchCall) {
		t.Errorf("hangup of an unknown call: %v", err)
	}
	if err := l.Originate(ctx, "1001", "1002"); !errors.Is(err, monitor.ErrUnsupported) {
		t.Errorf("originate: %v", err)
	}

	fs.Close()
	select {
	case w := <-watch:
		if w != (watched{id, false}) {
			t.Fatalf("report at the socket's end %+v", w)
		}
	case <-ctx.Done():
		t.Fatal("the socket's end was not reported")
	}
	if err := l.Hangup(ctx, id); !errors.Is(err, monitor.ErrNoSuchCall) {
		t.Errorf("hangup after the socket closed: %v", err)
	}
	run.Stop(t)
}

func TestListenerConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ListenerConfig
		wantErr string
	}{
		{"defaults", ListenerConfig{Name: "fs"}, ""},
		{"context", ListenerConfig{Name: "fs", Listen: "127.0.0.1:8084", Context: "office-1"}, ""},
		{"no name", ListenerConfig{}, "name is required"},
		{"bad listen", ListenerConfig{Name: "fs", Listen: "8084"}, "listen"},
		// It goes into uuid_transfer's command line.
		{"context with a space", ListenerConfig{Name: "fs", Context: "default XML x"}, "context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
