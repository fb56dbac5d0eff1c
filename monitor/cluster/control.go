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
//
// A source without a lease (esl-outbound, whose calls each live on the
// node FreeSWITCH connected to) has a Control per call instead
// (Node.CallControl): the node holding a call's socket answers for that
// call on the call's own subject, the same requests and replies.
type Control struct {
	node   *Node
	source monitor.SourceName
	local  monitor.Controller
	log    *slog.Logger
	held   atomic.Bool
	// perCall: the source has no lease, its calls are answered for on
	// their own subjects by the node holding them (CallHere).
	perCall bool

	// mu guards the subscriptions and the answering goroutines' start.
	mu sync.Mutex
	// sub is the control subject's subscription while held.
	sub *nats.Subscription
	// calls are the per-call subscriptions of the calls held here, while
	// the source runs (perCall).
	calls map[monitor.CallID]*callSub
	// stop ends the answers still running when the lease goes or the
	// source stops.
	stop context.CancelFunc
	// subscribeCall subscribes call id's subject, its answers ended by
	// stop (perCall, while the source runs).
	subscribeCall func(id monitor.CallID) (*nats.Subscription, error)
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

// CallControl returns the call control of source, a source without a
// lease that runs on every node, whose calls each live on one node:
// hang-up and transfer of a call go to local while its socket is here
// (CallHere), else to the node that has it; every other action is
// local's own answer. Call Held(true) while the source runs on this node
// and Held(false) once it stopped.
func (n *Node) CallControl(source monitor.SourceName, local monitor.Controller) *Control {
	c := n.Control(source, local)
	c.perCall, c.calls = true, map[monitor.CallID]*callSub{}
	return c
}

// callSub is one call held here: its subscription (nil if NATS refused
// it) and how many of its sockets (legs) are here.
type callSub struct {
	sub *nats.Subscription
	n   int
}

// drain ends cs's subscription. Drained, not just unsubscribed: a request
// NATS routed here before it had the unsubscription is still answered (no
// such call) rather than dropped, which the asker would wait out as a
// timeout.
func (cs *callSub) drain() {
	if cs.sub != nil {
		_ = cs.sub.Drain()
	}
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
		if c.perCall {
			c.subscribeCall = func(id monitor.CallID) (*nats.Subscription, error) {
				return c.node.nc.Subscribe(CallControlSubject(c.source, id), func(m *nats.Msg) { c.receive(ctx, m, id) })
			}
			// The calls subscribe as their sockets come (CallHere).
			c.mu.Unlock()
			return
		}
		sub, err := c.node.nc.Subscribe(ControlSubject(c.source), func(m *nats.Msg) { c.receive(ctx, m, "") })
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
		// Drained, as a call's (see callSub.drain): a request NATS
		// routed here before the lease went is answered "no node
		// connects" rather than waited out as a timeout.
		_ = c.sub.Drain()
		c.sub = nil
	}
	for id, cs := range c.calls {
		cs.drain()
		delete(c.calls, id)
	}
	c.stop()
	c.mu.Unlock()
	c.answering.Wait()
}

// CallHere is told when a socket of call id opens on this node (here
// true) and when it ends (false): while one is open, this node answers
// the other nodes' hang-up and transfer of the call on its subject
// (CallControlSubject). The subscription is not waited for: this runs in
// the call's reader, which must not stall.
func (c *Control) CallHere(id monitor.CallID, here bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.calls[id]
	if !here {
		if cs != nil {
			if cs.n--; cs.n == 0 {
				cs.drain()
				delete(c.calls, id)
			}
		}
		return
	}
	if cs != nil {
		cs.n++
		return
	}
	if !c.perCall || !c.held.Load() {
		return
	}
	sub, err := c.subscribeCall(id)
	if err != nil {
		// Asked here the call is still acted on; asked on another
		// node it is no such call.
		c.log.Warn("cluster: other nodes' call control for this call cannot be answered", "call", id, "error", err)
	}
	c.calls[id] = &callSub{sub: sub, n: 1}
}

// hasCall reports whether call id's socket is here (perCall).
func (c *Control) hasCall(id monitor.CallID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held.Load() && c.calls[id] != nil
}

// absent is the error for a request this node cannot answer: nobody
// connects the source, or (perCall) nobody has call id.
func (c *Control) absent(id monitor.CallID) error {
	if c.perCall {
		return &noCallError{source: c.source, call: id}
	}
	return &noOwnerError{source: c.source}
}

// receive starts answering m, unless the lease went meanwhile (or, for a
// call's subject, the call's socket). It runs in the subscription's
// goroutine, so it only starts the work.
func (c *Control) receive(ctx context.Context, m *nats.Msg, call monitor.CallID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held.Load() || ctx.Err() != nil || c.perCall && c.calls[call] == nil {
		// The lease went as m came. The next owner subscribes only
		// after this node stopped answering (it gives the lease up
		// after Held(false), or lets it expire).
		c.respond(m, c.absent(call))
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
// owner. Without a lease (perCall), hang-up and transfer are carried out
// here while the call's socket is, else asked of the node that has it;
// the rest is the local source's own answer.
func (c *Control) run(ctx context.Context, req controlRequest) error {
	if c.perCall {
		if req.Op != monitor.ActionHangup && req.Op != monitor.ActionTransfer || c.hasCall(req.Call) {
			return c.do(ctx, req)
		}
		return c.forward(ctx, req)
	}
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
	owner, err := c.request(ctx, b, req.Call)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	c.log.Info("cluster: call control forwarded", "action", req.Op, "target", req.target(), "owner", owner, "result", result)
	return err
}

// request sends b on the control subject (perCall: call's subject) and
// returns the answering node and its answer, or why there is none.
func (c *Control) request(ctx context.Context, b []byte, call monitor.CallID) (string, error) {
	subject, what, who := ControlSubject(c.source), "source "+string(c.source), "the node connecting it"
	if c.perCall {
		subject, what, who = CallControlSubject(c.source, call), fmt.Sprintf("call %s of source %s", call, c.source), "the node that has it"
	}
	m, err := c.node.nc.RequestWithContext(ctx, subject, b)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return "", c.absent(call)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "", fmt.Errorf("%s: %s did not answer in time: %w", what, who, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return "", fmt.Errorf("%s: %w", what, err)
	case err != nil:
		return "", fmt.Errorf("%s: %w: the other nodes cannot be reached: %w: %w", what, monitor.ErrNotConnected, ErrNATS, err)
	}
	reply, err := decodeControlReply(m.Data)
	if err != nil {
		return "", fmt.Errorf("%s: the answer of %s: %w", what, who, err)
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

// noCallError is monitor.ErrNoSuchCall for a call no node has the socket
// of (perCall).
type noCallError struct {
	source monitor.SourceName
	call   monitor.CallID
}

func (e *noCallError) Error() string {
	return fmt.Sprintf("no node has call %s of source %s", e.call, e.source)
}

func (e *noCallError) Is(target error) bool { return target == monitor.ErrNoSuchCall }

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
