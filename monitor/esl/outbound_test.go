package esl

import (
	"context"
	"encoding/json"
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
