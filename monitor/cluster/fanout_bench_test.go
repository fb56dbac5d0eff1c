package cluster_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/fritz"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

var (
	fanoutSubs = flag.Int("fanout-subs", 3000, "BenchmarkClusterFanout: subscribers in all, spread evenly over the nodes")
	fanoutRate = flag.Int("fanout-rate", 50, "BenchmarkClusterFanout: call changes per second the Fritz!Box stand-in makes")
)

// BenchmarkClusterFanout: a Fritz!Box stand-in makes call changes at a
// steady rate (RING, CONNECT, DISCONNECT: three changes a call), read by
// a real Fritz source whose changes go out to thousands of subscribers:
//
//   - single: one node alone, the source publishing straight into its
//     hub, every subscriber on it;
//   - nats-3: three nodes joined through a real NATS server with
//     JetStream, the source on the first (its owner) publishing to the
//     stream, every node's hub fed from the stream, the subscribers
//     spread evenly over the three.
//
// Each subscriber is a queued hub subscription read as /events reads it
// (Ready, then Take of everything waiting), without the socket. b.N is
// the number of changes. Reported: deliveries per second per node, the
// latency from the change leaving the source's tracker (the event's At,
// taken by the owner's hub or publisher) to its delivery to a subscriber,
// p50 and p99, the process's CPU time (NATS server, nodes, stand-in and
// subscribers together) per delivered message, the changes per second
// the nodes applied (the call changes and the line lamps the source keeps
// with them), the most changes the owner had waiting to be sent to NATS,
// and the subscribers dropped (as too slow, or not done a
// minute after the last change).
func BenchmarkClusterFanout(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		name := "single"
		if nodes > 1 {
			name = fmt.Sprintf("nats-%d", nodes)
		}
		b.Run(name, func(b *testing.B) { benchFanout(b, nodes, *fanoutSubs, *fanoutRate) })
	}
}

// fanoutMarker is the called number of the run's last call: a
// subscriber that sees it ring has had every change.
const fanoutMarker = "7654321"

// fanoutSub is one subscriber's tally.
type fanoutSub struct {
	node int
	got  int64
	// lat holds each delivery's latency in microseconds.
	lat []uint32
}

func benchFanout(b *testing.B, nodes, subs, rate int) {
	b.Helper()
	logger := slog.New(slog.DiscardHandler)
	var (
		hubs []*monitor.Hub
		sink monitor.Sink
		// owner is the first node's publisher (nil alone): its backlog
		// says whether sending to NATS keeps up.
		owner *cluster.Publisher
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		for _, h := range hubs {
			h.Close()
		}
	}()
	if nodes == 1 {
		h := monitor.NewHub(monitor.HubConfig{})
		hubs, sink = append(hubs, h), h
	} else {
		srv := natstest.Start(b)
		for i := range nodes {
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			cn, err := cluster.Connect(cctx, cluster.Config{NATS: cluster.NATSConfig{URL: srv.URL()}, Node: fmt.Sprintf("n%d", i+1)},
				cluster.WithLogger(logger))
			ccancel()
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(cn.Close)
			h := monitor.NewHub(monitor.HubConfig{}, monitor.WithEpoch(cn.Epoch()))
			pub, feed := cn.Publisher(), cn.Feed(h)
			wg.Go(func() { _ = pub.Run(ctx) })
			wg.Go(func() { _ = feed.Run(ctx) })
			select {
			case <-feed.Ready():
			case <-time.After(30 * time.Second):
				b.Fatal("feed not ready")
			}
			hubs = append(hubs, h)
			if i == 0 {
				sink, owner = pub, pub
			}
		}
	}

	// The subscribers, before the source starts: each reads until the
	// last call rings (the marker), is dropped as too slow, or the run
	// gives up on it.
	var (
		giveUp = make(chan struct{})
		gaveUp atomic.Int64
		subWG  sync.WaitGroup
	)
	published0 := make([]uint64, nodes)
	for i, h := range hubs {
		published0[i] = h.Stats().Published
	}
	tallies := make([]*fanoutSub, subs)
	for i := range subs {
		tally := &fanoutSub{node: i % nodes}
		tallies[i] = tally
		sub, err := hubs[tally.node].Subscribe(nil, monitor.Queued())
		if err != nil {
			b.Fatal(err)
		}
		subWG.Go(func() {
			defer sub.Close()
			var batch []monitor.Event
			for {
				select {
				case <-sub.Ready():
				case <-sub.Done():
					return
				case <-giveUp:
					gaveUp.Add(1)
					return
				}
				batch = sub.Take(batch[:0])
				now := time.Now()
				last := false
				for _, ev := range batch {
					tally.got++
					tally.lat = append(tally.lat, uint32(min(max(now.Sub(ev.At).Microseconds(), 0), 1<<31)))
					if c, ok := ev.Payload.(*monitor.Call); ok && c.To.Number == fanoutMarker {
						last = true
					}
				}
				if last {
					return
				}
			}
		})
	}

	box := fritztest.New(b)
	src, err := fritz.New(fritz.Config{Name: "box", Type: "fritz",
		LinkConfig: monitor.LinkConfig{Address: box.Addr(), LinkGrace: time.Hour}, Location: "Europe/Berlin"})
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { _ = src.Run(ctx, sink) })
	for deadline := time.Now().Add(30 * time.Second); box.Send("") == 0; {
		if time.Now().After(deadline) {
			b.Fatal("the source did not connect to the stand-in")
		}
		time.Sleep(10 * time.Millisecond)
	}

	calls := (b.N + 2) / 3
	lines := make([]string, 0, 3*calls+1)
	for i := range calls {
		id := i % 8
		lines = append(lines,
			fmt.Sprintf("23.11.26 10:15:03;RING;%d;0170%07d;1234567;SIP0;", id, i),
			fmt.Sprintf("23.11.26 10:15:04;CONNECT;%d;10;0170%07d;", id, i),
			fmt.Sprintf("23.11.26 10:15:09;DISCONNECT;%d;5;", id))
	}
	lines = append(lines, "23.11.26 10:15:10;RING;9;01700000000;"+fanoutMarker+";SIP0;")
	every := time.Second / time.Duration(rate)
	b.ResetTimer()
	cpu0, start := cpuTime(), time.Now()
	maxQueued := 0
	for i, l := range lines {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		box.Send(l)
		if owner != nil {
			maxQueued = max(maxQueued, owner.Queued())
		}
	}
	done := make(chan struct{})
	go func() { subWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		// Counted as dropped below.
		close(giveUp)
		<-done
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()

	perNode := make([]int64, nodes)
	var all []uint32
	var delivered int64
	for _, tl := range tallies {
		perNode[tl.node] += tl.got
		delivered += tl.got
		all = append(all, tl.lat...)
	}
	slices.Sort(all)
	q := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1000
	}
	for i, n := range perNode {
		b.ReportMetric(float64(n)/elapsed.Seconds(), fmt.Sprintf("deliveries/s-n%d", i+1))
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	if delivered > 0 && cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(delivered), "cpu-µs/delivery")
	}
	dropped := gaveUp.Load()
	for _, h := range hubs {
		dropped += int64(h.Stats().Dropped[monitor.CloseSlow])
	}
	b.ReportMetric(float64(dropped), "dropped")
	if owner != nil {
		// The most changes the owner had waiting for NATS's ack.
		b.ReportMetric(float64(maxQueued), "max-outbox")
	}
	// Changes per second the nodes applied: the Fritz source's call
	// changes and the line lamps it keeps with them.
	b.ReportMetric(float64(hubs[0].Stats().Published-published0[0])/elapsed.Seconds(), "changes/s")
}
