package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

// Hub is what the server needs of monitor.Hub.
type Hub interface {
	Subscribe(resume *monitor.Resume, opts ...monitor.SubscribeOption) (*monitor.Subscription, error)
	Snapshot() monitor.Snapshot
	Stats() monitor.HubStats
	AllCounters() map[monitor.SourceName]*monitor.Counters
	Epoch() string
}

// History is what the server needs of the call history store.
type History interface {
	Query(ctx context.Context, f history.Filter) (history.Page, error)
	Recent(ctx context.Context, since time.Time, limit int) ([]monitor.Call, error)
	// Each hands every call f selects to fn, newest first, one at a
	// time (the CSV export).
	Each(ctx context.Context, f history.Filter, fn func(monitor.Call) error) error
}

// Deps are the services the server shows and drives.
type Deps struct {
	// Hub is required.
	Hub Hub
	// History may be nil: the history page then says it is not configured.
	History History
	// Controllers act on calls of the sources that offer call control.
	Controllers map[monitor.SourceName]monitor.Controller
	// Webhooks, when set, are listed on /healthz.
	Webhooks Webhooks
	// Phone is the softphone gateway; nil leaves /softphone saying so.
	Phone PhoneService
	// Registry receives the server's collectors and is served on /metrics;
	// nil means a new registry.
	Registry *prometheus.Registry
	// Sessions keeps the sign-ins (users' sessions and wall-screen
	// devices); nil keeps them in memory, so a restart signs everyone out.
	Sessions SessionStore
	// LoginFailures, when set, counts failed sign-ins with the other
	// servers sharing it (see LoginFailures); nil counts them here only.
	LoginFailures LoginFailures
	// Owners, on a node of a cluster, says which node connects each
	// source; /healthz shows it. Nil on a server alone.
	Owners SourceOwners
}

// Option sets a rare knob of the server.
type Option func(*Server)

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithOIDCClient sets the HTTP client that talks to the OpenID
// provider (discovery, keys, token exchange), for a provider whose
// certificate a private CA signed. Default: a client with a 10 s
// timeout.
func WithOIDCClient(c *http.Client) Option { return func(s *Server) { s.oidcClient = c } }

// WithClock replaces time.Now for sessions, links and rate limits.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithEventTimings sets how long one /events write may take before the
// client is dropped as too slow (default 10s) and how often idle clients
// are pinged (default 30s).
func WithEventTimings(write, ping time.Duration) Option {
	return func(s *Server) {
		if write > 0 {
			s.writeTimeout = write
		}
		if ping > 0 {
			s.pingInterval = ping
		}
	}
}

// defaultEventCoalesce: a wall screen does not see 50 ms, the server's
// CPU does (a loopback or LAN write costs the same for one change as for
// five).
const defaultEventCoalesce = 50 * time.Millisecond

// WithEventCoalesce sets how long the changes of an /events socket that
// was written less than d ago wait to go out in one write (default
// 50 ms; 0 or less sends every change at once). A change after a quiet
// spell always goes out at once.
func WithEventCoalesce(d time.Duration) Option {
	return func(s *Server) { s.eventCoalesce = max(d, 0) }
}

// WithEventBacklog sets how many bytes an /events client may leave
// unread in the kernel before the stream holds its events back (default
// 256 KiB, less on a smaller send buffer), and how long it may stay so
// before it is dropped as too slow (default 10s).
func WithEventBacklog(bytes int, slowAfter time.Duration) Option {
	return func(s *Server) {
		if bytes > 0 {
			s.eventBacklog = bytes
		}
		if slowAfter > 0 {
			s.slowAfter = slowAfter
		}
	}
}

// Server is Switchboard's HTTP server. Create it with New, then either
// Run it or mount Handler in a server of your own.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	// now is the clock, its times in the display zone (loc, named zone
	// for the scripts), so that "today" and every time a page shows are
	// the zone's.
	now func() time.Time
	loc *time.Location
	// catalogue holds the pages' words in every language.
	catalogue *Catalogue
	zone      string

	mux     *http.ServeMux
	handler http.Handler
	nav     []NavItem

	creds    atomic.Pointer[credentials]
	sessions SessionStore
	// lastSweep is when expired sign-ins were last deleted (Unix ns).
	lastSweep atomic.Int64
	limiter   *loginLimiter
	checks    *checkGate
	walls     *wallLinks
	// dummyHash is compared against for unknown user names, so that a
	// missing user costs as much time as a wrong password.
	dummyHash []byte
	// checkPassword compares a password with its bcrypt hash.
	checkPassword func(hash, password []byte) error

	proxies proxySet
	// oidc is the OpenID provider's client; nil without auth.oidc.
	oidc *oidcLogin
	// oidcClient is the HTTP client for the provider (WithOIDCClient).
	oidcClient *http.Client
	// handoffs are popup sign-ins waiting for their frame.
	handoffs *handoffs
	// proxyAuth believes a trusted proxy's user header; nil without
	// auth.proxy_header.
	proxyAuth      *proxyAuth
	originPatterns []string
	metrics        *webMetrics

	writeTimeout time.Duration
	pingInterval time.Duration
	eventBacklog int
	slowAfter    time.Duration
	// eventCoalesce is how long a busy /events socket's changes may wait
	// to go out together (the mux only; 0: never).
	eventCoalesce time.Duration

	ready chan struct{}
	addr  net.Addr // set before ready is closed

	// streamMu guards stopping, open, perKey and streams.Add, so that no
	// stream starts after shutdown waited for them. The session store is
	// never called under it.
	streamMu sync.Mutex
	stopping bool
	// stop is closed when the shutdown tells the streams to end;
	// stopCtx ends with it, so that a stream's context can follow the
	// shutdown without a goroutine waiting for it (context.AfterFunc).
	stop     chan struct{}
	stopCtx  context.Context //nolint:containedctx // the shutdown's signal, not a request's
	stopCtxs context.CancelFunc
	streams  sync.WaitGroup
	// evmux serves the plain TCP /events sockets (Linux).
	evmux eventMuxSlot
	// open are the open streams, by whom they were opened (their raw
	// connections are closed when a shutdown is forced; forced says that
	// has happened); perKey counts them per endpoint and cap key.
	open   map[*openStream]struct{}
	perKey map[string]int
	forced bool

	// runMu guards what Run sets up for Shutdown.
	runMu      sync.Mutex
	ln         net.Listener
	srv        *http.Server
	cancelBase context.CancelFunc // ends the contexts of all requests

	shutOnce sync.Once
	shutDone chan struct{}
	shutErr  error // set before shutDone is closed
}

// runShutdownTimeout bounds the shutdown Run does by itself when its ctx
// ends (without a Shutdown of the caller's).
const runShutdownTimeout = 10 * time.Second

// New builds a server from a validated configuration.
func New(cfg Config, deps Deps, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Hub == nil {
		return nil, fmt.Errorf("web: %w: a hub is required", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:           cfg,
		deps:          deps,
		log:           slog.Default(),
		now:           time.Now,
		mux:           http.NewServeMux(),
		checkPassword: bcrypt.CompareHashAndPassword,
		writeTimeout:  10 * time.Second,
		pingInterval:  30 * time.Second,
		eventBacklog:  256 << 10,
		slowAfter:     10 * time.Second,
		eventCoalesce: defaultEventCoalesce,
		ready:         make(chan struct{}),
		stop:          make(chan struct{}),
		open:          map[*openStream]struct{}{},
		perKey:        map[string]int{},
		shutDone:      make(chan struct{}),
	}
	s.stopCtx, s.stopCtxs = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "web")
	cat, err := defaultCatalogue()
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.catalogue = cat
	loc, zone, named, err := displayZone(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("web: %w: %w", ErrInvalidConfig, err)
	}
	if !named {
		s.log.Warn("the server's time zone has no name the browsers know; times are shown in UTC (set timezone: to an IANA name such as Europe/Berlin)")
	}
	clock := s.now
	s.loc, s.zone, s.now = loc, zone, func() time.Time { return clock().In(loc) }
	s.creds.Store(newCredentials(cfg.Users, cfg.Tokens))
	s.proxies, _ = parseProxies(cfg.TrustedProxies) // Validate has checked them
	s.originPatterns = cfg.AllowedOrigins
	if cfg.PublicURL != "" {
		host, _ := publicOrigin(cfg.PublicURL)
		s.originPatterns = append(slices.Clone(cfg.AllowedOrigins), host)
	}
	s.sessions = deps.Sessions
	if s.sessions == nil {
		s.sessions = NewMemorySessions()
	}
	s.limiter = newLoginLimiter(s.now)
	s.checks = newCheckGate(cfg.Limits.LoginConcurrency)
	s.walls = newWallLinks(s.now)
	s.handoffs = newHandoffs(s.now)
	if cfg.Auth.OIDC != nil {
		if s.oidc, err = newOIDCLogin(*cfg.Auth.OIDC, s.oidcClient); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
	}
	if cfg.Auth.ProxyHeader != nil {
		s.proxyAuth = newProxyAuth(*cfg.Auth.ProxyHeader)
	}
	cost := bcrypt.MinCost
	if len(cfg.Users) > 0 {
		// Same cost as real users, so that timing does not tell them apart.
		cost, _ = bcrypt.Cost([]byte(cfg.Users[0].PasswordHash))
	}
	h, err := bcrypt.GenerateFromPassword([]byte("switchboard-unknown-user"), cost)
	if err != nil {
		return nil, fmt.Errorf("web: dummy hash: %w", err)
	}
	s.dummyHash = h
	if s.deps.Registry == nil {
		s.deps.Registry = prometheus.NewRegistry()
	}
	m, collectors := newWebMetrics(func() float64 { return float64(s.checks.running()) })
	s.metrics = m
	collectors = append(collectors, newCollector(deps.Hub))
	if deps.Owners != nil {
		collectors = append(collectors, s.eventsSubscribers(deps.Owners.Name()))
	}
	for _, c := range collectors {
		if err := s.deps.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("web: register metrics: %w", err)
		}
	}
	s.routes()
	s.handler = s.chain(s.mux)
	return s, nil
}

// Handler returns the server's whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready is closed once Run listens; Addr then returns the address.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address Run listens on; nil before Ready.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
		return s.addr
	default:
		return nil
	}
}

// URL returns where Run serves, "https://ADDR/" when it speaks TLS, else
// "http://ADDR/"; empty before Ready.
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	return s.urlOf(a)
}

func (s *Server) urlOf(a net.Addr) string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + a.String() + "/"
}

// Run listens on the configured address and serves until ctx ends or
// Shutdown is called. When ctx ends, Run shuts down as Shutdown does,
// bounded by 10 s. It returns nil on a clean stop, and once a Shutdown
// called elsewhere has finished.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	raw, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web listen %s: %w", s.cfg.Listen, err)
	}
	// Requests run on a context of their own that only a forced shutdown
	// ends: a softphone call must not end because ctx did.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	lim := s.cfg.Limits
	raw = newCapListener(raw, lim, s.proxies, s.metrics, s.log)
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: lim.HeaderTimeout,
		// The whole request, headers and body; the handlers' own body
		// deadline (limitBodies) is the one that normally applies.
		ReadTimeout: lim.HeaderTimeout + lim.BodyTimeout,
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return base },
	}
	if s.cfg.TLSCert != "" {
		certs, err := newCertReloader(s.cfg.TLSCert, s.cfg.TLSKey, s.log)
		if err != nil {
			_ = raw.Close()
			return fmt.Errorf("web tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
		raw = tls.NewListener(raw, srv.TLSConfig)
	}
	ln := &onceCloseListener{Listener: raw}
	s.runMu.Lock()
	s.ln, s.srv, s.cancelBase = ln, srv, cancelBase
	s.runMu.Unlock()
	if s.isStopping() {
		// StopAccepting came first.
		_ = ln.Close()
	}
	s.addr = ln.Addr()
	s.log.Info("web server listening", "url", s.urlOf(s.addr))
	close(s.ready)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	served := false
	select {
	case serveErr = <-errc:
		served = true
		if s.isStopping() || errors.Is(serveErr, http.ErrServerClosed) {
			// StopAccepting closed the listener: wait for the Shutdown
			// that goes with it.
			serveErr = nil
			select {
			case <-s.shutDone:
				return nil
			case <-ctx.Done():
			}
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runShutdownTimeout)
	defer cancel()
	err = s.Shutdown(sctx)
	if !served {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && !s.isStopping() {
			serveErr = e
		}
	}
	if serveErr != nil {
		return fmt.Errorf("web serve: %w", serveErr)
	}
	return err
}

// StopAccepting closes the listener and refuses new /events and /phone
// streams (an upgrade still on its way is closed at once with 1001 going
// away); requests and streams in progress go on. It is idempotent.
func (s *Server) StopAccepting() {
	s.streamMu.Lock()
	s.stopping = true
	s.streamMu.Unlock()
	s.runMu.Lock()
	ln := s.ln
	s.runMu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

// Shutdown stops the server in order: it stops accepting
// (StopAccepting); closes every /events and /phone stream with 1001
// (going away) and "server shutting down" — a softphone session hangs up
// its call as it ends; then waits for the streams and the requests in
// progress. When ctx ends first, the rest is forced: every connection is
// closed and every request's context cancelled, and Shutdown returns
// ctx's error. Run returns once Shutdown has. Later calls wait for the
// first and return its result; their ctx can force it too.
func (s *Server) Shutdown(ctx context.Context) error {
	first := false
	s.shutOnce.Do(func() { first = true })
	if !first {
		select {
		case <-s.shutDone:
		case <-ctx.Done():
			s.force()
			<-s.shutDone
		}
		return s.shutErr
	}
	defer close(s.shutDone)
	s.shutErr = s.shutdown(ctx)
	return s.shutErr
}

func (s *Server) shutdown(ctx context.Context) error {
	start := time.Now()
	s.StopAccepting()
	s.streamMu.Lock()
	open := len(s.open)
	close(s.stop)
	s.stopCtxs()
	s.streamMu.Unlock()
	s.runMu.Lock()
	srv := s.srv
	s.runMu.Unlock()

	httpDone := make(chan error, 1)
	if srv == nil {
		httpDone <- nil
	} else {
		go func() { httpDone <- srv.Shutdown(ctx) }()
	}
	streamsDone := make(chan struct{})
	go func() {
		defer close(streamsDone)
		s.streams.Wait()
	}()
	forced := false
	select {
	case <-streamsDone:
	case <-ctx.Done():
		forced = true
		s.force()
		<-streamsDone
	}
	if err := <-httpDone; err != nil {
		// Requests still running at the deadline.
		forced = true
		_ = srv.Close()
	}
	s.runMu.Lock()
	if s.cancelBase != nil {
		s.cancelBase()
	}
	s.runMu.Unlock()
	s.log.Info("web server stopped", "streams", open, "took", time.Since(start).Round(time.Millisecond))
	if forced {
		return fmt.Errorf("web shutdown: %w", ctx.Err())
	}
	return nil
}

// force closes the raw connection of every open stream and cancels every
// request's context.
func (s *Server) force() {
	s.runMu.Lock()
	if s.cancelBase != nil {
		s.cancelBase()
	}
	s.runMu.Unlock()
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if len(s.open) > 0 && !s.forced {
		s.log.Warn("web shutdown forced: closing connections", "streams", len(s.open))
	}
	s.forced = true
	for st := range s.open {
		st.h.closeNow()
	}
}

func (s *Server) isStopping() bool {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	return s.stopping
}
