package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/phonebook"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/webhook"
)

// leased reports whether a source of type typ is connected by one node of
// a cluster at a time: every source that dials a PBX or router, and the
// demo and replays (which would be doubled otherwise). FreeSWITCH's
// outbound connections come to whichever node it picks, so their
// listeners run on every node.
func leased(typ string) bool { return typ != "esl-outbound" }

// runLeased runs src on this node whenever it holds the source's lease,
// until ctx ends. It takes no lease before the feed has applied the
// cluster's present, so that each term starts knowing the source's active
// calls: they go to the term's Restart, which hands those the PBX still
// has (its resync) to the source's tracker and ends the rest as failed,
// "server restarted" (a Fritz!Box, which cannot resync, ends them all),
// so no call is left ringing after a takeover and none is doubled.
func runLeased(ctx context.Context, node *cluster.Node, feed *cluster.Feed, hub *monitor.Hub, pub *cluster.Publisher,
	book *phonebook.Book, src monitor.Source, ctl *cluster.Control, log *slog.Logger,
) error {
	select {
	case <-ctx.Done():
		return nil
	case <-feed.Ready():
	}
	name := src.Name()
	// While this node holds the lease it answers the other nodes' call
	// control for the source (ctl: nil for a source without any).
	var held func(bool)
	if ctl != nil {
		held = ctl.Held
	}
	node.Lease(ctx, name, func(runCtx context.Context) error {
		term := pub.Term(name)
		var sink monitor.Sink = term
		if book != nil {
			sink = monitor.NewNames(term, book)
		}
		var active []monitor.Call
		for _, c := range hub.Snapshot().Calls() {
			if c.Source == name {
				active = append(active, c)
			}
		}
		err := src.Run(runCtx, monitor.NewRestart(sink, active))
		if runCtx.Err() != nil && ctx.Err() == nil {
			// The lease was lost: what this term still has queued is
			// stale once the new owner resyncs.
			if n := term.Close(); n > 0 {
				log.Warn("cluster: changes of a source this node no longer connects were dropped", "source", name, "changes", n)
			}
		}
		return err
	}, held)
	return nil
}

// ownersOf is what /healthz shows of the sources' owners; nil alone.
func ownersOf(node *cluster.Node) web.SourceOwners {
	if node == nil {
		return nil
	}
	return node
}

// clusterWebhooks hands the webhook posts of a cluster node to the
// cluster's work queue: the node a change came from stores them there,
// and whichever node pulls one posts it with the dispatcher's signing and
// retries. Nil without endpoints.
func clusterWebhooks(ctx context.Context, node *cluster.Node, hooks *webhook.Dispatcher) (*cluster.Webhooks, error) {
	eps := hooks.Endpoints()
	if len(eps) == 0 {
		return nil, nil
	}
	posts, err := node.Webhooks(ctx, cluster.WebhooksConfig{Endpoints: eps, Post: hooks.Deliver, Unsent: hooks.Unsent})
	if err != nil {
		return nil, err
	}
	hooks.UseQueue(posts)
	return posts, nil
}

// feedCatchUp bounds how long a stopping node's feed goes on to apply
// the changes its publisher stored last.
const feedCatchUp = 2 * time.Second

// runFeed runs feed until ctx ends, and then on until it has applied the
// last change pub stored, for up to catchUp: what the sources said as
// they stopped (the ends of their calls) is sent by the publisher, which
// stops first, and only a change the feed applies is posted to the
// webhooks (by the node it came from).
func runFeed(feed *cluster.Feed, pub *cluster.Publisher, catchUp time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		done := make(chan struct{})
		defer close(done)
		go func() {
			defer cancel()
			select {
			case <-done:
				return
			case <-ctx.Done():
			}
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			until := time.After(catchUp)
			for feed.Applied() < pub.Stored() {
				select {
				case <-done:
					return
				case <-until:
					return
				case <-t.C:
				}
			}
		}()
		return feed.Run(fctx)
	}
}
