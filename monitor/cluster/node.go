package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNATS wraps what NATS answers when the node cannot connect or set up
// its stream and bucket.
var ErrNATS = errors.New("nats")

// StreamMaxAge is how long the stream keeps a change. An item unchanged
// for longer (a call ringing for a day) is still in a starting node's
// snapshot: it is in the present bucket.
const StreamMaxAge = 24 * time.Hour

// Node is this node's connection to the others: the NATS connection, the
// stream of changes and the bucket of leases.
type Node struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	leases jetstream.KeyValue
	// present is the bucket of the present items, presentRaw its
	// stream, read for the revision of a purged key too.
	present    jetstream.KeyValue
	presentRaw jetstream.Stream
	// markerTTL: the present bucket drops the markers of purged keys.
	markerTTL bool
	// maxAge is how long the stream keeps a change (StreamMaxAge).
	maxAge time.Duration
	// ttl is the lease bucket's TTL, which NATS enforces.
	ttl time.Duration
	// feed is the node's feed, for its lag.
	feed atomic.Pointer[Feed]
	// leaseStats counts the leases taken, lost and given up.
	leaseStats leaseStats
	// reconciled counts the lease terms whose present keys were
	// reconciled with the stream.
	reconciled atomic.Uint64
	// epoch names the stream's life: the hubs it feeds number their
	// events with its sequences, valid while it is not made anew.
	epoch string
	// origin starts the Nats-Msg-Id of every change this run of the node
	// publishes: NODE-BOOT-, BOOT new at every start.
	origin string
}

// Option sets a rare knob of a Node.
type Option func(*Node)

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// Connect connects to NATS and makes sure the stream, the lease bucket
// and the present bucket exist (creating them the first time). The connection then reconnects by
// itself for as long as the node runs. It fails when NATS cannot be
// reached now.
func Connect(ctx context.Context, cfg Config, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var boot [6]byte
	_, _ = rand.Read(boot[:])
	n := &Node{cfg: cfg, log: slog.Default(), maxAge: StreamMaxAge, origin: cfg.Node + "-" + hex.EncodeToString(boot[:]) + "-"}
	for _, o := range opts {
		o(n)
	}
	nopts := []nats.Option{
		nats.Name("switchboard " + cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// Changes are buffered by the node's own outbox while NATS is
		// away, not by the client.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn("nats: disconnected", "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.log.Info("nats: reconnected", "server", c.ConnectedUrlRedacted())
		}),
	}
	if cfg.NATS.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(cfg.NATS.CredsFile))
	}
	nc, err := nats.Connect(cfg.NATS.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: connect: %w", ErrNATS, err)
	}
	n.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: %w", ErrNATS, err)
	}
	n.js = js
	if err := n.setUp(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return n, nil
}

// setUp creates the stream and the buckets, or opens them when another
// node did.
func (n *Node) setUp(ctx context.Context) error {
	st, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Switchboard: every change of every source",
		Subjects:    []string{subjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      n.maxAge,
		// A change whose publish was retried across an outage is stored
		// once: its Nats-Msg-Id is the same.
		Duplicates: min(2*time.Minute, n.maxAge),
	})
	if err != nil {
		return fmt.Errorf("%w: stream %s: %w", ErrNATS, StreamName, err)
	}
	n.stream = st
	n.epoch = "js-" + strconv.FormatInt(st.CachedInfo().Created.UnixNano(), 36)
	kv, err := n.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "Switchboard: which node connects each source",
		TTL:         n.cfg.TTL(),
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = n.js.KeyValue(ctx, LeaseBucket)
	}
	if err != nil {
		return fmt.Errorf("%w: bucket %s: %w", ErrNATS, LeaseBucket, err)
	}
	n.leases = kv
	if err := n.setUpPresent(ctx); err != nil {
		return err
	}
	n.ttl = n.cfg.TTL()
	if status, err := kv.Status(ctx); err == nil && status.TTL() > 0 && status.TTL() != n.ttl {
		// The first node made the bucket: its TTL is the one NATS applies.
		n.log.Warn("cluster: the lease bucket was made with another lease_ttl; using the bucket's (set the same on every node)",
			"lease_ttl", n.ttl, "bucket_ttl", status.TTL())
		n.ttl = status.TTL()
	}
	return nil
}

// setUpPresent creates the present bucket, or opens it when another node
// did.
func (n *Node) setUpPresent(ctx context.Context) error {
	cfg := jetstream.KeyValueConfig{
		Bucket:         PresentBucket,
		Description:    "Switchboard: every active call, source, extension and queue as it now is",
		History:        1,
		Storage:        jetstream.FileStorage,
		LimitMarkerTTL: presentMarkerTTL,
	}
	kv, err := n.js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		// A NATS server before 2.11: the markers of purged items stay.
		n.log.Warn("cluster: this NATS server keeps the marker of every ended call in the present bucket; 2.11 or later drops them after an hour")
		cfg.LimitMarkerTTL = 0
		kv, err = n.js.CreateKeyValue(ctx, cfg)
	}
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = n.js.KeyValue(ctx, PresentBucket)
	}
	if err != nil {
		return fmt.Errorf("%w: bucket %s: %w", ErrNATS, PresentBucket, err)
	}
	if status, err := kv.Status(ctx); err == nil {
		// The first node made the bucket: with marker TTLs or without.
		n.markerTTL = status.LimitMarkerTTL() > 0
	}
	raw, err := n.js.Stream(ctx, "KV_"+PresentBucket)
	if err != nil {
		return fmt.Errorf("%w: bucket %s: %w", ErrNATS, PresentBucket, err)
	}
	n.present, n.presentRaw = kv, raw
	return nil
}

// Epoch names the stream's life, the same on every node: the epoch of a
// hub fed from it (monitor.WithEpoch), whose seq is the stream's.
func (n *Node) Epoch() string { return n.epoch }

// Lag returns how many of the stream's changes this node's feed has not
// applied yet (Feed.Pending); 0 without a feed.
func (n *Node) Lag() uint64 {
	if f := n.feed.Load(); f != nil {
		return f.Pending()
	}
	return 0
}

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Connected reports whether NATS is connected now.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Close closes the NATS connection; call it after everything using the
// node has stopped.
func (n *Node) Close() { n.nc.Close() }
