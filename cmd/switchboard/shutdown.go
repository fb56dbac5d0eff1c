package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/webhook"
)

// errShutdownDeadline is the cause of a stop forced by shutdown_timeout.
var errShutdownDeadline = errors.New("shutdown_timeout reached")

// task is one long-running part of the server: its Run on a context of
// its own, which stop cancels.
type task struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// startTask runs run in a goroutine that the task owns: done says it has
// returned. A task still running after a forced stop is left to the end
// of the process, which is only moments away, and named in the log.
func startTask(name string, run func(context.Context) error) *task {
	ctx, cancel := context.WithCancel(context.Background())
	t := &task{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.err = run(ctx)
	}()
	return t
}

// forcedReturn is how long a part told to stop at once (its context
// cancelled, its connections closed) may take to return.
const forcedReturn = time.Second

// wait waits for the task's Run until ctx ends, and then forcedReturn
// more; false when it is still running then.
func (t *task) wait(ctx context.Context) bool {
	select {
	case <-t.done:
		return true
	case <-ctx.Done():
	}
	timer := time.NewTimer(forcedReturn)
	defer timer.Stop()
	select {
	case <-t.done:
		return true
	case <-timer.C:
		return false
	}
}

// parts are what serve runs, in the order they are stopped.
type parts struct {
	srv    *web.Server
	webRun *task

	gw        *gateway.Gateway  // nil without SIP accounts
	bridge    *sipbridge.Bridge // nil without SIP accounts
	bridgeRun *task

	sourceRuns []*task
	// clusterRuns are a cluster node's publisher and feed, in that order;
	// they stop after the sources.
	clusterRuns []*task
	hub         *monitor.Hub

	hooks *webhook.Dispatcher
	store *history.Store
}

// stopInOrder stops the server the way a good telephone server stops,
// bounded by timeout (the second signal, forceContext(ctx), cuts it short):
//
//  1. stop accepting: the HTTP listener closes, no new /events or /phone
//     socket, new SIP INVITEs are answered 503;
//  2. tell pages and wallboards: every /events and /phone socket is closed
//     with 1001 (going away) and a reason;
//  3. end the softphone calls (BYE, CANCEL, 480 for ringing ones), wait
//     for their transactions, then un-REGISTER every account;
//  4. stop the sources (their calls end as "monitor stopped"), close the
//     hub, save the history's queue and close it, and flush the webhook
//     queues (delivered, or saved for the next start).
//
// Once the deadline has passed, each step that is left forces its part at
// once (connections closed, contexts cancelled). Every step is logged at
// Info with how long it took, what was forced at Warn.
func (p *parts) stopInOrder(ctx context.Context, log *slog.Logger, cause error, timeout time.Duration) {
	start := time.Now()
	log.Info("shutting down", "cause", cause, "timeout", timeout)
	sctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	deadline := time.AfterFunc(timeout, func() { cancel(errShutdownDeadline) })
	defer deadline.Stop()
	force := forceContext(ctx)
	stopForce := context.AfterFunc(force, func() { cancel(context.Cause(force)) })
	defer stopForce()
	// Once forced, the order no longer matters, and the parts that wait on
	// one another are forced together: a page's session waits for its
	// call's media to close, the call for its BYE. The steps below then
	// find them done.
	var forcing sync.WaitGroup
	forcedAll := make(chan struct{})
	stopForcing := context.AfterFunc(sctx, func() {
		defer close(forcedAll)
		log.Warn("shutdown forced: what still runs is stopped now", "cause", context.Cause(sctx), "after", time.Since(start).Round(time.Millisecond))
		shutdowns := []func(context.Context) error{p.srv.Shutdown}
		if p.gw != nil {
			shutdowns = append(shutdowns, p.gw.Shutdown, p.bridge.Shutdown)
		}
		for _, fn := range shutdowns {
			forcing.Add(1)
			go func() {
				defer forcing.Done()
				_ = fn(sctx)
			}()
		}
		for _, t := range p.sourceRuns {
			t.cancel()
		}
		for _, t := range p.clusterRuns {
			t.cancel()
		}
	})

	var forced []string
	step := func(name string, fn func(ctx context.Context) error) {
		t := time.Now()
		err := fn(sctx)
		took := time.Since(t).Round(time.Millisecond)
		if err != nil {
			forced = append(forced, name)
			log.Warn("shutdown step forced or failed", "step", name, "took", took, "err", err)
			return
		}
		log.Info("shutdown step done", "step", name, "took", took)
	}
	// waitTask waits for a part's Run after its own Shutdown.
	waitTask := func(t *task) error {
		if t == nil || t.wait(sctx) {
			return nil
		}
		return errors.New(t.name + " still running")
	}

	step("stop accepting", func(context.Context) error {
		p.srv.StopAccepting()
		if p.bridge != nil {
			p.bridge.StopAccepting()
		}
		return nil
	})
	step("close pages and wallboards", func(ctx context.Context) error {
		err := p.srv.Shutdown(ctx)
		return errors.Join(err, waitTask(p.webRun))
	})
	if p.gw != nil {
		step("end softphone calls", p.gw.Shutdown)
	}
	if p.bridge != nil {
		step("end sip calls and unregister", func(ctx context.Context) error {
			err := p.bridge.Shutdown(ctx)
			return errors.Join(err, waitTask(p.bridgeRun))
		})
	}
	step("stop sources", func(ctx context.Context) error {
		for _, t := range p.sourceRuns {
			t.cancel()
		}
		var still []string
		for _, t := range p.sourceRuns {
			if !t.wait(ctx) {
				still = append(still, t.name)
			}
		}
		// Nothing publishes any more: the history has every ended call
		// and the webhook queues every change.
		// On a cluster node the publisher then sends what the sources
		// said last (for a second at most), and the feed stops.
		for _, t := range p.clusterRuns {
			t.cancel()
			if !t.wait(ctx) {
				still = append(still, t.name)
			}
		}
		p.hub.Close()
		if len(still) > 0 {
			return errors.New("still running: " + strings.Join(still, ", "))
		}
		return nil
	})
	step("save history", func(ctx context.Context) error {
		return errors.Join(p.store.Flush(ctx), p.store.Close())
	})
	step("flush webhooks", p.hooks.Close)

	if !stopForcing() {
		<-forcedAll
		forcing.Wait()
	}
	if len(forced) > 0 {
		log.Warn("shutdown complete, forced", "took", time.Since(start).Round(time.Millisecond), "forced", strings.Join(forced, ", "))
		return
	}
	log.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond))
}
