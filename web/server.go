package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

// Hub is what the server needs of monitor.Hub.
type Hub interface {
	Subscribe(resume *monitor.Resume) (*monitor.Subscription, error)
	Snapshot() monitor.Snapshot
	Stats() monitor.HubStats
	AllCounters() map[monitor.SourceName]*monitor.Counters
	Epoch() string
}

// History is what the server needs of the call history store.
type History interface {
	Query(ctx context.Context, f history.Filter) (history.Page, error)
	Recent(ctx context.Context, since time.Time, limit int) ([]monitor.Call, error)
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
}

// Option sets a rare knob of the server.
type Option func(*Server)

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

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

// Server is Switchboard's HTTP server. Create it with New, then either
// Run it or mount Handler in a server of your own.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	mux     *http.ServeMux
	handler http.Handler
	nav     []NavItem

	users    map[string]User
	sessions *sessionStore
	limiter  *loginLimiter
	walls    *wallLinks
	// dummyHash is compared against for unknown user names, so that a
	// missing user costs as much time as a wrong password.
	dummyHash []byte

	writeTimeout time.Duration
	pingInterval time.Duration

	ready chan struct{}
	addr  net.Addr // set before ready is closed

	// streamMu guards stopping and streams.Add, so that no stream starts
	// after shutdown waited for them.
	streamMu sync.Mutex
	stopping bool
	stop     chan struct{}
	streams  sync.WaitGroup
}

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
		cfg:          cfg,
		deps:         deps,
		log:          slog.Default(),
		now:          time.Now,
		mux:          http.NewServeMux(),
		users:        make(map[string]User, len(cfg.Users)),
		writeTimeout: 10 * time.Second,
		pingInterval: 30 * time.Second,
		ready:        make(chan struct{}),
		stop:         make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "web")
	for _, u := range cfg.Users {
		s.users[u.Name] = u
	}
	s.sessions = newSessionStore(cfg.SessionTTL, s.now)
	s.limiter = newLoginLimiter(s.now)
	s.walls = newWallLinks(s.now)
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
	if err := s.deps.Registry.Register(newCollector(deps.Hub)); err != nil {
		return nil, fmt.Errorf("web: register metrics: %w", err)
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

// Run listens on the configured address and serves until ctx ends, then
// closes every /events stream with "going away" and shuts down
// gracefully. It returns nil on a clean stop.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web listen %s: %w", s.cfg.Listen, err)
	}
	scheme := "http"
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("web tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	s.addr = ln.Addr()
	close(s.ready)
	s.log.Info("web server listening", "url", scheme+"://"+ln.Addr().String()+"/")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.stopStreams()
		return fmt.Errorf("web serve: %w", err)
	case <-ctx.Done():
	}
	s.stopStreams()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("web shutdown: %w", err)
	}
	return nil
}

// stopStreams ends every /events stream with "going away" and waits for
// them; it is idempotent.
func (s *Server) stopStreams() {
	s.streamMu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stop)
	}
	s.streamMu.Unlock()
	s.streams.Wait()
}

// startStream registers a stream; false once the server is stopping.
func (s *Server) startStream() bool {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.stopping {
		return false
	}
	s.streams.Add(1)
	return true
}
