package main

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// TestServeWebhookOfKilledNode: the node a call came from is killed with
// SIGKILL while its post of the ring is under way (the receiver holds
// it); the other node posts the ring (after the consumer's ack wait) and
// then the call's end, which it says itself as it takes the Fritz!Box
// over: nothing lost, in order.
func TestServeWebhookOfKilledNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	nats := natstest.Start(t)
	router := fritztest.New(t)
	hook := newHookReceiver(t, true, false)
	n1 := startSwitchboard(t, clusterNode{Name: "n1", NATS: nats.URL(), Fritz: router.Addr(), Webhook: hook.srv.URL}.yaml(t))
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	router.Send(time.Now().UTC().Format("02.01.06 15:04:05") + ";RING;1;0301111;5551234;SIP1;")
	select {
	case <-hook.first: // node 1, alone, posts the ring; the receiver holds it
	case <-ctx.Done():
		t.Fatal("the ring was not posted")
	}
	startSwitchboard(t, clusterNode{Name: "n2", NATS: nats.URL(), Fritz: router.Addr(), Webhook: hook.srv.URL}.yaml(t))
	if err := n1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var calls []monitor.Call
	poll(t, ctx, "node 2 to post the ring and the end", func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		calls = append(calls[:0], hook.calls...)
		return len(calls) >= 2
	})
	if len(calls) != 2 || calls[0].State != monitor.Ringing || calls[1].State != monitor.Ended || calls[0].ID != calls[1].ID {
		t.Fatalf("the webhook got %v, want the call's ring, then its end", calls)
	}
}
