package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/monitor/phonebook"
	"github.com/switchboard/switchboard/sipbridge"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/sessiondb"
	"github.com/switchboard/switchboard/web/webhook"
)

func init() {
	register(command{
		name:    "serve",
		summary: "run the server: the call monitor, its web pages and the softphone; without a config, a demo",
		usage:   []string{"[--config FILE] [--listen ADDR]"},
		about: "Without --config it runs a demo: a source replaying a bundled Fritz!Box recording, and\n" +
			"an admin whose password it prints. The first SIGINT (Ctrl-C) or SIGTERM stops it in\n" +
			"order, a second at once; either way the exit status is 0.\n\n" +
			"From a checkout: make run ARGS=\"--config switchboard.yaml --listen 0.0.0.0:8080\"",
		run: runServe,
	})
}

func runServe(ctx context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "the YAML configuration `file` (default: the built-in demo)")
	listen := fs.String("listen", "", "the `address` to serve on, host:port, instead of the configuration's listen")
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	var (
		cfg      *config
		err      error
		demoPass string
	)
	if *path == "" {
		cfg, demoPass, err = demoConfig()
	} else {
		cfg, err = loadConfig(*path)
	}
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Web.Listen = *listen
	}
	level, _ := cfg.logLevel()
	log := newLoggerTo(sio.err, level)
	for _, w := range cfg.warnings {
		log.Warn(w, "config", displayPath(*path))
	}
	stopProfiler, err := startProfiler(ctx, log)
	if err != nil {
		return err
	}
	defer stopProfiler()
	err = serve(ctx, cfg, log, func(url string) {
		fmt.Fprintf(sio.err, "\nSwitchboard is running at %s\n", url)
		if demoPass != "" {
			fmt.Fprintf(sio.err, "Demo mode: log in as admin with password %s\n\n", demoPass)
		}
	})
	if err == nil {
		log.Info("stopped", "cause", context.Cause(ctx))
	}
	return err
}

// demoConfig is the built-in configuration with a fresh admin password
// (or SWITCHBOARD_DEMO_PASSWORD).
func demoConfig() (*config, string, error) {
	pass := os.Getenv("SWITCHBOARD_DEMO_PASSWORD")
	if pass == "" {
		var b [9]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		pass = base64.RawURLEncoding.EncodeToString(b[:])
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		return nil, "", err
	}
	raw := bytes.ReplaceAll(defaultConfig, []byte("@DEMO_PASSWORD_HASH@"), h)
	cfg, err := parseConfig(raw, "")
	if err != nil {
		return nil, "", err
	}
	// The demo's admin is made here: no warning that nobody can sign in.
	cfg.warnings = nil
	return cfg, pass, nil
}

// openHistory opens the history cfg names: history.db in data_dir, or a
// PostgreSQL database with its retry spool in data_dir.
func openHistory(ctx context.Context, cfg *config, log *slog.Logger) (*history.Store, error) {
	opts := []history.Option{history.WithLogger(log.With("component", "history")), history.WithDefaultCountry(cfg.DefaultCountry)}
	if cfg.History.Driver == history.Postgres {
		return history.OpenPostgres(ctx, cfg.History.DSN, filepath.Join(cfg.DataDir, "history.spool"), opts...)
	}
	return history.Open(ctx, filepath.Join(cfg.DataDir, "history.db"), opts...)
}

// ownCalls returns the calls of kept whose source is configured here (a
// source or an account). In a cluster every node registers the accounts
// and rings its own leg of a call, tagged with its name (sipbridge's
// NodeTag): of an account's calls only this node's legs are its own.
func ownCalls(cfg *config, kept []monitor.Call) []monitor.Call {
	own := map[monitor.SourceName]bool{}
	for i := range cfg.Sources {
		var head sourceHead
		if err := cfg.Sources[i].Decode(&head); err == nil {
			own[monitor.SourceName(head.Name)] = true
		}
	}
	accounts := map[monitor.SourceName]bool{}
	for _, a := range cfg.Accounts {
		own[monitor.SourceName(a.Name)] = true
		accounts[monitor.SourceName(a.Name)] = true
	}
	out := kept[:0]
	for _, c := range kept {
		if !own[c.Source] {
			continue
		}
		if accounts[c.Source] && cfg.clustered && !strings.HasSuffix(string(c.ID), "@"+cfg.Cluster.Node) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// serve wires the hub, the history, the sources, the SIP side and the web
// server, runs them until ctx ends and then stops them in order within
// cfg.ShutdownTimeout (see stopInOrder); the forceContext of ctx (a second
// signal) cuts that short. It returns nil after a stop on ctx, clean or
// forced. onReady is called with the server's URL once it listens.
func serve(ctx context.Context, cfg *config, log *slog.Logger, onReady func(url string)) error {
	store, err := openHistory(ctx, cfg, log)
	if err != nil {
		return err
	}
	hooks, err := webhook.New(cfg.Webhooks, webhook.WithLogger(log.With("component", "webhook")),
		webhook.WithSpool(filepath.Join(cfg.DataDir, "webhook-queue.jsonl")))
	if err != nil {
		_ = store.Close() // nothing was queued yet; the webhook error is the one to report
		return err
	}
	// Until the ordered stop owns them, a failed start closes the durable
	// consumers here (nothing can have been published to them).
	started := false
	defer func() {
		if !started {
			_ = hooks.Close(context.Background())
			_ = store.Close()
		}
	}()
	registry := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{hooks, store} {
		if err := registry.Register(c); err != nil {
			return err
		}
	}
	// The history and the webhooks only queue what the hub hands them;
	// their own goroutines save and post.
	// On a cluster node every node saves every call (a shared history
	// keeps one row of each), but a change's webhook posts are stored by
	// the node it came from only, in the cluster's queue, from which one
	// node posts each: once per cluster.
	var feed *cluster.Feed
	hook := hooks.Observe
	if cfg.clustered {
		hook = func(ev monitor.Event) {
			if feed.FromHere() {
				hooks.Observe(ev)
			}
		}
	}
	// A cluster node's sources publish to the stream, and its hub is fed
	// from it (see clusterSide), numbering its events with the stream's
	// sequence so that a wallboard resumes on any node; alone, they
	// publish to the hub.
	var (
		node    *cluster.Node
		pub     *cluster.Publisher
		hubOpts = []monitor.HubOption{monitor.WithObserver(store.Observe), monitor.WithObserver(hook)}
	)
	if cfg.clustered {
		node, err = cluster.Connect(ctx, cfg.Cluster, cluster.WithLogger(log.With("component", "cluster", "node", cfg.Cluster.Node)))
		if err != nil {
			return err
		}
		defer node.Close()
		hubOpts = append(hubOpts, monitor.WithEpoch(node.Epoch()))
		if err := registry.Register(node); err != nil {
			return fmt.Errorf("cluster: register metrics: %w", err)
		}
	}
	hub := monitor.NewHub(monitor.HubConfig{}, hubOpts...)
	defer hub.Close()
	var base monitor.Sink = hub
	var posts *cluster.Webhooks
	if node != nil {
		pub, feed = node.Publisher(), node.Feed(hub)
		base = pub
		// The posts go through NATS (see clusterWebhooks), so that one
		// node posts each even when the node it came from dies first.
		if posts, err = clusterWebhooks(ctx, node, hooks); err != nil {
			return err
		}
	}
	// The calls a crashed run left active reach the sources through a
	// Restart: a resync takes over those the PBX still has, the rest end
	// as failed "server restarted" and are saved.
	kept, kerr := store.ActiveCalls(ctx)
	if kerr != nil {
		log.Error("history: the calls active when the server last stopped cannot be read; they are tried again at the next start", "err", kerr)
	}
	// Parties whose source gave only a number are named from the
	// phonebooks on their way to the hub.
	named := base
	var book *phonebook.Book
	if len(cfg.Phonebooks) > 0 {
		book, err = phonebook.New(cfg.Phonebooks, cfg.DefaultCountry, phonebook.WithLogger(log.With("component", "phonebook")))
		if err != nil {
			return err
		}
		named = monitor.NewNames(base, book)
		// The books are read once before the sources start, so the first
		// calls after a start (a queue's waiting callers in the PBX's
		// first snapshot among them) are named too. A book that is slow
		// or cannot be read does not hold the start up for longer than
		// this; Run tries it again.
		lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
		if lerr := book.Load(lctx); lerr != nil {
			log.Warn("phonebook: not every book could be read at start; names follow once they are", "error", lerr)
		}
		lcancel()
	}
	if store.Shared() {
		// Other servers write the same history: the calls active_calls
		// holds of sources this one does not have are theirs.
		kept = ownCalls(cfg, kept)
	}
	restart := monitor.NewRestart(named, kept)

	sources := make([]monitor.Source, 0, len(cfg.Sources))
	types := make([]string, 0, len(cfg.Sources))
	controllers := map[monitor.SourceName]monitor.Controller{}
	controls := map[monitor.SourceName]*cluster.Control{}
	running := make([]monitor.SourceName, 0, len(cfg.Sources)+len(cfg.Accounts))
	for i := range cfg.Sources {
		src, err := buildSource(&cfg.Sources[i], hub, store, log)
		if err != nil {
			return err
		}
		sources = append(sources, src)
		var head sourceHead
		_ = cfg.Sources[i].Decode(&head) // buildSource decoded it already
		types = append(types, head.Type)
		running = append(running, src.Name())
		if c, ok := src.(monitor.Controller); ok {
			controllers[src.Name()] = c
			if node != nil && leased(head.Type) {
				// Asked here, carried out by the node connecting it.
				ctl := node.Control(src.Name(), c)
				controllers[src.Name()], controls[src.Name()] = ctl, ctl
			}
		}
	}
	for _, a := range cfg.Accounts {
		running = append(running, monitor.SourceName(a.Name))
	}
	if n := restart.SettleAllBut(running...); n > 0 {
		log.Info("calls of sources no longer configured ended as failed, server restarted", "calls", n)
	}

	var (
		bridge *sipbridge.Bridge
		gw     *gateway.Gateway
		phone  web.PhoneService
	)
	if len(cfg.Accounts) > 0 {
		sc := cfg.SIP
		sc.Accounts = cfg.Accounts
		if sc.InstanceID, err = sipInstanceID(cfg); err != nil {
			return err
		}
		log.Info("sip instance", "instance_id", sc.InstanceID)
		if cfg.clustered {
			sc.NodeTag = cfg.Cluster.Node
		}
		bridge, err = sipbridge.New(sc, restart, sipbridge.WithLogger(log), sipbridge.WithRegisterer(registry))
		if err != nil {
			return err
		}
		// The gateway takes the bridge's incoming calls, so it exists
		// before the bridge runs.
		gw, err = gateway.New(cfg.Gateway, gateway.FromBridge(bridge), gateway.WithLogger(log),
			gateway.WithRegisterer(registry))
		if err != nil {
			return err
		}
		defer gw.Close()
		phone = gw
	}

	// Sign-ins live beside the history, in its database, so that a restart
	// signs nobody out and a revoked wall screen stays revoked.
	var sessionOpts []sessiondb.Option
	if store.Driver() == history.Postgres {
		sessionOpts = append(sessionOpts, sessiondb.Postgres())
	}
	sessions, err := sessiondb.Open(ctx, store.DB(), sessionOpts...)
	if err != nil {
		return err
	}
	// Servers sharing the database count failed sign-ins together; one
	// alone counts them in memory, as before.
	var loginFailures web.LoginFailures
	if store.Shared() {
		loginFailures = sessions
	}
	srv, err := web.New(cfg.Web, web.Deps{Hub: hub, History: store, Controllers: controllers, Webhooks: hooks, Registry: registry, Phone: phone,
		Sessions: sessions, LoginFailures: loginFailures, Owners: ownersOf(node)}, web.WithLogger(log))
	if err != nil {
		return err
	}

	// Every part runs on a context of its own: ctx ending only starts the
	// ordered stop, which ends them one after the other.
	p := &parts{hooks: hooks, hub: hub, store: store, bridge: bridge, gw: gw, srv: srv}
	started = true
	if bridge != nil {
		p.bridgeRun = startTask("sip", bridge.Run)
	}
	if node != nil {
		p.clusterRuns = append(p.clusterRuns, startTask("cluster publisher", pub.Run), startTask("cluster feed", runFeed(feed, pub, feedCatchUp)))
		if posts != nil {
			// After the feed: it stops, then the posts it gave are stored.
			p.clusterRuns = append(p.clusterRuns, startTask("cluster webhooks", posts.Run))
		}
	}
	for i, src := range sources {
		run := func(ctx context.Context) error { return src.Run(ctx, restart) }
		if node != nil && leased(types[i]) {
			run = func(ctx context.Context) error {
				return runLeased(ctx, node, feed, hub, pub, book, src, controls[src.Name()], log)
			}
		}
		p.sourceRuns = append(p.sourceRuns, startTask("source "+string(src.Name()), run))
	}
	if book != nil {
		// The books load and reload off the publishing path; they stop
		// with the sources.
		p.sourceRuns = append(p.sourceRuns, startTask("phonebook", book.Run))
	}
	p.webRun = startTask("web", srv.Run)
	if cfg.path != "" {
		stopReload := reloadOnHangup(cfg.path, srv, log)
		defer stopReload()
	}

	var webErr error
	select {
	case <-srv.Ready():
		if onReady != nil {
			onReady(srv.URL())
		}
		select {
		case <-ctx.Done():
		case <-p.webRun.done:
			webErr = p.webRun.err
		}
	case <-p.webRun.done:
		webErr = p.webRun.err
	}
	if webErr == nil && ctx.Err() == nil {
		webErr = errors.New("web server stopped by itself")
	}
	cause := context.Cause(ctx)
	if webErr != nil {
		cause = webErr
	}
	p.stopInOrder(ctx, log, cause, cfg.ShutdownTimeout)
	return webErr
}
