package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// clusterNodeConfig is a node of TestServeTwoNodesShareNATS: the same
// Fritz!Box source on every node, joined through NATS.
func clusterNodeConfig(t *testing.T, node, natsURL, router, hook string, ttl time.Duration) string {
	t.Helper()
	return fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
cluster:
  node: %s
  lease_ttl: %s
  nats:
    url: %s
sources:
  - name: office
    type: fritz
    address: %s
    location: UTC
    reconnect_min: 20ms
    reconnect_max: 200ms
    link_grace: 100ms
tokens:
  - name: test
    token: %s
    role: viewer
webhooks:
  - url: %s
    secret: hook-secret
`, t.TempDir(), node, ttl, natsURL, router, testToken, hook)
}

// wallboard is an /events client that records every call change it gets.
type wallboard struct {
	mu    sync.Mutex
	calls map[monitor.CallID][]monitor.State
	done  chan struct{}
}

func openWallboard(t *testing.T, ctx context.Context, base string) *wallboard {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
	if err != nil {
		t.Fatalf("open %sevents: %v", base, err)
	}
	c.SetReadLimit(1 << 20)
	w := &wallboard{calls: map[monitor.CallID][]monitor.State{}, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m wsMsg
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			w.mu.Lock()
			for _, call := range m.Calls {
				w.add(call)
			}
			if m.Call != nil {
				w.add(*m.Call)
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { _ = c.CloseNow(); <-w.done })
	return w
}

// add records c's state unless it repeats the last one; w.mu held.
func (w *wallboard) add(c monitor.Call) {
	s := w.calls[c.ID]
	if len(s) == 0 || s[len(s)-1] != c.State {
		w.calls[c.ID] = append(s, c.State)
	}
}

// states returns the states the wallboard saw of the call whose caller is
// number.
func (w *wallboard) statesOf(id monitor.CallID) []monitor.State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]monitor.State(nil), w.calls[id]...)
}

// callIDs returns the calls the wallboard saw.
func (w *wallboard) callIDs() []monitor.CallID {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []monitor.CallID
	for id := range w.calls {
		out = append(out, id)
	}
	return out
}

// sourceOwner is the node /healthz says connects source.
func sourceOwner(t *testing.T, ctx context.Context, base string, source monitor.SourceName) string {
	t.Helper()
	status, body := getWithToken(t, ctx, base+"healthz")
	if status != http.StatusOK {
		t.Fatalf("healthz: %d %s", status, body)
	}
	var h struct {
		Sources []struct {
			Name monitor.SourceName `json:"name"`
			Node string             `json:"node"`
		} `json:"sources"`
		Cluster struct {
			Connected bool `json:"connected"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.Sources {
		if s.Name == source {
			return s.Node
		}
	}
	return ""
}

// TestServeTwoNodesShareNATS runs two real `switchboard serve` processes
// joined through a NATS server with JetStream, both configured with the
// same Fritz!Box: one node connects it, and wallboards on both see ring →
// connected → ended, and the webhook gets each change once, not once per
// node. Killed with SIGKILL, the owner's source is taken
// over by the other node within the lease TTL, and the call that was
// ringing then is ended (a Fritz!Box cannot say what became of it), not
// left ringing.
func TestServeTwoNodesShareNATS(t *testing.T) {
	// Long enough for NATS to stop and start within four fifths of it
	// (the owner keeps its lease through that), short for the takeover.
	const ttl = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nats := natstest.Start(t)
	router := fritztest.New(t)
	hook := newHookReceiver(t, false, false)
	n1 := startSwitchboard(t, clusterNodeConfig(t, "n1", nats.URL(), router.Addr(), hook.srv.URL, ttl))
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startSwitchboard(t, clusterNodeConfig(t, "n2", nats.URL(), router.Addr(), hook.srv.URL, ttl))
	poll(t, ctx, "node 2 to see node 1 own the source", func() bool {
		return sourceOwner(t, ctx, n2.url, "office") == "n1" && sourceOwner(t, ctx, n1.url, "office") == "n1"
	})
	time.Sleep(ttl) // node 2 tries for the lease meanwhile, and must not get it
	if got := router.Accepted(); got != 1 {
		t.Fatalf("the Fritz!Box was connected %d times, want once (by node 1)", got)
	}
	w1, w2 := openWallboard(t, ctx, n1.url), openWallboard(t, ctx, n2.url)

	stamp := func() string { return time.Now().UTC().Format("02.01.06 15:04:05") }
	router.Send(stamp() + ";RING;1;0301111;5551234;SIP1;")
	router.Send(stamp() + ";CONNECT;1;11;0301111;")
	router.Send(stamp() + ";DISCONNECT;1;5;")
	want := []monitor.State{monitor.Ringing, monitor.Connected, monitor.Ended}
	var id monitor.CallID
	poll(t, ctx, "both wallboards to see the call end", func() bool {
		ids := w2.callIDs()
		if len(ids) != 1 {
			return false
		}
		id = ids[0]
		return len(w1.statesOf(id)) == 3 && len(w2.statesOf(id)) == 3
	})
	for i, w := range []*wallboard{w1, w2} {
		if got := w.statesOf(id); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("wallboard on node %d saw %v, want %v", i+1, got, want)
		}
	}

	// Each node's /metrics: node 1 took the lease, node 2 did not, and
	// each has its wallboard's /events socket.
	for _, m := range []struct {
		n    *process
		name string
		want float64
	}{
		{n1, `switchboard_cluster_lease_changes_total{change="acquired"}`, 1},
		{n1, "switchboard_cluster_leases_held", 1},
		{n2, `switchboard_cluster_lease_changes_total{change="acquired"}`, 0},
		{n2, "switchboard_cluster_leases_held", 0},
		{n1, "switchboard_cluster_connected", 1},
		{n2, "switchboard_cluster_connected", 1},
		{n1, `switchboard_events_subscribers{node="n1"}`, 1},
		{n2, `switchboard_events_subscribers{node="n2"}`, 1},
	} {
		if got := metric(t, ctx, m.n.url, m.name); got != m.want {
			t.Fatalf("%s on %s = %v, want %v", m.name, m.n.url, got, m.want)
		}
	}
	poll(t, ctx, "the webhook to get the call's end", func() bool { _, ok := hook.ended(id); return ok })
	time.Sleep(500 * time.Millisecond) // a second node's posts would be here by now
	hook.mu.Lock()
	var posted []monitor.State
	for _, c := range hook.calls {
		if c.ID == id {
			posted = append(posted, c.State)
		}
	}
	hook.mu.Unlock()
	if fmt.Sprint(posted) != fmt.Sprint(want) {
		t.Fatalf("the webhook got %v of the call, want %v (once per cluster)", posted, want)
	}

	// A call rings when node 1 dies.
	router.Send(stamp() + ";RING;2;0302222;5551234;SIP1;")
	poll(t, ctx, "node 2's wallboard to see the second call ring", func() bool { return len(w2.callIDs()) == 2 })
	var second monitor.CallID
	for _, c := range w2.callIDs() {
		if c != id {
			second = c
		}
	}
	accepted := router.Accepted()
	if err := n1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-n1.done
	wctx, wcancel := context.WithTimeout(ctx, ttl+2*time.Second)
	defer wcancel()
	if _, err := router.WaitAccepted(wctx, accepted); err != nil {
		t.Fatalf("node 2 did not connect the Fritz!Box within %s of node 1's death: %v", ttl+2*time.Second, err)
	}
	took := time.Since(killed)
	t.Logf("node 2 connected the Fritz!Box %s after node 1 was killed (lease_ttl %s)", took.Round(10*time.Millisecond), ttl)
	poll(t, ctx, "node 2 to own the source", func() bool { return sourceOwner(t, ctx, n2.url, "office") == "n2" })
	poll(t, ctx, "node 2 to count the lease it took", func() bool {
		return metric(t, ctx, n2.url, `switchboard_cluster_lease_changes_total{change="acquired"}`) == 1 &&
			metric(t, ctx, n2.url, "switchboard_cluster_leases_held") == 1
	})
	poll(t, ctx, "the ringing call ended on node 2's wallboard", func() bool {
		s := w2.statesOf(second)
		return len(s) > 0 && s[len(s)-1] == monitor.Ended
	})
	// Node 2 now reports the Fritz!Box's calls itself.
	router.Send(stamp() + ";RING;3;0303333;5551234;SIP1;")
	router.Send(stamp() + ";DISCONNECT;3;0;")
	poll(t, ctx, "node 2's wallboard to see a call after the takeover", func() bool {
		for _, c := range w2.callIDs() {
			if c != id && c != second {
				s := w2.statesOf(c)
				return fmt.Sprint(s) == fmt.Sprint([]monitor.State{monitor.Ringing, monitor.Ended})
			}
		}
		return false
	})

	// NATS restarts while a call rings and ends: the changes wait in node
	// 2's outbox and reach its wallboard once NATS is back.
	seen := map[monitor.CallID]bool{}
	for _, c := range w2.callIDs() {
		seen[c] = true
	}
	nats.Stop()
	router.Send(stamp() + ";RING;4;0304444;5551234;SIP1;")
	router.Send(stamp() + ";DISCONNECT;4;0;")
	time.Sleep(300 * time.Millisecond)
	nats.StartAgain()
	poll(t, ctx, "node 2's wallboard to see the call made while NATS was down", func() bool {
		for _, c := range w2.callIDs() {
			if !seen[c] {
				return fmt.Sprint(w2.statesOf(c)) == fmt.Sprint([]monitor.State{monitor.Ringing, monitor.Ended})
			}
		}
		return false
	})
	if owner := sourceOwner(t, ctx, n2.url, "office"); owner != "n2" {
		t.Fatalf("after the NATS restart the source is owned by %q, want n2", owner)
	}
}
