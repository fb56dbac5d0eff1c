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

// Config is one Asterisk manager interface in the `sources:` list.
type Config struct {
	Name monitor.SourceName `yaml:"name"`
	// Type is "ami".
	Type string `yaml:"type"`
	// Address is host or host:port; the port defaults to 5038.
	Address  string `yaml:"address"`
	Username string `yaml:"username"`
	// Secret is the manager secret; SecretFile reads it from a file
	// instead. Neither is ever logged.
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
	// ReconnectMin and ReconnectMax bound the wait between attempts,
	// doubling with jitter. Defaults 1s and 1m.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
}

func (c Config) withDefaults() Config {
	if _, _, err := net.SplitHostPort(c.Address); err != nil && c.Address != "" {
		c.Address = net.JoinHostPort(c.Address, "5038")
	}
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
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = time.Second
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(time.Minute, c.ReconnectMin)
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("ami: name is required")
	case c.Address == "":
		return fmt.Errorf("ami %s: address is required", c.Name)
	case c.Username == "":
		return fmt.Errorf("ami %s: username is required", c.Name)
	case c.Secret == "" && c.SecretFile == "":
		return fmt.Errorf("ami %s: secret or secret_file is required", c.Name)
	}
	return nil
}

// Source follows one Asterisk over AMI. It implements monitor.Source.
type Source struct {
	mu   sync.Mutex // guards conn and tr
	conn *Conn
	tr   *Tracker

	cfg      Config
	secret   string
	log      *slog.Logger
	counters *monitor.Counters
}

var (
	_ monitor.Source     = (*Source)(nil)
	_ monitor.Controller = (*Source)(nil)
)

// Option sets a rare knob of a Source.
type Option func(*Source)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithCounters sets where events, parse errors and reconnects are counted.
func WithCounters(c *monitor.Counters) Option { return func(s *Source) { s.counters = c } }

// New returns a source for cfg.
func New(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg.withDefaults(), secret: cfg.Secret, log: slog.Default(), counters: new(monitor.Counters)}
	if cfg.SecretFile != "" {
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("ami %s: secret_file: %w", cfg.Name, err)
		}
		s.secret = strings.TrimSpace(string(b))
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Name is the source's name.
func (s *Source) Name() monitor.SourceName { return s.cfg.Name }

// Run connects, logs in, resyncs from CoreShowChannels and follows events
// until ctx ends; a lost, refused or silent link is retried with capped
// backoff and jitter. Calls that were active when the link broke are
// ended as failed: without the link they can no longer be followed.
func (s *Source) Run(ctx context.Context, sink monitor.Sink) error {
	tr := NewTracker(s.cfg.Name, sink, s.counters)
	s.mu.Lock()
	s.tr = tr
	s.mu.Unlock()
	status := func(st monitor.LinkState, err error) {
		ss := monitor.SourceStatus{Name: s.cfg.Name, Type: "ami", State: st, Address: s.cfg.Address, Since: time.Now(),
			Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer, monitor.ActionOriginate}}
		if err != nil {
			ss.Error = err.Error()
		}
		sink.SourceStatus(ss)
	}
	status(monitor.LinkConnecting, nil)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.counters.Reconnects.Add(1)
		}
		err := s.session(ctx, tr, status)
		if ctx.Err() != nil {
			tr.t.EndAll(monitor.Ending{Reason: monitor.ReasonFailed, Cause: "monitor stopped"})
			status(monitor.LinkStopped, nil)
			return nil
		}
		tr.t.EndAll(monitor.Ending{Reason: monitor.ReasonFailed, Cause: "link lost"})
		tr.reset()
		status(monitor.LinkDown, err)
		s.log.Info("ami link down", "err", err)
		wait := monitor.Backoff(s.cfg.ReconnectMin, s.cfg.ReconnectMax, attempt)
		select {
		case <-ctx.Done():
			status(monitor.LinkStopped, nil)
			return nil
		case <-time.After(wait):
		}
	}
}

// session is one connection's life; it returns why it ended.
func (s *Source) session(ctx context.Context, tr *Tracker, status func(monitor.LinkState, error)) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := s.dial(dctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	events := make(chan Message, 1024)
	conn, err := Handshake(dctx, nc, Login{Username: s.cfg.Username, Secret: s.secret, MD5: s.cfg.MD5, Events: s.cfg.Events}, func(m Message) {
		if m.Event() == "SwitchboardParseError" {
			s.counters.ParseErrors.Add(1)
			return
		}
		select {
		case events <- m:
		default:
			// The tracker fell far behind: drop the link and resync rather
			// than block the reader.
			nc.Close()
		}
	})
	if err != nil {
		nc.Close()
		return err
	}
	defer conn.Close()
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()
	status(monitor.LinkResyncing, nil)
	list, err := conn.ListAction(dctx, M("Action", "CoreShowChannels"))
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	tr.resync(list)
	status(monitor.LinkConnected, nil)
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-conn.Done():
			return conn.Err()
		case m := <-events:
			tr.Handle(m)
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return fmt.Errorf("health check: %w", err)
			}
		}
	}
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

// reset forgets channel state after a lost link.
func (tr *Tracker) reset() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.chans = map[string]*channel{}
	tr.calls = map[string]*callInfo{}
}

// resync rebuilds the picture from CoreShowChannel events: calls that
// ended while the link was down are ended, calls that started are begun.
func (tr *Tracker) resync(list []Message) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	live := map[string]bool{}
	for _, m := range list {
		live[m.Get("Linkedid")] = true
	}
	tr.t.Retain(func(k string) bool { return live[k] }, monitor.Ending{Cause: "ended while disconnected"})
	for _, m := range list {
		uid := m.Get("Uniqueid")
		if _, known := tr.chans[uid]; known {
			continue
		}
		tr.newChannel(m)
		if m.Get("ChannelStateDesc") == "Up" && uid == m.Get("Linkedid") {
			tr.t.Answer(uid, nil, time.Time{})
		}
	}
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
			return fmt.Errorf("ami hangup %s: %w", ch, err)
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
		return fmt.Errorf("ami redirect: %w", err)
	}
	return nil
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
