package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/web/webhook"
)

const secret = "s3cret"

// post is one POST the receiver got.
type post struct {
	id, sig, typ string
	body         []byte
	call         monitor.Call
	seq          uint64
}

// receiver is a webhook endpoint that records every post and answers as
// answer says (200 when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	posts  []post
	answer func(p post, n int) int // n: how many posts of p.id came before
}

func newReceiver(t *testing.T, answer func(p post, n int) int) *receiver {
	t.Helper()
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		p := post{id: req.Header.Get(webhook.EventIDHeader), sig: req.Header.Get(webhook.SignatureHeader),
			typ: req.Header.Get(webhook.EventHeader), body: b}
		var env struct {
			Seq  uint64       `json:"seq"`
			Call monitor.Call `json:"call"`
		}
		_ = json.Unmarshal(b, &env)
		p.call, p.seq = env.Call, env.Seq
		r.mu.Lock()
		n := 0
		for _, q := range r.posts {
			if q.id == p.id {
				n++
			}
		}
		r.posts = append(r.posts, p)
		answer := r.answer
		r.mu.Unlock()
		code := http.StatusOK
		if answer != nil {
			code = answer(p, n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) all() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.posts)
}

// distinct returns the posts, each event's first only.
func (r *receiver) distinct() []post {
	seen := map[string]bool{}
	var out []post
	for _, p := range r.all() {
		if !seen[p.id] {
			seen[p.id] = true
			out = append(out, p)
		}
	}
	return out
}

// hookNode is a cluster node wired as serve wires one: its sources
// publish to the stream, its hub is fed from it, and the changes that came
// from it are handed to its dispatcher, which stores them in the posts'
// queue; its pullers post what they get.
type hookNode struct {
	node  *cluster.Node
	hub   *monitor.Hub
	pub   *cluster.Publisher
	feed  *cluster.Feed
	hooks *webhook.Dispatcher
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

func startHookNode(t *testing.T, natsURL, name, hookURL string, ackWait time.Duration) *hookNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	cn, err := cluster.Connect(ctx, cluster.Config{NATS: cluster.NATSConfig{URL: natsURL}, Node: name}, cluster.WithLogger(quiet))
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	hooks, err := webhook.New([]webhook.Config{{URL: hookURL, Secret: secret, MaxRetries: 3}},
		webhook.WithRetryBase(10*time.Millisecond), webhook.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	n := &hookNode{node: cn, hooks: hooks}
	n.hub = monitor.NewHub(monitor.HubConfig{}, monitor.WithEpoch(cn.Epoch()), monitor.WithObserver(func(ev monitor.Event) {
		if n.feed.FromHere() {
			hooks.Observe(ev)
		}
	}))
	n.pub, n.feed = cn.Publisher(), cn.Feed(n.hub)
	posts, err := cn.Webhooks(ctx, cluster.WebhooksConfig{Endpoints: hooks.Endpoints(), Post: hooks.Deliver, Unsent: hooks.Unsent, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	hooks.UseQueue(posts)
	rctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.wg.Go(func() { _ = n.pub.Run(rctx) })
	n.wg.Go(func() { _ = n.feed.Run(rctx) })
	n.wg.Go(func() { _ = posts.Run(rctx) })
	t.Cleanup(n.close)
	select {
	case <-n.feed.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: feed not ready", name)
	}
	return n
}

func (n *hookNode) close() {
	n.stop()
	n.wg.Wait()
	n.hub.Close()
	_ = n.hooks.Close(context.Background())
	n.node.Close()
}

func (n *hookNode) status() webhook.EndpointStatus { return n.hooks.Status()[0] }

func call(id string, st monitor.State) monitor.Call {
	c := monitor.Call{ID: monitor.CallID(id), Source: "box.1", Direction: monitor.Inbound, State: st,
		From: monitor.Party{Number: "0301234"}, To: monitor.Party{Number: "10"}, Started: time.Unix(1_700_000_000, 0).UTC()}
	if st == monitor.Ended {
		c.Ended = c.Started.Add(time.Minute)
	}
	return c
}

var states = []monitor.State{monitor.Ringing, monitor.Connected, monitor.Ended}

// publishCalls publishes ring → connected → ended of calls PREFIXfirst..last.
func publishCalls(sink monitor.Sink, prefix string, first, last int) {
	for i := first; i <= last; i++ {
		for _, st := range states {
			sink.Call(call(fmt.Sprintf("%s%d", prefix, i), st))
		}
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamMsgs is how many posts the cluster's queue holds (not yet acked).
func streamMsgs(t *testing.T, natsURL string) uint64 {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return 1 << 62 // NATS away: unknown
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, cluster.WebhookStream)
	if err != nil {
		return 1 << 62
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 1 << 62
	}
	return info.State.Msgs
}

// checkOrder fails unless every call's posts are ring → connected →
// ended, and every post is signed and carries its body's id.
func checkOrder(t *testing.T, posts []post) {
	t.Helper()
	next := map[monitor.CallID]int{}
	for _, p := range posts {
		if p.sig != webhook.Sign([]byte(secret), p.body) || p.typ != "call" || p.id != webhook.EventID(p.body) {
			t.Fatalf("post %s: signature %q, type %q, id %q", p.body, p.sig, p.typ, p.id)
		}
		i := next[p.call.ID]
		if i >= len(states) || p.call.State != states[i] {
			t.Fatalf("call %s: post %d is %s, want the order %v", p.call.ID, i, p.call.State, states)
		}
		next[p.call.ID] = i + 1
	}
}

// TestClusterWebhooksPostedOnce: two nodes, each publishing calls of its
// own; every change is posted once in all, in order per call, and each
// node counts what it posted.
func TestClusterWebhooksPostedOnce(t *testing.T) {
	srv := natstest.Start(t)
	rcv := newReceiver(t, nil)
	a := startHookNode(t, srv.URL(), "sb-1", rcv.URL, 0)
	b := startHookNode(t, srv.URL(), "sb-2", rcv.URL, 0)
	publishCalls(a.pub, "a", 1, 10)
	publishCalls(b.pub, "b", 1, 10)
	const want = 2 * 10 * 3
	waitFor(t, "every change posted and acked", func() bool {
		return uint64(a.status().Delivered+b.status().Delivered) == want && streamMsgs(t, srv.URL()) == 0
	})
	posts := rcv.all()
	if len(posts) != want || len(rcv.distinct()) != want {
		t.Fatalf("%d posts of %d changes, want %d once each", len(posts), len(rcv.distinct()), want)
	}
	checkOrder(t, posts)
	for _, n := range []*hookNode{a, b} {
		if st := n.status(); st.Failed != 0 || st.Dropped != 0 || st.Queued != 0 || !st.OK {
			t.Fatalf("status %+v", st)
		}
	}
}

// TestClusterWebhookOfKilledNodePostedByAnother: the node that has a post
// loses NATS before it acks it (as a node killed mid-post does); the
// other node posts it, and what came after, in order.
func TestClusterWebhookOfKilledNodePostedByAnother(t *testing.T) {
	srv := natstest.Start(t)
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	rcv := newReceiver(t, func(p post, n int) int {
		if p.call.ID == "k1" && p.call.State == monitor.Ringing && n == 0 {
			once.Do(func() { close(held) })
			<-release
		}
		return http.StatusOK
	})
	defer once.Do(func() {})
	// A test that fails while the post is held must still let the
	// receiver's handler go, or closing the receiver waits for it.
	var released sync.Once
	letGo := func() { released.Do(func() { close(release) }) }
	defer letGo()
	const ackWait = 2 * time.Second
	a := startHookNode(t, srv.URL(), "sb-1", rcv.URL, ackWait)
	// k1 alone first: changes of different calls may be stored in
	// either order, and k1's ring is to be the first post.
	publishCalls(a.pub, "k", 1, 1)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the first change was not posted")
	}
	publishCalls(a.pub, "k", 2, 2)
	// Only now the second node: the first holds the post.
	b := startHookNode(t, srv.URL(), "sb-2", rcv.URL, ackWait)
	waitFor(t, "every change stored in the queue", func() bool { return streamMsgs(t, srv.URL()) == 6 })
	a.node.Close() // no ack reaches NATS any more
	letGo()
	waitFor(t, "the other node posted every change", func() bool {
		return b.status().Delivered == 6 && streamMsgs(t, srv.URL()) == 0
	})
	posts := rcv.all()
	if len(posts) != 7 || posts[0].id != posts[1].id {
		t.Fatalf("%d posts, want the first twice (by the killed node, then by the other) and 5 more", len(posts))
	}
	checkOrder(t, posts[1:])
	if st := a.status(); st.Delivered != 1 {
		t.Fatalf("killed node's status %+v, want the one post it made", st)
	}
}

// TestClusterWebhookRetries: a 500 is retried, a 400 is not; both end
// acked, counted delivered and failed on the node that posted.
func TestClusterWebhookRetries(t *testing.T) {
	srv := natstest.Start(t)
	rcv := newReceiver(t, func(p post, n int) int {
		switch {
		case p.call.ID == "r1" && n < 2:
			return http.StatusInternalServerError
		case p.call.ID == "r2":
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	a := startHookNode(t, srv.URL(), "sb-1", rcv.URL, 0)
	b := startHookNode(t, srv.URL(), "sb-2", rcv.URL, 0)
	a.pub.Call(call("r1", monitor.Ringing))
	a.pub.Call(call("r2", monitor.Ringing))
	a.pub.Call(call("r3", monitor.Ringing))
	waitFor(t, "every change handled", func() bool {
		return a.status().Delivered+b.status().Delivered == 2 && a.status().Failed+b.status().Failed == 1 &&
			streamMsgs(t, srv.URL()) == 0
	})
	var got []string
	for _, p := range rcv.all() {
		got = append(got, string(p.call.ID))
	}
	// The three calls are three items, which the publisher may store in
	// any order (one per item on its way to NATS); what is posted follows
	// the stream, one post at a time, so r1's tries come one after the
	// other.
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	first := slices.Index(got, "r1")
	if want := []string{"r1", "r1", "r1", "r2", "r3"}; !slices.Equal(sorted, want) || first < 0 || first+3 > len(got) ||
		!slices.Equal(got[first:first+3], []string{"r1", "r1", "r1"}) {
		t.Fatalf("posts %v, want r1 three times in a row, r2 and r3 once each (the 500 retried, the 400 not)", got)
	}
}

// TestClusterWebhooksSurviveNATSRestart: NATS stops while changes are
// made and posted, and starts again; every change is posted (at least
// once), in order per call.
func TestClusterWebhooksSurviveNATSRestart(t *testing.T) {
	srv := natstest.Start(t)
	rcv := newReceiver(t, nil)
	// A post whose ack the outage swallowed is posted again after AckWait.
	a := startHookNode(t, srv.URL(), "sb-1", rcv.URL, 3*time.Second)
	b := startHookNode(t, srv.URL(), "sb-2", rcv.URL, 3*time.Second)
	publishCalls(a.pub, "a", 1, 5)
	publishCalls(b.pub, "b", 1, 5)
	waitFor(t, "some posts", func() bool { return len(rcv.all()) > 0 })
	srv.Stop()
	publishCalls(a.pub, "a", 6, 10)
	publishCalls(b.pub, "b", 6, 10)
	srv.StartAgain()
	publishCalls(a.pub, "a", 11, 15)
	const want = (15 + 10) * 3
	waitFor(t, "every change posted", func() bool {
		return len(rcv.distinct()) == want && streamMsgs(t, srv.URL()) == 0
	})
	checkOrder(t, rcv.distinct())
}

// TestClusterWebhooksUnstoredKeptForNextStart: posts a node could not
// store in NATS before it stopped are saved to its spool and posted after
// its next start.
func TestClusterWebhooksUnstoredKeptForNextStart(t *testing.T) {
	srv := natstest.Start(t)
	rcv := newReceiver(t, nil)
	spool := t.TempDir() + "/webhook-queue.jsonl"
	quiet := slog.New(slog.DiscardHandler)
	cfg := []webhook.Config{{URL: rcv.URL, Secret: secret}}
	hooks, err := webhook.New(cfg, webhook.WithSpool(spool), webhook.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cn, err := cluster.Connect(ctx, cluster.Config{NATS: cluster.NATSConfig{URL: srv.URL()}, Node: "sb-1"}, cluster.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	posts, err := cn.Webhooks(ctx, cluster.WebhooksConfig{Endpoints: hooks.Endpoints(), Post: hooks.Deliver, Unsent: hooks.Unsent})
	if err != nil {
		t.Fatal(err)
	}
	hooks.UseQueue(posts)
	srv.Stop()
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = posts.Run(rctx) }()
	ev := monitor.NewEvent(7, time.Unix(1_700_000_000, 0).UTC(), &monitor.Call{ID: "u1", Source: "box.1", State: monitor.Ringing})
	hooks.Observe(ev)
	if st := hooks.Status()[0]; st.Queued != 1 {
		t.Fatalf("status %+v, want the post queued", st)
	}
	stop()
	<-done
	if err := hooks.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The next start, alone, posts it.
	again, err := webhook.New(cfg, webhook.WithSpool(spool), webhook.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	waitFor(t, "the saved post", func() bool { return len(rcv.all()) == 1 })
	body, _ := ev.JSON()
	if p := rcv.all()[0]; string(p.body) != string(body) || p.id != webhook.EventID(body) {
		t.Fatalf("posted %s (id %s), want %s", p.body, p.id, body)
	}
}
