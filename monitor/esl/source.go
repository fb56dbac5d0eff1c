package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/switchboard/switchboard/monitor"
)

// DefaultPassword is mod_event_socket's out-of-the-box password, used only
// when the configuration gives none (with a warning).
const DefaultPassword = "ClueCon"

// Config is one FreeSWITCH event socket in the `sources:` list (type esl).
type Config struct {
	Name monitor.SourceName `yaml:"name"`
	// Type is "esl".
	Type string `yaml:"type"`
	// Address is host or host:port; the port defaults to 8021.
	Address string `yaml:"address"`
	// Password is the event socket password; PasswordFile reads it from a
	// file instead. Neither is ever logged.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Filters are "Header value" pairs sent as `filter` commands, so only
	// matching events are delivered (e.g. "Caller-Context default").
	Filters []string `yaml:"filters"`
	// Nixevents are events to switch off again (`nixevent`), e.g. events a
	// busy switch raises that the wallboard never needs.
	Nixevents []string `yaml:"nixevents"`
	// CustomEvents are further CUSTOM subclasses to pass on to subscribers
	// as user events (e.g. "callcenter::info").
	CustomEvents []string `yaml:"custom_events"`
	// HeartbeatTimeout is how long the link may stay silent before it is
	// taken for dead; FreeSWITCH sends HEARTBEAT every 20 s. Default 60s.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	// Context is the dialplan context transfers and click-to-dial calls
	// continue in. Default "default".
	Context string `yaml:"context"`
	// OriginateEndpoint is the dial string of the phone click-to-dial rings
	// first, %s being the "from" number. Default "user/%s".
	OriginateEndpoint string `yaml:"originate_endpoint"`
	// ReconnectMin and ReconnectMax bound the wait between attempts,
	// doubling with jitter. Defaults 1s and 1m.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
}

func (c Config) withDefaults() Config {
	if _, _, err := net.SplitHostPort(c.Address); err != nil && c.Address != "" {
		c.Address = net.JoinHostPort(c.Address, "8021")
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = time.Minute
	}
	if c.Context == "" {
		c.Context = "default"
	}
	if c.OriginateEndpoint == "" {
		c.OriginateEndpoint = "user/%s"
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
		return errors.New("esl: name is required")
	case c.Address == "":
		return fmt.Errorf("esl %s: address is required", c.Name)
	case c.Password != "" && c.PasswordFile != "":
		return fmt.Errorf("esl %s: give password or password_file, not both", c.Name)
	}
	for _, f := range c.Filters {
		if h, v, ok := strings.Cut(strings.TrimSpace(f), " "); !ok || h == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("esl %s: filter %q: want \"Header value\"", c.Name, f)
		}
	}
	if !strings.Contains(c.OriginateEndpoint, "%s") && c.OriginateEndpoint != "" {
		return fmt.Errorf("esl %s: originate_endpoint %q lacks %%s", c.Name, c.OriginateEndpoint)
	}
	return nil
}

// channelEvents are the events a call tracker needs.
var channelEvents = []string{
	"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER", "CHANNEL_BRIDGE",
	"CHANNEL_UNBRIDGE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_CALLSTATE", "CALL_UPDATE",
	"CHANNEL_HANGUP_COMPLETE", "HEARTBEAT", "BACKGROUND_JOB",
}

// transferEvents are mod_sofia's transfer events (CUSTOM subclasses).
var transferEvents = []string{"sofia::transferor", "sofia::transferee", "sofia::replaced"}

// Source follows one FreeSWITCH over an inbound event socket. It
// implements monitor.Source and monitor.Controller.
type Source struct {
	mu   sync.Mutex // guards conn and tr
	conn *Conn
	tr   *Tracker

	cfg      Config
	password string
	log      *slog.Logger
	counters *monitor.Counters
}

var (
	_ monitor.Source     = (*Source)(nil)
	_ monitor.Controller = (*Source)(nil)
)

// Option sets a rare knob of a Source or Listener.
type Option func(*options)

type options struct {
	log      *slog.Logger
	counters *monitor.Counters
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCounters sets where events, parse errors and reconnects are counted.
func WithCounters(c *monitor.Counters) Option { return func(o *options) { o.counters = c } }

func buildOptions(opts []Option) options {
	o := options{log: slog.Default(), counters: new(monitor.Counters)}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// New returns an inbound source for cfg.
func New(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	s := &Source{cfg: cfg.withDefaults(), password: cfg.Password, log: o.log, counters: o.counters}
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("esl %s: password_file: %w", cfg.Name, err)
		}
		s.password = strings.TrimSpace(string(b))
	}
	if s.password == "" {
		s.password = DefaultPassword
		s.log.Warn("esl: no password configured, using FreeSWITCH's default; set password or password_file", "source", cfg.Name)
	}
	return s, nil
}

// Name is the source's name.
func (s *Source) Name() monitor.SourceName { return s.cfg.Name }

func (s *Source) status(sink monitor.Sink, st monitor.LinkState, err error) {
	ss := monitor.SourceStatus{Name: s.cfg.Name, Type: "esl", State: st, Address: s.cfg.Address, Since: time.Now(),
		Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer, monitor.ActionOriginate}}
	if err != nil {
		ss.Error = plainError(err)
	}
	sink.SourceStatus(ss)
}

// plainError says what went wrong in words an operator can act on.
func plainError(err error) string {
	var op *net.OpError
	switch {
	case errors.Is(err, ErrAuth):
		return "authentication failed: the event socket password was refused"
	case errors.Is(err, ErrRejected):
		return "connection rejected by FreeSWITCH's event socket ACL (apply-inbound-acl)"
	case errors.As(err, &op) && op.Op == "dial":
		return "cannot connect: " + op.Err.Error()
	}
	return err.Error()
}

var errSilent = errors.New("health check: no HEARTBEAT from FreeSWITCH")

// Run connects, authenticates, subscribes, resyncs from `show channels`
// and follows events until ctx ends; a lost, refused, rejected or silent
// link is retried with capped backoff and jitter. Calls survive a link
// that comes straight back (the resync settles them); when the first
// attempt to reconnect fails too they end as failed.
func (s *Source) Run(ctx context.Context, sink monitor.Sink) error {
	tr := NewTracker(s.cfg.Name, sink, s.counters)
	s.mu.Lock()
	s.tr = tr
	s.mu.Unlock()
	s.status(sink, monitor.LinkConnecting, nil)
	failures := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.counters.Reconnects.Add(1)
		}
		up, err := s.session(ctx, tr, sink)
		if ctx.Err() != nil {
			tr.endAll("monitor stopped")
			s.status(sink, monitor.LinkStopped, nil)
			return nil
		}
		if up {
			failures = 0
		} else {
			failures++
			if tr.endAll("link lost") > 0 {
				s.log.Info("esl: calls ended after failed reconnect")
			}
		}
		s.status(sink, monitor.LinkDown, err)
		s.log.Info("esl link down", "err", err)
		select {
		case <-ctx.Done():
			tr.endAll("monitor stopped")
			s.status(sink, monitor.LinkStopped, nil)
			return nil
		case <-time.After(monitor.Backoff(s.cfg.ReconnectMin, s.cfg.ReconnectMax, failures)):
		}
	}
}

// endAll ends every call and forgets every leg.
func (tr *Tracker) endAll(cause string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.legs = map[string]*leg{}
	tr.calls = map[string]*callInfo{}
	return tr.t.EndAll(monitor.Ending{Reason: monitor.ReasonFailed, Cause: cause})
}

// session is one connection's life; up says whether it got as far as
// following events.
func (s *Source) session(ctx context.Context, tr *Tracker, sink monitor.Sink) (up bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", s.cfg.Address)
	if err != nil {
		return false, err
	}
	events := make(chan Event, 4096)
	conn, err := Auth(dctx, nc, s.password, func(e Event) {
		select {
		case events <- e:
		default:
			// The tracker fell far behind: drop the link and resync
			// rather than block the reader.
			nc.Close()
		}
	})
	if err != nil {
		nc.Close()
		return false, err
	}
	defer conn.Close()
	if err := s.subscribe(dctx, conn); err != nil {
		return false, err
	}
	s.status(sink, monitor.LinkResyncing, nil)
	out, err := conn.API(dctx, "show", "channels as json")
	if err != nil {
		return false, fmt.Errorf("resync: %w", err)
	}
	rows, err := parseChannels(out)
	if err != nil {
		return false, fmt.Errorf("resync: %w", err)
	}
	tr.resync(rows)
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()
	s.status(sink, monitor.LinkConnected, nil)
	watchdog := time.NewTimer(s.cfg.HeartbeatTimeout)
	defer watchdog.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-conn.Done():
			// Apply what arrived before the link broke.
			for len(events) > 0 {
				tr.Handle(<-events)
			}
			return true, conn.Err()
		case e := <-events:
			// Any event proves the link alive; HEARTBEAT is the one a quiet
			// switch still sends.
			watchdog.Reset(s.cfg.HeartbeatTimeout)
			tr.Handle(e)
		case <-watchdog.C:
			return true, fmt.Errorf("%w for %v", errSilent, s.cfg.HeartbeatTimeout)
		}
	}
}

// subscribe asks for the events the tracker needs, then applies the
// configured filters and nixevents.
func (s *Source) subscribe(ctx context.Context, conn *Conn) error {
	listen := append(append(append([]string{}, channelEvents...), "CUSTOM"), transferEvents...)
	listen = append(listen, s.cfg.CustomEvents...)
	if _, err := conn.Command(ctx, command.Event{Format: "json", Listen: listen}); err != nil {
		return err
	}
	for _, f := range s.cfg.Filters {
		h, v, _ := strings.Cut(strings.TrimSpace(f), " ")
		if _, err := conn.Command(ctx, command.Filter{EventHeader: h, FilterValue: strings.TrimSpace(v)}); err != nil {
			return err
		}
	}
	if len(s.cfg.Nixevents) > 0 {
		if _, err := conn.Command(ctx, nixevent(s.cfg.Nixevents)); err != nil {
			return err
		}
	}
	return nil
}

// nixevent switches events off again; eslgo's Event{Ignore} would put a
// format word after "nixevent", which the command does not take.
type nixevent []string

func (n nixevent) BuildMessage() string { return "nixevent " + strings.Join(n, " ") }

// live returns the connection and tracker, or ErrNotConnected.
func (s *Source) live() (*Conn, *Tracker, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || s.tr == nil {
		return nil, nil, monitor.ErrNotConnected
	}
	return s.conn, s.tr, nil
}

func (s *Source) legsOf(id monitor.CallID) (*Conn, []string, error) {
	conn, tr, err := s.live()
	if err != nil {
		return nil, nil, err
	}
	legs := tr.channelsOf(id)
	if len(legs) == 0 {
		return nil, nil, monitor.ErrNoSuchCall
	}
	return conn, legs, nil
}

// Hangup hangs up every live leg of the call (uuid_kill).
func (s *Source) Hangup(ctx context.Context, id monitor.CallID) error {
	conn, legs, err := s.legsOf(id)
	if err != nil {
		return err
	}
	for _, uid := range legs {
		if _, err := conn.API(ctx, "uuid_kill", uid+" NORMAL_CLEARING"); err != nil && !strings.Contains(err.Error(), "No such channel") {
			return err
		}
	}
	return nil
}

// Transfer sends the call's first live leg to number in the configured
// context (uuid_transfer); FreeSWITCH hangs up the leg it was bridged to.
func (s *Source) Transfer(ctx context.Context, id monitor.CallID, number string) error {
	if !validNumber(number) {
		return fmt.Errorf("esl transfer: %q is not a number or extension", number)
	}
	conn, legs, err := s.legsOf(id)
	if err != nil {
		return err
	}
	_, err = conn.API(ctx, "uuid_transfer", fmt.Sprintf("%s %s XML %s", legs[0], number, s.cfg.Context))
	return err
}

// Originate rings from and, when it answers, connects it to to (bgapi
// originate). It waits for the job's result (BACKGROUND_JOB, matched by
// Job-UUID) while ctx lasts, so a failure FreeSWITCH reports at once (an
// unregistered phone) reaches the caller; a phone that rings longer is
// left ringing and its result only logged.
func (s *Source) Originate(ctx context.Context, from, to string) error {
	if !validNumber(from) || !validNumber(to) {
		return fmt.Errorf("esl originate: %q or %q is not a number or extension", from, to)
	}
	conn, _, err := s.live()
	if err != nil {
		return err
	}
	vars := fmt.Sprintf("{origination_caller_id_number=%s,origination_caller_id_name=Click-to-dial,switchboard_to=%s}", to, to)
	job, err := conn.StartJob(ctx, "originate", vars+fmt.Sprintf(s.cfg.OriginateEndpoint, from)+" "+to+" XML "+s.cfg.Context)
	if err != nil {
		return err
	}
	out, err := job.Wait(ctx)
	if ctx.Err() == nil {
		s.log.Info("esl originate", "from", from, "to", to, "job", job.ID(), "result", out, "err", err)
		return err
	}
	go func() {
		// Bounded by the connection: Wait returns when it closes.
		out, err := job.Wait(context.Background())
		s.log.Info("esl originate", "from", from, "to", to, "job", job.ID(), "result", out, "err", err)
	}()
	return nil
}

// validNumber keeps call-control arguments to what a dial string may
// hold, so they cannot add words to the command line.
func validNumber(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("+*#._-@", r)) {
			return false
		}
	}
	return true
}
