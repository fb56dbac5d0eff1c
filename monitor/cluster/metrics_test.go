package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// sample reads one sample of name (with label change=change, when set)
// from what reg gathers; ok is false when there is none.
func sample(t *testing.T, reg *prometheus.Registry, name, change string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "change" {
					got = l.GetValue()
				}
			}
			if got != change {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// registry registers n's figures in a registry of their own.
func registry(t *testing.T, n *node) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(n.Node); err != nil {
		t.Fatalf("register: %v", err)
	}
	return reg
}

// waitSample waits until name{change} reads want on reg.
func waitSample(t *testing.T, reg *prometheus.Registry, name, change string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, ok := sample(t, reg, name, change)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{change=%q} = %v (present %v), want %v", name, change, v, ok, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterMetrics: two nodes' figures follow what happens to them:
// the lease one takes, gives up and the other takes, the one lost while
// NATS is away, the connection, and the feed's lag.
func TestClusterMetrics(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	const changes = "switchboard_cluster_lease_changes_total"
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", ttl)
	b := startNode(t, srv.URL(), "b", ttl)
	ra, rb := registry(t, a), registry(t, b)
	waitReady(t, a)
	waitReady(t, b)
	for _, reg := range []*prometheus.Registry{ra, rb} {
		for _, c := range []string{"acquired", "lost", "released"} {
			waitSample(t, reg, changes, c, 0)
		}
		waitSample(t, reg, "switchboard_cluster_leases_held", "", 0)
		waitSample(t, reg, "switchboard_cluster_connected", "", 1)
	}

	// The feed's lag: 0 once b has applied every change a published
	// (TestStreamLag has it above 0).
	sub := subscribe(t, b.hub)
	publishCalls(a.pub, 1, 50)
	collect(t, sub, 150)
	waitSample(t, rb, "switchboard_cluster_stream_lag", "", 0)

	var overlap atomic.Int32
	ha, hb := newHolder(), newHolder()
	actx, acancel := context.WithCancel(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	var wg, aDone sync.WaitGroup
	defer func() { acancel(); cancel(); wg.Wait() }()
	aDone.Go(func() { a.Lease(actx, monitor.SourceName("box.1"), ha.run(&overlap), nil) })
	within(t, ha.started, 5*time.Second, "a takes the lease")
	waitSample(t, ra, changes, "acquired", 1)
	waitSample(t, ra, "switchboard_cluster_leases_held", "", 1)

	// a gives the lease up as it stops; b takes it.
	wg.Go(func() { b.Lease(ctx, monitor.SourceName("box.1"), hb.run(&overlap), nil) })
	acancel()
	aDone.Wait()
	waitSample(t, ra, changes, "released", 1)
	waitSample(t, ra, "switchboard_cluster_leases_held", "", 0)
	within(t, hb.started, 10*time.Second, "b takes the given-up lease")
	waitSample(t, rb, changes, "acquired", 1)
	waitSample(t, rb, "switchboard_cluster_leases_held", "", 1)

	// NATS away: b cannot renew and loses the lease; both are
	// disconnected until it is back, and b takes the lease again.
	srv.Stop()
	waitSample(t, ra, "switchboard_cluster_connected", "", 0)
	within(t, hb.stopped, 10*time.Second, "b stops the source")
	waitSample(t, rb, changes, "lost", 1)
	waitSample(t, rb, "switchboard_cluster_leases_held", "", 0)
	waitSample(t, rb, "switchboard_cluster_connected", "", 0)
	srv.StartAgain()
	waitSample(t, rb, "switchboard_cluster_connected", "", 1)
	within(t, hb.started, 30*time.Second, "b takes the lease again")
	waitSample(t, rb, changes, "acquired", 2)
	for _, c := range []string{"acquired", "lost"} {
		waitSample(t, ra, changes, c, map[string]float64{"acquired": 1}[c])
	}
}

// gateHub is a hub whose next change, once held, waits for release: a
// feed held back.
type gateHub struct {
	*monitor.Hub
	hold    atomic.Bool
	blocked chan struct{}
	release chan struct{}
}

func (g *gateHub) PublishSeq(seq uint64, at time.Time, p monitor.Payload) error {
	if g.hold.CompareAndSwap(true, false) {
		g.blocked <- struct{}{}
		<-g.release
	}
	return g.Hub.PublishSeq(seq, at, p)
}

// TestStreamLag: a node whose feed is held back on one change while
// others are published shows them all as its lag, on /metrics too, and
// 0 again once it caught up.
func TestStreamLag(t *testing.T) {
	const n = 25
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cn, err := cluster.Connect(ctx, cluster.Config{NATS: cluster.NATSConfig{URL: srv.URL()}, Node: "b"},
		cluster.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithEpoch(cn.Epoch()))
	g := &gateHub{Hub: hub, blocked: make(chan struct{}), release: make(chan struct{})}
	feed := cn.Feed(g)
	rctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	released := false
	defer func() {
		if !released {
			close(g.release)
		}
		stop()
		wg.Wait()
		hub.Close()
		cn.Close()
	}()
	wg.Go(func() { _ = feed.Run(rctx) })
	select {
	case <-feed.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("feed not ready")
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(cn); err != nil {
		t.Fatal(err)
	}
	waitSample(t, reg, "switchboard_cluster_stream_lag", "", 0)

	g.hold.Store(true)
	a.pub.Call(call("first", monitor.Ringing))
	select {
	case <-g.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the feed did not get the first change")
	}
	for i := 1; i < n; i++ {
		a.pub.Call(call(fmt.Sprintf("c%d", i), monitor.Ringing))
	}
	waitFor(t, "every change stored", func() (bool, string) {
		return a.pub.Sent() == n, fmt.Sprint(a.pub.Sent())
	})
	// The one being applied and those behind it.
	waitSample(t, reg, "switchboard_cluster_stream_lag", "", n)
	if got := cn.Lag(); got != n {
		t.Fatalf("Lag() = %d, want %d", got, n)
	}

	close(g.release)
	released = true
	waitSample(t, reg, "switchboard_cluster_stream_lag", "", 0)
	if got := hub.Stats().Published; got != n {
		t.Fatalf("the hub applied %d changes, want %d", got, n)
	}
}
