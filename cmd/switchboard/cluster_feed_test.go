package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// TestRunFeedCatchesUpOnStop: stopped as the ordered stop does (the
// publisher first, then the feed), the feed applies every change the
// publisher stored, so the changes a node's sources made as they stopped
// reach its hub, and so its webhooks.
func TestRunFeedCatchesUpOnStop(t *testing.T) {
	srv := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := cluster.Connect(ctx, cluster.Config{NATS: cluster.NATSConfig{URL: srv.URL()}, Node: "sb-1"},
		cluster.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	// The hub holds the feed up until it is told to stop: the publisher
	// has stored every change by then.
	gate := make(chan struct{})
	hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithEpoch(node.Epoch()), monitor.WithObserver(func(monitor.Event) { <-gate }))
	defer hub.Close()
	pub, feed := node.Publisher(), node.Feed(hub)
	pctx, stopPub := context.WithCancel(context.Background())
	fctx, stopFeed := context.WithCancel(context.Background())
	defer stopPub()
	defer stopFeed()
	pubDone, feedDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(pubDone); _ = pub.Run(pctx) }()
	go func() { defer close(feedDone); _ = runFeed(feed, pub, time.Minute)(fctx) }()
	select {
	case <-feed.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("feed not ready")
	}
	for i := range 200 {
		pub.Call(monitor.Call{ID: monitor.CallID(fmt.Sprintf("box:%d", i)), Source: "box", State: monitor.Ringing,
			Started: time.Unix(1_700_000_000, 0).UTC()})
	}
	for deadline := time.Now().Add(30 * time.Second); pub.Queued() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the changes were not stored")
		}
	}
	stopPub()
	<-pubDone
	stopFeed()
	close(gate)
	<-feedDone
	if pub.Queued() != 0 || pub.Stored() == 0 || feed.Applied() < pub.Stored() {
		t.Fatalf("feed applied up to %d, the publisher stored up to %d", feed.Applied(), pub.Stored())
	}
}
