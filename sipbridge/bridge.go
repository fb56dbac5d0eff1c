package sipbridge

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
)

// Bridge is the softphone's SIP user agent: it registers every configured
// account, places calls with Dial and hands incoming ones to the OnIncoming
// handler. Create it with New, then Run it.
type Bridge struct {
	cfg      Config
	sink     monitor.Sink
	log      *slog.Logger
	counters *monitor.Counters
	metrics  *bridgeMetrics

	accounts []*account
	byName   map[string]*account

	ready     chan struct{}
	readyOnce sync.Once

	mu         sync.Mutex
	onIncoming func(c *Call)
	running    bool
	closing    bool
	calls      map[string]*Call
	callsWG    sync.WaitGroup

	// subs are the busy-lamp subscriptions by the Call-ID of their
	// current dialog (subscription.go), for the NOTIFY handler.
	subsMu sync.Mutex
	subs   map[string]*subscription

	// onTransferred is OnTransferred's handler (transfer.go), under mu.
	onTransferred func(old, next *Call)

	sip *sipStack
	// listenUDP opens the SIP UDP socket; net.ListenConfig's by default.
	listenUDP listenPacketFunc
	// grace bounds waiting for calls to end on shutdown; shutdownGrace.
	grace time.Duration

	// stopReq is closed by Shutdown: Run then ends the calls,
	// un-REGISTERs and returns. stopped is closed when Run has returned.
	stopOnce sync.Once
	stopReq  chan struct{}
	stopped  chan struct{}
	// forceCtx is the parent of the SIP exchanges that have no caller of
	// their own (BYE, ACK, un-REGISTER, shutdown hang-ups); cancelled when
	// a shutdown is forced, so that none of them outlasts the deadline.
	forceCtx context.Context //nolint:containedctx // lifetime of the bridge, not of a request
	force    context.CancelFunc
}

// Option sets a rarely needed knob of New.
type Option func(*options)

type options struct {
	log      *slog.Logger
	counters *monitor.Counters
	reg      prometheus.Registerer
}

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCounters sets where SIP requests, malformed messages and
// re-registrations are counted.
func WithCounters(c *monitor.Counters) Option { return func(o *options) { o.counters = c } }

// WithRegisterer registers the bridge's metrics (refused requests) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// New returns a Bridge for cfg publishing calls and registration status to
// sink (nil: nowhere). It validates cfg but opens no socket: Run does.
func New(cfg Config, sink monitor.Sink, opts ...Option) (*Bridge, error) {
	o := options{log: slog.Default(), counters: new(monitor.Counters)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if cfg.InstanceID != "" {
		cfg.InstanceID, _ = ParseInstanceID(cfg.InstanceID) // checked by Validate
	}
	b := &Bridge{
		cfg:      cfg,
		sink:     sink,
		log:      o.log.With("component", "sip"),
		counters: o.counters,
		metrics:  newBridgeMetrics(),
		byName:   make(map[string]*account, len(cfg.Accounts)),
		ready:    make(chan struct{}),
		calls:    make(map[string]*Call),
		subs:     make(map[string]*subscription),
		// A method value of a zero ListenConfig: plain listening.
		listenUDP: (&net.ListenConfig{}).ListenPacket,
		grace:     shutdownGrace,
		stopReq:   make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	if o.reg != nil {
		if err := b.metrics.register(o.reg); err != nil {
			return nil, err
		}
	}
	b.forceCtx, b.force = context.WithCancel(context.Background())
	for _, ac := range cfg.Accounts {
		a, err := newAccount(b, ac)
		if err != nil {
			return nil, err
		}
		b.accounts = append(b.accounts, a)
		b.byName[ac.Name] = a
	}
	return b, nil
}

// OnIncoming sets the handler for incoming calls. Set it before Run; fn
// must return quickly. Without a handler incoming INVITEs get 480.
func (b *Bridge) OnIncoming(fn func(c *Call)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onIncoming = fn
}

// Ready is closed once the SIP listeners are up. It stays open when Run
// fails to start them, so wait for Run's result as well.
func (b *Bridge) Ready() <-chan struct{} { return b.ready }

// Statuses reports every account's registration, in config order.
func (b *Bridge) Statuses() []monitor.SourceStatus {
	out := make([]monitor.SourceStatus, 0, len(b.accounts))
	for _, a := range b.accounts {
		out = append(out, a.status())
	}
	return out
}

// Tracker returns the monitor tracker of the named account, nil when
// there is no such account.
func (b *Bridge) Tracker(account string) *monitor.Tracker {
	if a, ok := b.byName[account]; ok {
		return a.tracker
	}
	return nil
}

// Run listens for SIP, registers every account and keeps the
// registrations fresh until ctx ends or Shutdown is called; then it hangs
// up every call, un-REGISTERs and returns. It returns nil on a clean stop
// (ctx ending during start-up included) and the error at once when the
// listeners cannot be opened. A stop by ctx alone is bounded by itself:
// calls get a few seconds to end, un-REGISTER a few more, then the SIP
// stack is closed under whatever is left; Shutdown's ctx bounds its own.
func (b *Bridge) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return fmt.Errorf("sip bridge: already running")
	}
	b.running = true
	b.mu.Unlock()
	defer close(b.stopped)
	defer b.force()
	return b.run(ctx)
}

// StopAccepting makes the bridge take no new calls: incoming INVITEs are
// answered 503 Service Unavailable (RFC 3261 section 21.5.4) and Dial
// fails with ErrNotReady. Calls in progress go on. It is idempotent.
func (b *Bridge) StopAccepting() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
}

// Shutdown stops the bridge in order: no new calls (StopAccepting), every
// live call ended — BYE once answered, CANCEL while an outgoing call
// rings, 480 for an incoming one that rings — and its transaction waited
// for, then every account un-REGISTERed and the SIP listeners closed; Run
// returns. When ctx ends first, what is left is forced: the SIP exchanges
// still waiting are given up, calls end here without waiting for the far
// end, and Shutdown returns ctx's error once Run has returned. Called
// before Run, it makes Run return at once. Safe to call more than once.
func (b *Bridge) Shutdown(ctx context.Context) error {
	b.StopAccepting()
	b.stopOnce.Do(func() { close(b.stopReq) })
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-b.stopped:
		return nil
	case <-ctx.Done():
	}
	b.force()
	<-b.stopped
	return fmt.Errorf("sip shutdown: %w", ctx.Err())
}

// Dial calls target from account: a number or user (sent to the
// account's domain), user@host, or a sip:/sips: URI. The SDP offer lists
// codecs in order plus telephone-event. Dial returns once the INVITE is
// sent; progress arrives on the call's Events. The call outlives ctx.
func (b *Bridge) Dial(ctx context.Context, account, target string, codecs []Codec) (*Call, error) {
	a, ok := b.byName[account]
	if !ok {
		return nil, fmt.Errorf("dial %s: %w", account, ErrUnknownAccount)
	}
	return b.dial(ctx, a, target, codecs)
}
