package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// webhookNodeConfig is a node of TestServeWebhookOfKilledNode: a
// Fritz!Box source and one webhook, joined through NATS.
func webhookNodeConfig(t *testing.T, node, natsURL, router, hook string) string {
	t.Helper()
	return fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
cluster:
  node: %s
  lease_ttl: 3s
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
webhooks:
  - url: %s
    secret: hook-secret
`, t.TempDir(), node, natsURL, router, hook)
}

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
	n1 := startSwitchboard(t, webhookNodeConfig(t, "n1", nats.URL(), router.Addr(), hook.srv.URL))
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	router.Send(time.Now().UTC().Format("02.01.06 15:04:05") + ";RING;1;0301111;5551234;SIP1;")
	select {
	case <-hook.first: // node 1, alone, posts the ring; the receiver holds it
	case <-ctx.Done():
		t.Fatal("the ring was not posted")
	}
	startSwitchboard(t, webhookNodeConfig(t, "n2", nats.URL(), router.Addr(), hook.srv.URL))
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
