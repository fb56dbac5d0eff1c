package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
)

// The webhook posts of a cluster go through a work-queue stream of their
// own, one subject per endpoint:
//
//	switchboard.webhooks.ENDPOINT
//
// ENDPOINT being the endpoint's id (a digest of its URL, the same on
// every node configured alike). The node a change came from stores one
// message per endpoint that wants it, with a Nats-Msg-Id of the endpoint
// and the event's id, so a publish retried across an outage is stored
// once. Every node pulls from one durable consumer per endpoint, shared
// by all, which hands out one message at a time (MaxAckPending 1): the
// posts of an endpoint keep their order across the cluster, as one
// worker keeps them alone. The node that got a message posts it, keeps it
// in progress while it retries, and acks it once the endpoint took it or
// it gave up; a node that dies meanwhile leaves it unacked, and NATS
// hands it to another node after the consumer's AckWait.
const (
	// WebhookStream is the work-queue stream of the cluster's posts.
	WebhookStream = "SWITCHBOARD_WEBHOOKS"
	webhookPrefix = "switchboard.webhooks."
	// DefaultWebhookAckWait is how long a post may go without a sign of
	// life from the node that has it (InProgress) before NATS hands it
	// to another node.
	DefaultWebhookAckWait = 30 * time.Second
	// Headers of a stored post: its kind (X-Switchboard-Event) and its
	// event's id (X-Switchboard-Event-Id).
	webhookTypeHeader = "Switchboard-Type"
	webhookIDHeader   = "Switchboard-Event-Id"
	// webhookFetchWait bounds one pull, and so how long a stopping node
	// waits for its pullers.
	webhookFetchWait = time.Second
)

// PostFunc posts body, an event of kind typ whose id is id, to the
// endpoint named endpoint, retrying as the endpoint is configured; tried
// is called after every try. nil: the endpoint took it; an error after
// ctx ended: it was cut short (the message is handed on); another error:
// it was given up on.
type PostFunc func(ctx context.Context, endpoint, typ, id string, body []byte, tried func()) error

// WebhooksConfig configures a node's part of the cluster's posts.
type WebhooksConfig struct {
	// Endpoints are the ids of the endpoints this node posts to.
	Endpoints []string
	// Post posts one (webhook.Dispatcher.Deliver).
	Post PostFunc
	// Unsent gets what could not be stored in NATS before Run ended
	// (webhook.Dispatcher.Unsent, which saves it for the next start).
	Unsent func(endpoint, typ string, body []byte)
	// AckWait: see DefaultWebhookAckWait (the default).
	AckWait time.Duration
	// Limit is how many posts the node holds while NATS does not take
	// them. Default DefaultOutboxLimit.
	Limit int
}

// Webhooks is this node's part of the cluster's webhook posts: it stores
// the posts of the changes that came from this node (Offer) and posts
// what its pullers get (Run).
type Webhooks struct {
	node *Node
	cfg  WebhooksConfig

	mu     sync.Mutex
	queue  []webhookMsg
	queued map[string]int
	wake   chan struct{}
}

// webhookMsg is one post waiting to be stored.
type webhookMsg struct {
	endpoint, typ, id string
	body              []byte
}

// Webhooks makes sure the posts' stream and a consumer of every endpoint
// of cfg exist, and returns this node's part; Run runs it.
func (n *Node) Webhooks(ctx context.Context, cfg WebhooksConfig) (*Webhooks, error) {
	if cfg.Post == nil {
		return nil, errors.New("cluster webhooks: no Post")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultWebhookAckWait
	}
	if cfg.Limit <= 0 {
		cfg.Limit = DefaultOutboxLimit
	}
	if cfg.Unsent == nil {
		cfg.Unsent = func(string, string, []byte) {}
	}
	w := &Webhooks{node: n, cfg: cfg, queued: map[string]int{}, wake: make(chan struct{}, 1)}
	if _, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        WebhookStream,
		Description: "Switchboard: webhook posts, each taken by one node",
		Subjects:    []string{webhookPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		// A post no node is configured for any more does not stay forever.
		MaxAge:     StreamMaxAge,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrNATS, WebhookStream, err)
	}
	for _, ep := range cfg.Endpoints {
		if _, err := w.consumer(ctx, ep); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// consumer makes sure the endpoint's shared consumer exists.
func (w *Webhooks) consumer(ctx context.Context, endpoint string) (jetstream.Consumer, error) {
	c, err := w.node.js.CreateOrUpdateConsumer(ctx, WebhookStream, jetstream.ConsumerConfig{
		Durable:       "webhook-" + Token(endpoint),
		Description:   "Switchboard: the posts to one webhook endpoint, shared by every node",
		FilterSubject: webhookPrefix + Token(endpoint),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxAckPending: 1,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: webhook consumer: %w", ErrNATS, err)
	}
	return c, nil
}

// Offer queues a post for the stream without blocking or I/O; false
// when the node already holds Limit posts (NATS has not taken them).
func (w *Webhooks) Offer(endpoint, typ, id string, body []byte) bool {
	w.mu.Lock()
	if len(w.queue) >= w.cfg.Limit {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, webhookMsg{endpoint: endpoint, typ: typ, id: id, body: body})
	w.queued[endpoint]++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// Queued is how many posts for endpoint wait to be stored.
func (w *Webhooks) Queued(endpoint string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued[endpoint]
}

// Run stores what Offer queued, in order, and posts what this node's
// pullers get, until ctx ends. Then it tries for up to a second more to
// store what is left (the last changes of a node stopping in order) and
// hands the rest to Unsent; a post in hand is cut short and handed back
// to NATS at once (Nak), so another node posts it.
func (w *Webhooks) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, ep := range w.cfg.Endpoints {
		wg.Go(func() { w.pull(ctx, ep) })
	}
	w.store(ctx)
	wg.Wait()
	return nil
}

// store is Run's publishing loop.
func (w *Webhooks) store(ctx context.Context) {
	failures := 0 // of this outage, for the backoff
	down := false
	var drainUntil time.Time
	for {
		w.mu.Lock()
		var (
			m  webhookMsg
			ok bool
		)
		if len(w.queue) > 0 {
			m, ok = w.queue[0], true
		}
		w.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			continue
		}
		sendCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if ctx.Err() != nil {
			cancel()
			if drainUntil.IsZero() {
				drainUntil = time.Now().Add(time.Second)
			}
			sendCtx, cancel = context.WithDeadline(context.WithoutCancel(ctx), drainUntil)
		}
		msg := &nats.Msg{Subject: webhookPrefix + Token(m.endpoint), Data: m.body, Header: nats.Header{}}
		msg.Header.Set(webhookTypeHeader, m.typ)
		msg.Header.Set(webhookIDHeader, m.id)
		_, err := w.node.js.PublishMsg(sendCtx, msg, jetstream.WithMsgID(m.endpoint+"-"+m.id))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				w.giveBack()
				return
			}
			if !down {
				w.node.log.Warn("cluster: webhook posts cannot be stored in NATS; they wait and are stored once it answers", "error", err)
				down = true
			}
			sleep(ctx, monitor.Backoff(50*time.Millisecond, 2*time.Second, failures))
			failures++
			continue
		}
		if down {
			w.node.log.Info("cluster: NATS takes webhook posts again", "queued", w.total())
			down = false
		}
		failures = 0
		w.mu.Lock()
		w.queue = w.queue[1:]
		w.queued[m.endpoint]--
		w.mu.Unlock()
	}
}

func (w *Webhooks) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// giveBack hands what is left unstored to Unsent, in order.
func (w *Webhooks) giveBack() {
	w.mu.Lock()
	left := w.queue
	w.queue = nil
	clear(w.queued)
	w.mu.Unlock()
	if len(left) == 0 {
		return
	}
	w.node.log.Warn("cluster: stopped with webhook posts not stored in NATS; this node keeps them for its next start", "posts", len(left))
	for _, m := range left {
		w.cfg.Unsent(m.endpoint, m.typ, m.body)
	}
}

// pull posts the endpoint's messages this node gets, one at a time,
// until ctx ends.
func (w *Webhooks) pull(ctx context.Context, endpoint string) {
	failures := 0 // in a row, for the backoff
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if cons == nil {
			c, err := w.consumer(ctx, endpoint)
			if err != nil {
				if !w.pause(ctx, &failures) {
					return
				}
				continue
			}
			cons = c
		}
		// Not cut short by ctx: a message NATS sends to this pull after
		// the node began to stop is handed back (handle), not left
		// unacked for AckWait.
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(webhookFetchWait))
		if err == nil {
			for msg := range batch.Messages() {
				w.handle(ctx, endpoint, msg)
			}
			if err = batch.Error(); errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				err = nil // nothing to post within the wait
			}
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				cons = nil // made again
			}
			if !w.pause(ctx, &failures) {
				return
			}
			continue
		}
		failures = 0
	}
}

// pause waits the backoff of one more failure in a row (100 ms doubling
// up to 5 s, jittered); false when ctx ended.
func (w *Webhooks) pause(ctx context.Context, failures *int) bool {
	d := monitor.Backoff(100*time.Millisecond, 5*time.Second, *failures)
	*failures++
	sleep(ctx, d)
	return ctx.Err() == nil
}

// handle posts one message and acks it once done or given up on; cut
// short as the node stops, it is handed back to NATS (Nak). While the
// post runs (its retries and their waits) the message is kept in
// progress, so NATS does not hand it to another node.
func (w *Webhooks) handle(ctx context.Context, endpoint string, msg jetstream.Msg) {
	if ctx.Err() != nil {
		_ = msg.Nak()
		return
	}
	typ, id := msg.Headers().Get(webhookTypeHeader), msg.Headers().Get(webhookIDHeader)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	})
	err := w.cfg.Post(ctx, endpoint, typ, id, msg.Data(), func() { _ = msg.InProgress() })
	close(done)
	wg.Wait()
	if err != nil && ctx.Err() != nil {
		_ = msg.Nak()
		return
	}
	w.ack(ctx, msg, endpoint, id)
}

// ack acks msg, trying for a few seconds (NATS may be reconnecting); a
// post whose ack is lost is posted again by some node after AckWait.
func (w *Webhooks) ack(ctx context.Context, msg jetstream.Msg, endpoint, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for {
		err := msg.DoubleAck(actx)
		if err == nil {
			return
		}
		if actx.Err() != nil {
			w.node.log.Warn("cluster: a webhook post was not acked; it may be posted again", "endpoint", endpoint, "id", id, "error", err)
			return
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-actx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
