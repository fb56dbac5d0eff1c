package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard/switchboard/monitor"
)

// ErrNoOwner is returned for a call-control action on a source no node
// connects right now (nobody holds its lease, or its holder does not
// answer on the control subject). errors.Is matches
// monitor.ErrNotConnected too: for the asker it is a source not
// connected.
var ErrNoOwner = errors.New("no node connects the source right now")

const (
	// defaultControlTimeout is how long a forwarded action is waited for
	// when the caller's ctx has no deadline.
	defaultControlTimeout = 10 * time.Second
	// maxAnswering bounds the other nodes' actions one source's owner
	// works on at once; more are refused at once rather than queued
	// behind a PBX that is slow to answer.
	maxAnswering = 64
)

// Control is a source's call control on a cluster node: the source's own
// controller while this node holds its lease, else a request to the node
// that does. While it holds the lease it also answers the other nodes'
// requests for the source. It is a monitor.Controller and a
// monitor.QueueController; a queue action for a source whose controller
// has none is ErrUnsupported, on whichever node it is asked.
//
// Authorization is the asking node's: the owner carries out what it is
// asked on the control subject, so NATS must be reachable by the nodes
// only (its credentials, creds_file).
type Control struct {
	node   *Node
	source monitor.SourceName
	local  monitor.Controller
	log    *slog.Logger
	held   atomic.Bool

	// mu guards the subscription and the answering goroutines' start.
	mu sync.Mutex
	// sub is the control subject's subscription while held.
	sub *nats.Subscription
	// stop ends the answers still running when the lease goes.
	stop context.CancelFunc
	// answering counts the goroutines answering requests; each ends by
	// its request's deadline or when the lease goes. busy is how many
	// run now, at most maxAnswering.
	answering sync.WaitGroup
	busy      atomic.Int32
}

var (
	_ monitor.Controller      = (*Control)(nil)
	_ monitor.QueueController = (*Control)(nil)
)

// Control returns the call control of source, whose own controller (the
// source this node connects while it holds the lease) is local. Pass its
// Held to Lease as onChange.
func (n *Node) Control(source monitor.SourceName, local monitor.Controller) *Control {
	return &Control{node: n, source: source, local: local, log: n.log.With("source", source)}
}

// Held is told whether this node holds the source's lease: while it does,
// actions go to the local controller and the node answers the control
// subject; when it stops holding it the subscription ends and answers
// still running are cancelled, waited for.
func (c *Control) Held(held bool) {
	c.mu.Lock()
	if held == c.held.Load() {
		c.mu.Unlock()
		return
	}
	c.held.Store(held)
	if held {
		ctx, stop := context.WithCancel(context.Background())
		c.stop = stop
		sub, err := c.node.nc.Subscribe(ControlSubject(c.source), func(m *nats.Msg) { c.receive(ctx, m) })
		switch {
		case err != nil:
			// The actions of other nodes fail with ErrNoOwner until
			// the lease is taken again.
			c.log.Warn("cluster: other nodes' call control for this source cannot be answered", "error", err)
		default:
			// Waits until NATS has the subscription, before the
			// source runs: a request sent once the source is
			// connected finds its answerer. Not confirmed (NATS
			// away), it is sent again as the client reconnects.
			if ferr := c.node.nc.FlushTimeout(max(c.node.ttl/3, time.Second)); ferr != nil {
				c.log.Info("cluster: NATS has not confirmed the call-control subscription yet", "error", ferr)
			}
		}
		c.sub = sub
		c.mu.Unlock()
		return
	}
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
		c.sub = nil
	}
	c.stop()
	c.mu.Unlock()
	c.answering.Wait()
}

// receive starts answering m, unless the lease went meanwhile. It runs
// in the subscription's goroutine, so it only starts the work.
func (c *Control) receive(ctx context.Context, m *nats.Msg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held.Load() || ctx.Err() != nil {
		// The lease went as m came. The next owner subscribes only
		// after this node stopped answering (it gives the lease up
		// after Held(false), or lets it expire).
		c.respond(m, &noOwnerError{source: c.source})
		return
	}
	if c.busy.Add(1) > maxAnswering {
		c.busy.Add(-1)
		c.log.Warn("cluster: another node's call control refused: too many at once", "limit", maxAnswering)
		c.respond(m, fmt.Errorf("node %s: too many call-control actions for source %s at once", c.node.Name(), c.source))
		return
	}
	c.answering.Go(func() {
		defer c.busy.Add(-1)
		c.answer(ctx, m)
	})
}

// answer carries out one request of another node and replies.
func (c *Control) answer(ctx context.Context, m *nats.Msg) {
	req, err := decodeControlRequest(m.Data)
	if err != nil {
		c.log.Info("cluster: a call-control request that cannot be read", "error", err)
	} else {
		actx, cancel := context.WithTimeout(ctx, req.timeout())
		err = c.do(actx, req)
		cancel()
		result := "ok"
		if err != nil {
			result = err.Error()
		}
		c.log.Info("cluster: call control for another node", "action", req.Op, "target", req.target(), "node", req.Node, "result", result)
	}
	c.respond(m, err)
}

// respond answers m with err (nil: done).
func (c *Control) respond(m *nats.Msg, err error) {
	b, merr := json.Marshal(replyOf(c.node.Name(), err))
	if merr == nil {
		merr = m.Respond(b)
	}
	if merr != nil {
		c.log.Info("cluster: a call-control answer not sent", "error", merr)
	}
}

// do carries out req on the local controller.
func (c *Control) do(ctx context.Context, req controlRequest) error {
	switch req.Op {
	case monitor.ActionHangup:
		return c.local.Hangup(ctx, req.Call)
	case monitor.ActionTransfer:
		return c.local.Transfer(ctx, req.Call, req.To)
	case monitor.ActionOriginate:
		return c.local.Originate(ctx, req.From, req.To)
	}
	qc, ok := c.local.(monitor.QueueController)
	if !ok {
		return fmt.Errorf("source %s: %w", c.source, monitor.ErrUnsupported)
	}
	switch req.Op {
	case monitor.ActionQueuePause:
		return qc.PauseMember(ctx, req.Queue, req.Member, req.Paused, req.Reason)
	case monitor.ActionQueueAdd:
		return qc.AddMember(ctx, req.Queue, req.Member, req.Name)
	case monitor.ActionQueueRemove:
		return qc.RemoveMember(ctx, req.Queue, req.Member)
	}
	return fmt.Errorf("source %s: %s: %w", c.source, req.Op, monitor.ErrUnsupported)
}

// run carries out req here while this node holds the lease, else asks the
// owner.
func (c *Control) run(ctx context.Context, req controlRequest) error {
	if c.held.Load() {
		return c.do(ctx, req)
	}
	return c.forward(ctx, req)
}

// forward sends req to the owner and returns its answer.
func (c *Control) forward(ctx context.Context, req controlRequest) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultControlTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	req.V, req.Source, req.Node = controlVersion, c.source, c.node.Name()
	req.TimeoutMS = max(time.Until(deadline).Milliseconds(), 1)
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("call control for source %s: %w", c.source, err)
	}
	owner, err := c.request(ctx, b)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	c.log.Info("cluster: call control forwarded", "action", req.Op, "target", req.target(), "owner", owner, "result", result)
	return err
}

// request sends b on the control subject and returns the answering node
// and its answer, or why there is none.
func (c *Control) request(ctx context.Context, b []byte) (string, error) {
	m, err := c.node.nc.RequestWithContext(ctx, ControlSubject(c.source), b)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "", &noOwnerError{source: c.source}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "", fmt.Errorf("source %s: the node connecting it did not answer in time: %w", c.source, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return "", fmt.Errorf("source %s: %w", c.source, err)
	case err != nil:
		return "", fmt.Errorf("source %s: %w: the other nodes cannot be reached: %w: %w", c.source, monitor.ErrNotConnected, ErrNATS, err)
	}
	reply, err := decodeControlReply(m.Data)
	if err != nil {
		return "", fmt.Errorf("source %s: the answer of the node connecting it: %w", c.source, err)
	}
	return reply.Node, reply.err()
}

// noOwnerError is ErrNoOwner for one source.
type noOwnerError struct{ source monitor.SourceName }

func (e *noOwnerError) Error() string {
	return fmt.Sprintf("no node connects source %s right now", e.source)
}

func (e *noOwnerError) Is(target error) bool {
	return target == ErrNoOwner || target == monitor.ErrNotConnected
}

// Hangup hangs up call id (monitor.Controller).
func (c *Control) Hangup(ctx context.Context, id monitor.CallID) error {
	return c.run(ctx, controlRequest{Op: monitor.ActionHangup, Call: id})
}

// Transfer sends call id to number to (monitor.Controller).
func (c *Control) Transfer(ctx context.Context, id monitor.CallID, to string) error {
	return c.run(ctx, controlRequest{Op: monitor.ActionTransfer, Call: id, To: to})
}

// Originate rings from and connects it to to (monitor.Controller).
func (c *Control) Originate(ctx context.Context, from, to string) error {
	return c.run(ctx, controlRequest{Op: monitor.ActionOriginate, From: from, To: to})
}

// PauseMember pauses or unpauses member in queue
// (monitor.QueueController).
func (c *Control) PauseMember(ctx context.Context, queue, member string, paused bool, reason string) error {
	return c.run(ctx, controlRequest{Op: monitor.ActionQueuePause, Queue: queue, Member: member, Paused: paused, Reason: reason})
}

// AddMember logs member into queue (monitor.QueueController).
func (c *Control) AddMember(ctx context.Context, queue, member, name string) error {
	return c.run(ctx, controlRequest{Op: monitor.ActionQueueAdd, Queue: queue, Member: member, Name: name})
}

// RemoveMember logs member out of queue (monitor.QueueController).
func (c *Control) RemoveMember(ctx context.Context, queue, member string) error {
	return c.run(ctx, controlRequest{Op: monitor.ActionQueueRemove, Queue: queue, Member: member})
}
