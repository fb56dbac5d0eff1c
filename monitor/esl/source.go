package esl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/switchboard/switchboard/monitor"
)

// DefaultPassword is mod_event_socket's out-of-the-box password, used only
// when the configuration gives none (with a warning).
const DefaultPassword = "ClueCon"

// DefaultPort is mod_event_socket's TCP port.
const DefaultPort = "8021"

// Config is one FreeSWITCH event socket in the `sources:` list (type esl).
type Config struct {
	Name monitor.SourceName `yaml:"name"`
	// Type is "esl".
	Type string `yaml:"type"`
	// LinkConfig holds the keys every source shares: address (host or
	// host:port, the port defaulting to 8021), reconnect_min,
	// reconnect_max, dial_timeout and link_grace.
	monitor.LinkConfig `yaml:",inline"`
	// Password is the event socket password; PasswordFile reads it from a
	// file instead (not both). Neither is ever logged.
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
	// StateConfig holds the extension and queue keys: state_refresh (how
	// often mod_callcenter's queues are listed again), service_level and
	// service_levels (the queues' service-level threshold).
	monitor.StateConfig `yaml:",inline"`
}

func (c Config) withDefaults() Config {
	c.LinkConfig = c.LinkConfig.WithDefaults(DefaultPort)
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = time.Minute
	}
	if c.Context == "" {
		c.Context = "default"
	}
	if c.OriginateEndpoint == "" {
		c.OriginateEndpoint = "user/%s"
	}
	return c
}

func (c Config) password() monitor.Secret {
	return monitor.Secret{Value: c.Password, File: c.PasswordFile}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("esl: %w: name is required", monitor.ErrInvalidConfig)
	}
	if err := c.LinkConfig.Validate(DefaultPort); err != nil {
		return fmt.Errorf("esl %s: %w", c.Name, err)
	}
	if err := c.password().Validate("password"); err != nil {
		return fmt.Errorf("esl %s: %w", c.Name, err)
	}
	for _, f := range c.Filters {
		if h, v, ok := strings.Cut(strings.TrimSpace(f), " "); !ok || h == "" || strings.TrimSpace(v) == "" {
			return fmt.Errorf("esl %s: %w: filter %q: want \"Header value\"", c.Name, monitor.ErrInvalidConfig, f)
		}
	}
	if !strings.Contains(c.OriginateEndpoint, "%s") && c.OriginateEndpoint != "" {
		return fmt.Errorf("esl %s: %w: originate_endpoint %q lacks %%s", c.Name, monitor.ErrInvalidConfig, c.OriginateEndpoint)
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
	link     *monitor.Link
	// newWatchdog arms the heartbeat watchdog; tests replace it.
	newWatchdog func(time.Duration) watchdog
	// pending are the originate jobs still ringing after their caller
	// stopped waiting; Run waits for them before it returns.
	pending sync.WaitGroup
}

// watchdog is the timer a silent link is noticed by.
type watchdog interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type timerWatchdog struct{ *time.Timer }

func (w timerWatchdog) C() <-chan time.Time   { return w.Timer.C }
func (w timerWatchdog) Reset(d time.Duration) { w.Timer.Reset(d) }
func (w timerWatchdog) Stop()                 { w.Timer.Stop() }

func newTimerWatchdog(d time.Duration) watchdog { return timerWatchdog{time.NewTimer(d)} }

var (
	_ monitor.Source     = (*Source)(nil)
	_ monitor.Controller = (*Source)(nil)
)

// Option sets a rare knob of a Source, a Listener or a Conn.
type Option = monitor.SourceOption

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return monitor.WithSourceLogger(l) }

// WithCounters sets where events, parse errors and reconnects are counted.
// Default: private counters nobody reads.
func WithCounters(c *monitor.Counters) Option { return monitor.WithSourceCounters(c) }

// New returns an inbound source for cfg.
func New(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := monitor.NewSourceOptions(opts...)
	password, err := cfg.password().Read()
	if err != nil {
		return nil, fmt.Errorf("esl %s: password_file: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	info := monitor.LinkInfo{Name: cfg.Name, Type: "esl", Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer, monitor.ActionOriginate,
		monitor.ActionQueuePause, monitor.ActionQueueAdd, monitor.ActionQueueRemove}}
	link, err := monitor.NewLink(info, cfg.LinkConfig, DefaultPort,
		monitor.WithLinkLogger(o.Log), monitor.WithLinkCounters(o.Counters))
	if err != nil {
		return nil, fmt.Errorf("esl %s: %w", cfg.Name, err)
	}
	s := &Source{cfg: cfg, password: password, log: o.Log, counters: o.Counters, link: link, newWatchdog: newTimerWatchdog}
	if s.password == "" {
		s.password = DefaultPassword
		s.log.Warn("esl: no password configured, using FreeSWITCH's default; set password or password_file")
	}
	return s, nil
}

// Name is the source's name.
func (s *Source) Name() monitor.SourceName { return s.cfg.Name }

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

// errSilent is why a link that sent nothing for HeartbeatTimeout is
// dropped.
var errSilent = errors.New("health check: no HEARTBEAT from FreeSWITCH")

// operatorError is an error whose message is in words an operator can act
// on (plainError); the cause stays for errors.Is.
type operatorError struct {
	msg string
	err error
}

func (e *operatorError) Error() string { return e.msg }
func (e *operatorError) Unwrap() error { return e.err }

// Run connects, authenticates, subscribes, resyncs from `show channels`
// and follows events until ctx ends, on the link every source shares
// (monitor.Link): a lost, refused, rejected or silent link is retried
// with capped backoff and jitter. The calls of a lost link are kept for
// the grace period; after a reconnect within it the resync settles them
// (legs still up go on, calls FreeSWITCH no longer has end as failed
// "ended while disconnected"); a link down longer ends them as failed
// "link lost".
func (s *Source) Run(ctx context.Context, sink monitor.Sink) error {
	tr := NewTracker(s.cfg.Name, sink, s.counters)
	tr.SetStateConfig(s.cfg.StateConfig)
	tr.passOn(s.cfg.CustomEvents)
	s.mu.Lock()
	s.tr = tr
	s.mu.Unlock()
	err := s.link.Run(ctx, sink, &protocol{s: s, tr: tr})
	// The link closed its connection, which ends every job's Wait.
	s.pending.Wait()
	return err
}

// protocol is the inbound event socket as a monitor.Protocol.
type protocol struct {
	s  *Source
	tr *Tracker
}

// Connect dials, authenticates and subscribes.
func (p *protocol) Connect(ctx context.Context) (monitor.Session, error) {
	sess, err := p.connect(ctx)
	if err != nil {
		return nil, &operatorError{msg: plainError(err), err: err}
	}
	return sess, nil
}

func (p *protocol) connect(ctx context.Context) (*session, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", p.s.cfg.Address)
	if err != nil {
		return nil, err
	}
	events := make(chan Event, 4096)
	conn, err := Auth(ctx, nc, p.s.password, func(e Event) {
		select {
		case events <- e:
		default:
			// The tracker fell far behind: drop the link and resync
			// rather than block the reader.
			nc.Close()
		}
	}, WithCounters(p.s.counters), WithLogger(p.s.log))
	if err != nil {
		nc.Close()
		return nil, err
	}
	if err := p.s.subscribe(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return p.s.attach(&session{p: p, conn: conn, events: events}), nil
}

// EndCalls ends every call and forgets every leg; the extensions and
// queues go at stop and are unknown after a link lost too long.
func (p *protocol) EndCalls(e monitor.Ending) int {
	n := p.tr.endAll(e)
	p.tr.endState(e.Cause == monitor.CauseStopped)
	return n
}

// session is one authenticated, subscribed event socket.
type session struct {
	p      *protocol
	conn   *Conn
	events chan Event
}

// Resync lists the channels FreeSWITCH has now.
func (ss *session) Resync(ctx context.Context) error {
	out, err := ss.conn.API(ctx, "show", "channels as json")
	if err != nil {
		return err
	}
	rows, err := parseChannels(out)
	if err != nil {
		return err
	}
	ss.p.tr.resync(rows)
	return nil
}

// Follow hands events to the tracker; a link that sends nothing, not even
// HEARTBEAT, for HeartbeatTimeout is dead.
func (ss *session) Follow(ctx context.Context) error {
	s, tr := ss.p.s, ss.p.tr
	watchdog := s.newWatchdog(s.cfg.HeartbeatTimeout)
	defer watchdog.Stop()
	// Beside it, its own goroutine lists registrations and queues.
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
				tr.Handle(<-ss.events)
			}
			err := ss.conn.Err()
			return &operatorError{msg: plainError(err), err: err}
		case e := <-ss.events:
			// Any event proves the link alive; HEARTBEAT is the one a quiet
			// switch still sends.
			watchdog.Reset(s.cfg.HeartbeatTimeout)
			tr.Handle(e)
		case <-watchdog.C():
			return fmt.Errorf("%w for %v", errSilent, s.cfg.HeartbeatTimeout)
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

// subscribe asks for the events the tracker needs, then applies the
// configured filters and nixevents.
func (s *Source) subscribe(ctx context.Context, conn *Conn) error {
	// Every word after CUSTOM is a subclass.
	listen := append(append(append(append([]string{}, channelEvents...), stateEvents...), "CUSTOM"), transferEvents...)
	listen = append(append(listen, stateSubclasses...), s.cfg.CustomEvents...)
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
		// A leg that hung up meanwhile is what hangup wanted.
		if _, err := conn.API(ctx, "uuid_kill", uid+" NORMAL_CLEARING"); err != nil &&
			!(errors.Is(err, monitor.ErrRefused) && strings.Contains(err.Error(), "No such channel")) {
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
	if errors.Is(err, monitor.ErrRefused) && strings.Contains(err.Error(), "No such channel") {
		// The leg hung up meanwhile: the call is gone, nothing refused.
		return fmt.Errorf("%w: %w", monitor.ErrNoSuchCall, err)
	}
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
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		// Bounded by the connection: Wait returns when it closes. The
		// caller's ctx is over; the job is not.
		out, err := job.Wait(context.WithoutCancel(ctx))
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
