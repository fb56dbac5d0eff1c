package ami

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// DefaultPort is the manager interface's TCP port.
const DefaultPort = "5038"

// Config is one Asterisk manager interface in the `sources:` list.
type Config struct {
	Name monitor.SourceName `yaml:"name"`
	// Type is "ami".
	Type string `yaml:"type"`
	// LinkConfig holds the keys every source shares: address (host or
	// host:port, the port defaulting to 5038), reconnect_min,
	// reconnect_max, dial_timeout and link_grace.
	monitor.LinkConfig `yaml:",inline"`
	Username           string `yaml:"username"`
	// Secret is the manager secret; SecretFile reads it from a file
	// instead (one of the two). Neither is ever logged.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// TLS connects over TLS (Asterisk's tlsbindport, usually 5039),
	// verifying the manager's certificate against the system roots or
	// TLSCAFile.
	TLS       bool   `yaml:"tls"`
	TLSCAFile string `yaml:"tls_ca_file"`
	// MD5 logs in with the Challenge action so the secret never crosses
	// the wire.
	MD5 bool `yaml:"md5"`
	// Events is the event mask sent at login. Default "on".
	Events string `yaml:"events"`
	// PingInterval is how often the link is checked with Ping; a ping
	// unanswered within PingTimeout marks it dead. Defaults 20s and 5s.
	PingInterval time.Duration `yaml:"ping_interval"`
	PingTimeout  time.Duration `yaml:"ping_timeout"`
	// Context is the dialplan context transfers and click-to-dial calls
	// continue in. Default "from-internal".
	Context string `yaml:"context"`
	// OriginateChannel is the dial string of the phone that click-to-dial
	// rings first, %s being the "from" number. Default "PJSIP/%s".
	OriginateChannel string `yaml:"originate_channel"`
	// StateConfig holds the extension and queue keys: state_refresh (how
	// often QueueStatus and QueueSummary are listed again), service_level
	// and service_levels (the threshold of queues without servicelevel).
	monitor.StateConfig `yaml:",inline"`
}

func (c Config) withDefaults() Config {
	c.LinkConfig = c.LinkConfig.WithDefaults(DefaultPort)
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 5 * time.Second
	}
	if c.Context == "" {
		c.Context = "from-internal"
	}
	if c.OriginateChannel == "" {
		c.OriginateChannel = "PJSIP/%s"
	}
	return c
}

func (c Config) secret() monitor.Secret { return monitor.Secret{Value: c.Secret, File: c.SecretFile} }

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("ami: %w: name is required", monitor.ErrInvalidConfig)
	case c.Username == "":
		return fmt.Errorf("ami %s: %w: username is required", c.Name, monitor.ErrInvalidConfig)
	case c.secret().IsZero():
		return fmt.Errorf("ami %s: %w: secret or secret_file is required", c.Name, monitor.ErrInvalidConfig)
	}
	if err := c.secret().Validate("secret"); err != nil {
		return fmt.Errorf("ami %s: %w", c.Name, err)
	}
	if err := c.LinkConfig.Validate(DefaultPort); err != nil {
		return fmt.Errorf("ami %s: %w", c.Name, err)
	}
	if err := c.StateConfig.Validate(); err != nil {
		return fmt.Errorf("ami %s: %w", c.Name, err)
	}
	return nil
}

// Source follows one Asterisk over AMI. It implements monitor.Source and
// monitor.Controller.
type Source struct {
	mu   sync.Mutex // guards conn and tr
	conn *Conn
	tr   *Tracker

	cfg    Config
	secret string
	opts   []Option
	o      monitor.SourceOptions
	link   *monitor.Link
}

var (
	_ monitor.Source     = (*Source)(nil)
	_ monitor.Controller = (*Source)(nil)
)

// Option sets a rare knob of a Source or a Conn.
type Option = monitor.SourceOption

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return monitor.WithSourceLogger(l) }

// WithCounters sets where events, parse errors and reconnects are counted.
// Default: private counters nobody reads.
func WithCounters(c *monitor.Counters) Option { return monitor.WithSourceCounters(c) }

// New returns a source for cfg.
func New(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	secret, err := cfg.secret().Read()
	if err != nil {
		return nil, fmt.Errorf("ami %s: secret_file: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	o := monitor.NewSourceOptions(opts...)
	info := monitor.LinkInfo{Name: cfg.Name, Type: "ami", Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer, monitor.ActionOriginate,
		monitor.ActionQueuePause, monitor.ActionQueueAdd, monitor.ActionQueueRemove}}
	link, err := monitor.NewLink(info, cfg.LinkConfig, DefaultPort,
		monitor.WithLinkLogger(o.Log), monitor.WithLinkCounters(o.Counters))
	if err != nil {
		return nil, fmt.Errorf("ami %s: %w", cfg.Name, err)
	}
	return &Source{cfg: cfg, secret: secret, opts: opts, o: o, link: link}, nil
}

// Name is the source's name.
func (s *Source) Name() monitor.SourceName { return s.cfg.Name }

// Run connects, logs in, resyncs from CoreShowChannels and follows events
// until ctx ends, on the link every source shares (monitor.Link): a lost,
// refused or silent link (Ping unanswered) is retried with capped backoff
// and jitter. The calls of a lost link are kept for the grace period;
// after a reconnect within it the resync settles them: calls still up go
// on as they were, calls Asterisk no longer lists end as failed "ended
// while disconnected". A link down longer ends them as failed "link
// lost".
func (s *Source) Run(ctx context.Context, sink monitor.Sink) error {
	tr := NewTracker(s.cfg.Name, sink, s.o.Counters)
	tr.SetStateConfig(s.cfg.StateConfig)
	s.mu.Lock()
	s.tr = tr
	s.mu.Unlock()
	return s.link.Run(ctx, sink, &protocol{s: s, tr: tr})
}

// protocol is AMI as a monitor.Protocol.
type protocol struct {
	s  *Source
	tr *Tracker
}

// Connect dials the manager and logs in.
func (p *protocol) Connect(ctx context.Context) (monitor.Session, error) {
	nc, err := p.s.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	events := make(chan Message, 1024)
	login := Login{Username: p.s.cfg.Username, Secret: p.s.secret, MD5: p.s.cfg.MD5, Events: p.s.cfg.Events}
	conn, err := Handshake(ctx, nc, login, func(m Message) {
		select {
		case events <- m:
		default:
			// The tracker fell far behind: drop the link and resync rather
			// than block the reader.
			nc.Close()
		}
	}, p.s.opts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return p.s.attach(&session{p: p, conn: conn, events: events}), nil
}

// EndCalls ends every call and forgets every channel; the extensions and
// queues go at stop and are unknown after a link lost too long.
func (p *protocol) EndCalls(e monitor.Ending) int {
	n := p.tr.endAll(e)
	p.tr.endState(e.Cause == monitor.CauseStopped)
	return n
}

// session is one logged-in manager connection.
type session struct {
	p      *protocol
	conn   *Conn
	events chan Message
}

// Resync lists the channels Asterisk has now (CoreShowChannels).
func (ss *session) Resync(ctx context.Context) error {
	list, err := ss.conn.ListAction(ctx, M("Action", "CoreShowChannels"))
	if err != nil {
		return err
	}
	ss.p.tr.resync(list)
	return nil
}

// Follow hands events to the tracker and pings a quiet manager. Beside
// it, its own goroutine lists the extension and queue state (state.go).
func (ss *session) Follow(ctx context.Context) error {
	s := ss.p.s
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ss.listState(lctx)
	}()
	defer wg.Wait()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ss.conn.Done():
			// Apply what arrived before the link broke.
			for len(ss.events) > 0 {
				ss.p.tr.Handle(<-ss.events)
			}
			return ss.conn.Err()
		case m := <-ss.events:
			ss.p.tr.Handle(m)
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
			err := ss.conn.Ping(pctx)
			pcancel()
			if err != nil {
				return fmt.Errorf("health check: %w", err)
			}
		}
	}
}

// Close ends the connection; call control has none until the next.
func (ss *session) Close() error {
	s := ss.p.s
	s.mu.Lock()
	if s.conn == ss.conn {
		s.conn = nil
	}
	s.mu.Unlock()
	return ss.conn.Close()
}

// attach makes ss's connection the one call control uses: from login
// on, so an action taken as soon as the status says connected finds it.
func (s *Source) attach(ss *session) *session {
	s.mu.Lock()
	s.conn = ss.conn
	s.mu.Unlock()
	return ss
}

// dial opens the TCP or TLS connection to the manager.
func (s *Source) dial(ctx context.Context) (net.Conn, error) {
	if !s.cfg.TLS {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.cfg.Address)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Address)
	conf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if s.cfg.TLSCAFile != "" {
		pemCerts, err := os.ReadFile(s.cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCerts) {
			return nil, fmt.Errorf("tls_ca_file %s: no certificate found", s.cfg.TLSCAFile)
		}
		conf.RootCAs = pool
	}
	d := tls.Dialer{Config: conf}
	return d.DialContext(ctx, "tcp", s.cfg.Address)
}

// live returns the connection and tracker, or ErrNotConnected.
func (s *Source) live() (*Conn, *Tracker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || s.tr == nil {
		return nil, nil, monitor.ErrNotConnected
	}
	return s.conn, s.tr, nil
}

// callChannels returns the live connection and the channels of call id.
func (s *Source) callChannels(id monitor.CallID) (*Conn, []string, error) {
	conn, tr, err := s.live()
	if err != nil {
		return nil, nil, err
	}
	chans := tr.channelsOf(id)
	if len(chans) == 0 {
		return nil, nil, monitor.ErrNoSuchCall
	}
	return conn, chans, nil
}

// Hangup hangs up every phone and trunk channel of the call (AMI Hangup).
func (s *Source) Hangup(ctx context.Context, id monitor.CallID) error {
	conn, chans, err := s.callChannels(id)
	if err != nil {
		return err
	}
	for _, ch := range chans {
		if _, err := conn.Action(ctx, M("Action", "Hangup", "Channel", ch, "Cause", "16")); err != nil {
			return fmt.Errorf("ami hangup %s: %w", ch, noSuchChannel(err))
		}
	}
	return nil
}

// Transfer sends the call's opening channel to number in the configured
// context (AMI Redirect); its other side is hung up by Asterisk.
func (s *Source) Transfer(ctx context.Context, id monitor.CallID, number string) error {
	conn, chans, err := s.callChannels(id)
	if err != nil {
		return err
	}
	_, err = conn.Action(ctx, M("Action", "Redirect", "Channel", chans[0], "Exten", number, "Context", s.cfg.Context, "Priority", "1"))
	if err != nil {
		return fmt.Errorf("ami redirect: %w", noSuchChannel(err))
	}
	return nil
}

// noSuchChannel turns Asterisk's refusal of an action on a channel that
// is gone (manager.c answers "No such channel") into monitor.ErrNoSuchCall:
// the call ended meanwhile, which is no refusal.
func noSuchChannel(err error) error {
	if errors.Is(err, monitor.ErrRefused) && strings.Contains(err.Error(), "No such channel") {
		return fmt.Errorf("%w: %w", monitor.ErrNoSuchCall, err)
	}
	return err
}

// Originate rings from and connects it to to (AMI Originate, asynchronous:
// it returns once Asterisk has queued the call).
func (s *Source) Originate(ctx context.Context, from, to string) error {
	conn, _, err := s.live()
	if err != nil {
		return err
	}
	_, err = conn.Action(ctx, M("Action", "Originate", "Channel", fmt.Sprintf(s.cfg.OriginateChannel, from),
		"Exten", to, "Context", s.cfg.Context, "Priority", "1", "CallerID", from, "Async", "true"))
	if err != nil {
		return fmt.Errorf("ami originate: %w", err)
	}
	return nil
}
