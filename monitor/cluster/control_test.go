package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// pbxNode is one node's side of the AMI source "pbx": its call control,
// and (runLease) its lease of the source, running the source while held.
type pbxNode struct {
	*node
	ctl *cluster.Control
	rec *monitortest.Recorder
	src *ami.Source
}

// newPBXNode makes node n's AMI source for the stand-in at addr and its
// call control; the source runs only once runLease is called and the node
// takes the lease.
func newPBXNode(t *testing.T, n *node, addr string) *pbxNode {
	t.Helper()
	src, err := ami.New(ami.Config{Name: "pbx", Username: "admin", Secret: "pw", PingInterval: time.Hour,
		LinkConfig: monitor.LinkConfig{Address: addr, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond, LinkGrace: time.Hour}},
		ami.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return &pbxNode{node: n, ctl: n.Control("pbx", src), rec: monitortest.NewRecorder(), src: src}
}

// runLease tries for the source's lease until the returned Running is
// stopped, which gives the lease up.
func (p *pbxNode) runLease(t *testing.T) *monitortest.Running {
	t.Helper()
	return monitortest.Start(t, func(ctx context.Context) error {
		p.Lease(ctx, "pbx", func(ctx context.Context) error { return p.src.Run(ctx, p.rec) }, p.ctl.Held)
		return nil
	})
}

// waitConnected waits until this node's source is logged in to the
// stand-in (and has its channels).
func (p *pbxNode) waitConnected(t *testing.T) {
	t.Helper()
	p.rec.WaitFor(t, "the source connected", func() bool { return p.rec.LastStatus().State == monitor.LinkConnected })
}

// standIn is an AMI stand-in with one call, pbx:5.1, of two channels.
func standIn(t *testing.T) *amitest.Server {
	t.Helper()
	srv := amitest.New(t, "admin", "pw")
	srv.SetChannels(
		ami.M("Channel", "PJSIP/201-00000001", "Uniqueid", "5.1", "Linkedid", "5.1", "CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up"),
		ami.M("Channel", "PJSIP/202-00000002", "Uniqueid", "5.2", "Linkedid", "5.1", "CallerIDNum", "202", "ChannelStateDesc", "Up"),
	)
	return srv
}

// controlActions are the call-control actions the stand-in received, in
// words.
func controlActions(srv *amitest.Server) []string {
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
			got = append(got, "Redirect "+a.Get("Channel")+" "+a.Get("Exten"))
		case "Originate":
			got = append(got, "Originate "+a.Get("Channel")+" "+a.Get("Exten"))
		case "Hangup":
			got = append(got, "Hangup "+a.Get("Channel"))
		}
	}
	return got
}

func TestControlForwardedToOwner(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	b := newPBXNode(t, startNode(t, ns.URL(), "b", time.Second), srv.Addr())
	a.runLease(t)
	a.waitConnected(t)
	// b never runs its source: every action asked there is a's.
	ctx := context.Background()
	steps := []struct {
		name string
		do   func(c *cluster.Control) error
	}{
		{"transfer", func(c *cluster.Control) error { return c.Transfer(ctx, "pbx:5.1", "203") }},
		{"originate", func(c *cluster.Control) error { return c.Originate(ctx, "201", "0301234") }},
		{"pause", func(c *cluster.Control) error { return c.PauseMember(ctx, "support", "PJSIP/202", true, "lunch") }},
		{"login", func(c *cluster.Control) error { return c.AddMember(ctx, "support", "PJSIP/203", "Cem") }},
		{"logout", func(c *cluster.Control) error { return c.RemoveMember(ctx, "support", "PJSIP/203") }},
		{"hangup", func(c *cluster.Control) error { return c.Hangup(ctx, "pbx:5.1") }},
	}
	for _, s := range steps {
		if err := s.do(b.ctl); err != nil {
			t.Fatalf("%s asked on b: %v", s.name, err)
		}
	}
	want := []string{"Redirect PJSIP/201-00000001 203", "Originate PJSIP/201 0301234", "QueuePause support PJSIP/202 true lunch",
		"QueueAdd support PJSIP/203 Cem", "QueueRemove support PJSIP/203", "Hangup PJSIP/201-00000001", "Hangup PJSIP/202-00000002"}
	if got := controlActions(srv); !slices.Equal(got, want) {
		t.Fatalf("the stand-in got %q\nwant %q", got, want)
	}
	// The owner's own actions stay local.
	if err := a.ctl.Originate(ctx, "202", "0309999"); err != nil {
		t.Fatalf("originate on the owner: %v", err)
	}
	if got := controlActions(srv); got[len(got)-1] != "Originate PJSIP/202 0309999" {
		t.Fatalf("last action %q", got[len(got)-1])
	}
}

// TestControlErrorsCrossNodes: what the PBX or the owner says comes back
// to the asker as the same error, with the same words, as asked on the
// owner.
func TestControlErrorsCrossNodes(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	srv.Refuse("Redirect", "Redirect failed, extension not found")
	srv.Refuse("QueueRemove", "Unable to remove interface: Not there")
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	b := newPBXNode(t, startNode(t, ns.URL(), "b", time.Second), srv.Addr())
	a.runLease(t)
	a.waitConnected(t)
	ctx := context.Background()
	tests := []struct {
		name string
		do   func(c *cluster.Control) error
		is   []error
		not  error
		text string
	}{
		{"transfer refused", func(c *cluster.Control) error { return c.Transfer(ctx, "pbx:5.1", "299") },
			[]error{monitor.ErrRefused}, monitor.ErrNoSuchCall, "extension not found"},
		{"logout refused", func(c *cluster.Control) error { return c.RemoveMember(ctx, "support", "PJSIP/209") },
			[]error{monitor.ErrRefused}, monitor.ErrNotConnected, "Not there"},
		{"no such call", func(c *cluster.Control) error { return c.Hangup(ctx, "pbx:nope") },
			[]error{monitor.ErrNoSuchCall}, monitor.ErrRefused, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := tt.do(a.ctl), tt.do(b.ctl)
			for _, err := range []error{local, remote} {
				for _, is := range tt.is {
					if !errors.Is(err, is) {
						t.Errorf("%v: not %v", err, is)
					}
				}
				if errors.Is(err, tt.not) {
					t.Errorf("%v: is %v", err, tt.not)
				}
				if err == nil || !strings.Contains(err.Error(), tt.text) {
					t.Errorf("%v: without %q", err, tt.text)
				}
			}
			if local != nil && remote != nil && local.Error() != remote.Error() {
				t.Errorf("asked on b: %q; on the owner: %q", remote, local)
			}
		})
	}
}

func TestControlNoOwner(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	err := a.ctl.Hangup(context.Background(), "pbx:5.1")
	if !errors.Is(err, cluster.ErrNoOwner) || !errors.Is(err, monitor.ErrNotConnected) {
		t.Fatalf("nobody holds the lease: %v", err)
	}
	if want := "no node connects source pbx right now"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if n := len(srv.Actions()); n != 0 {
		t.Fatalf("the stand-in got %d actions", n)
	}
}

// TestControlFollowsLease: once the lease moves, actions asked anywhere
// (on the old owner too) go to the new owner.
func TestControlFollowsLease(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	b := newPBXNode(t, startNode(t, ns.URL(), "b", time.Second), srv.Addr())
	c := newPBXNode(t, startNode(t, ns.URL(), "c", time.Second), srv.Addr())
	leaseA := a.runLease(t)
	a.waitConnected(t)
	b.runLease(t) // waits: a holds it
	ctx := context.Background()
	if err := c.ctl.Originate(ctx, "201", "1"); err != nil {
		t.Fatalf("through a: %v", err)
	}
	leaseA.Stop(t) // gives the lease up; a's source is stopped
	b.waitConnected(t)
	owners, err := b.Owners(ctx)
	if err != nil || owners["pbx"] != "b" {
		t.Fatalf("owners %v, %v", owners, err)
	}
	for i, asker := range []*pbxNode{c, a} {
		if err := asker.ctl.Originate(ctx, "201", string(rune('2'+i))); err != nil {
			t.Fatalf("through b, asked on %s: %v", asker.Name(), err)
		}
	}
	want := []string{"Originate PJSIP/201 1", "Originate PJSIP/201 2", "Originate PJSIP/201 3"}
	if got := controlActions(srv); !slices.Equal(got, want) {
		t.Fatalf("the stand-in got %q, want %q", got, want)
	}
}

// TestControlTimeout: an owner whose PBX does not answer makes the asker's
// action end with its deadline, said as a timeout.
func TestControlTimeout(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	b := newPBXNode(t, startNode(t, ns.URL(), "b", time.Second), srv.Addr())
	a.runLease(t)
	a.waitConnected(t)
	srv.Silent(true)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := b.ctl.Originate(ctx, "201", "0301234")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a silent PBX: %v", err)
	}
}

// TestControlBadRequest: a request the owner cannot read is answered
// with the reason, and the owner goes on answering.
func TestControlBadRequest(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	b := newPBXNode(t, startNode(t, ns.URL(), "b", time.Second), srv.Addr())
	a.runLease(t)
	a.waitConnected(t)
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, body := range []string{`junk`, `{"v":2,"op":"hangup","call":"pbx:5.1","timeout_ms":1000}`, `{"v":1,"op":"explode","timeout_ms":1000}`,
		`{"v":1,"op":"hangup","timeout_ms":1000}`} {
		m, err := nc.Request(cluster.ControlSubject("pbx"), []byte(body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var reply struct {
			Node  string   `json:"node"`
			Error string   `json:"error"`
			Is    []string `json:"is"`
		}
		if err := json.Unmarshal(m.Data, &reply); err != nil || reply.Node != "a" || !strings.Contains(reply.Error, "malformed call-control message") {
			t.Fatalf("%s: reply %s (%v)", body, m.Data, err)
		}
	}
	if n := len(controlActions(srv)); n != 0 {
		t.Fatalf("the stand-in got %d actions", n)
	}
	if err := b.ctl.Hangup(context.Background(), "pbx:5.1"); err != nil {
		t.Fatalf("after bad requests: %v", err)
	}
}

// TestControlBoundsActionsAtOnce: while its PBX does not answer, the
// holder works on a bounded number of other nodes' actions; one more is
// refused at once, and those waiting end when the lease is given up.
func TestControlBoundsActionsAtOnce(t *testing.T) {
	ns := natstest.Start(t)
	srv := standIn(t)
	a := newPBXNode(t, startNode(t, ns.URL(), "a", time.Second), srv.Addr())
	b := newPBXNode(t, startNode(t, ns.URL(), "b", time.Second), srv.Addr())
	lease := a.runLease(t)
	a.waitConnected(t)
	srv.Silent(true)
	const limit = 64 // maxAnswering
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, limit)
	for range limit {
		go func() { errs <- b.ctl.Originate(ctx, "201", "0301234") }()
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	// The source's own actions (its state lists) come and go meanwhile:
	// only the originates count.
	originates := func() int { return len(controlActions(srv)) }
	if err := srv.Wait(wctx, func() bool { return originates() >= limit }); err != nil || originates() != limit {
		t.Fatalf("the stand-in got %d of %d originates: %v", originates(), limit, err)
	}
	err := b.ctl.Originate(ctx, "201", "0301234")
	if err == nil || !strings.Contains(err.Error(), "too many call-control actions for source pbx at once") {
		t.Fatalf("one more: %v", err)
	}
	lease.Stop(t) // cancels the actions waiting on the silent PBX
	for range limit {
		if err := <-errs; err == nil {
			t.Fatal("an action the PBX never answered succeeded")
		}
	}
}
