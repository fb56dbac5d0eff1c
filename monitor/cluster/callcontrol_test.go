package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/esl"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// outNode is one node's esl-outbound listener "fs-out", running as on
// every node, and its call control.
type outNode struct {
	*node
	l     *esl.Listener
	ctl   *cluster.Control
	rec   *monitortest.Recorder
	watch chan callReport
}

// callReport is one call socket's start or end the listener reported.
type callReport struct {
	id   monitor.CallID
	here bool
}

func newOutNode(t *testing.T, n *node) *outNode {
	t.Helper()
	l, err := esl.NewListener(esl.ListenerConfig{Name: "fs-out", Type: "esl-outbound", Listen: "127.0.0.1:0"},
		esl.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	o := &outNode{node: n, l: l, ctl: n.CallControl("fs-out", l), rec: monitortest.NewRecorder(), watch: make(chan callReport, 16)}
	l.WatchCalls(func(id monitor.CallID, here bool) {
		o.ctl.CallHere(id, here)
		o.watch <- callReport{id, here}
	})
	monitortest.Start(t, func(ctx context.Context) error {
		o.ctl.Held(true)
		defer o.ctl.Held(false)
		return l.Run(ctx, o.rec)
	})
	<-l.Ready()
	return o
}

// report waits for the listener's next call report.
func (o *outNode) report(t *testing.T, ctx context.Context) callReport {
	t.Helper()
	select {
	case r := <-o.watch:
		return r
	case <-ctx.Done():
		t.Fatal("no call socket reported")
		return callReport{}
	}
}

const outUID = "5a1d0065-4e7b-4c3a-9f01-6c2b8d1e0101"

// dialCall opens the socket of call outUID's first leg to o as
// FreeSWITCH does and waits until o holds the call and NATS has o's
// subscription for it.
func dialCall(t *testing.T, ctx context.Context, o *outNode) (*esltest.OutboundCall, monitor.CallID) {
	t.Helper()
	return dialLeg(t, ctx, o, esltest.Event{"Event-Name": "CHANNEL_DATA", "Unique-ID": outUID, "Channel-Call-UUID": outUID, "Call-Direction": "inbound",
		"Caller-Caller-ID-Number": "+4930123456", "Caller-Destination-Number": "1001", "Caller-Context": "public",
		"Channel-Name": "sofia/external/+4930123456@198.51.100.7"})
}

// dialLeg opens the socket of the leg data describes to o and waits for
// o's report of it.
func dialLeg(t *testing.T, ctx context.Context, o *outNode, data esltest.Event) (*esltest.OutboundCall, monitor.CallID) {
	t.Helper()
	fs, err := esltest.DialOutboundCall(ctx, o.l.Addr().String(), data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Close() })
	if err := fs.Wait(ctx, func(cmds []string) bool { return cmds[len(cmds)-1] == "resume" }); err != nil {
		t.Fatal(err)
	}
	r := o.report(t, ctx)
	if !r.here {
		t.Fatalf("report %+v", r)
	}
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	return fs, r.id
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCallControlOfCallOnAnotherNode: hang-up and transfer of a call
// whose socket is on a, asked on b, go over that socket; what FreeSWITCH
// answers comes back to b as a's error; a call that ended is no such
// call.
func TestCallControlOfCallOnAnotherNode(t *testing.T) {
	ns := natstest.Start(t)
	a := newOutNode(t, startNode(t, ns.URL(), "a", time.Second))
	b := newOutNode(t, startNode(t, ns.URL(), "b", time.Second))
	ctx := callCtx(t)
	fs, id := dialCall(t, ctx, a)

	if err := b.ctl.Transfer(ctx, id, "1005"); err != nil {
		t.Fatalf("transfer asked on b: %v", err)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_transfer "+outUID+" 1005 XML default"); err != nil {
		t.Fatal(err)
	}
	if err := b.ctl.Hangup(ctx, id); err != nil {
		t.Fatalf("hangup asked on b: %v", err)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_kill "+outUID+" NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	fs.SetAPI(func(cmd, _ string) string {
		if cmd == "uuid_transfer" {
			return "-ERR Invalid extension\n"
		}
		return ""
	})
	err := b.ctl.Transfer(ctx, id, "1006")
	if !errors.Is(err, monitor.ErrRefused) || !strings.Contains(err.Error(), "Invalid extension") {
		t.Fatalf("transfer FreeSWITCH refused, asked on b: %v", err)
	}
	if err := b.ctl.Originate(ctx, "1001", "1002"); !errors.Is(err, monitor.ErrUnsupported) {
		t.Fatalf("originate: %v", err)
	}
	if n := strings.Count(strings.Join(fs.Commands(), "\n"), "api "); n != 3 {
		t.Fatalf("FreeSWITCH got %d api commands: %q", n, fs.Commands())
	}

	// The call ends: nobody has it any more, asked on either node.
	_ = fs.Close()
	if r := a.report(t, ctx); r != (callReport{id, false}) {
		t.Fatalf("report at the socket's end %+v", r)
	}
	for _, n := range []*outNode{b, a} {
		err := n.ctl.Hangup(ctx, id)
		if !errors.Is(err, monitor.ErrNoSuchCall) {
			t.Fatalf("hangup of the ended call asked on %s: %v", n.Name(), err)
		}
		if want := "no node has call " + string(id) + " of source fs-out"; err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
	}
}

// TestCallControlOfCallNATSAway: with NATS gone, a call elsewhere cannot
// be reached (a clear error, at once), and a's own call still can.
func TestCallControlOfCallNATSAway(t *testing.T) {
	ns := natstest.Start(t)
	a := newOutNode(t, startNode(t, ns.URL(), "a", time.Second))
	b := newOutNode(t, startNode(t, ns.URL(), "b", time.Second))
	ctx := callCtx(t)
	fs, id := dialCall(t, ctx, a)
	ns.Stop()
	for tick := time.NewTicker(10 * time.Millisecond); b.Connected(); {
		// NATS tells the client of no change it can wait on here.
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("b did not notice NATS is gone")
		}
	}
	err := b.ctl.Hangup(ctx, id)
	if !errors.Is(err, cluster.ErrNATS) || !errors.Is(err, monitor.ErrNotConnected) {
		t.Fatalf("hangup asked on b without NATS: %v", err)
	}
	if !strings.Contains(err.Error(), "the other nodes cannot be reached") {
		t.Fatalf("error %q", err)
	}
	if err := a.ctl.Hangup(ctx, id); err != nil {
		t.Fatalf("hangup asked on a, which has the call: %v", err)
	}
	if _, err := fs.WaitCommand(ctx, "api uuid_kill "+outUID); err != nil {
		t.Fatal(err)
	}
}

// TestCallControlOfCallWithTwoSockets: both legs of a call have a socket
// on a; the call is answered for until the last one closes.
func TestCallControlOfCallWithTwoSockets(t *testing.T) {
	ns := natstest.Start(t)
	a := newOutNode(t, startNode(t, ns.URL(), "a", time.Second))
	b := newOutNode(t, startNode(t, ns.URL(), "b", time.Second))
	ctx := callCtx(t)
	first, id := dialCall(t, ctx, a)
	const uid2 = "5a1d0065-4e7b-4c3a-9f01-6c2b8d1e0202"
	second, id2 := dialLeg(t, ctx, a, esltest.Event{"Event-Name": "CHANNEL_DATA", "Unique-ID": uid2, "Channel-Call-UUID": outUID,
		"Call-Direction": "outbound", "Caller-Caller-ID-Number": "+4930123456", "Caller-Destination-Number": "1001",
		"Caller-Callee-ID-Number": "1001", "Caller-Context": "default", "Channel-Name": "sofia/internal/1001@192.0.2.20"})
	if id2 != id {
		t.Fatalf("the second leg's call %s, the first's %s", id2, id)
	}
	if err := b.ctl.Hangup(ctx, id); err != nil {
		t.Fatalf("hangup asked on b: %v", err)
	}
	for fs, uid := range map[*esltest.OutboundCall]string{first: outUID, second: uid2} {
		if _, err := fs.WaitCommand(ctx, "api uuid_kill "+uid+" NORMAL_CLEARING"); err != nil {
			t.Fatal(err)
		}
	}
	_ = first.Close()
	if r := a.report(t, ctx); r != (callReport{id, false}) {
		t.Fatalf("report at the first socket's end %+v", r)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.ctl.Transfer(ctx, id, "1005"); err != nil {
		t.Fatalf("transfer asked on b with one socket left: %v", err)
	}
	if _, err := second.WaitCommand(ctx, "api uuid_transfer "+uid2+" 1005 XML default"); err != nil {
		t.Fatal(err)
	}
	_ = second.Close()
	if r := a.report(t, ctx); r != (callReport{id, false}) {
		t.Fatalf("report at the second socket's end %+v", r)
	}
	if err := b.ctl.Hangup(ctx, id); !errors.Is(err, monitor.ErrNoSuchCall) {
		t.Fatalf("hangup once both sockets closed: %v", err)
	}
}
