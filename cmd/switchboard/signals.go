package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchboard/switchboard/web"
)

// errSignal is the cause of a context ended by SIGINT or SIGTERM.
var errSignal = errors.New("received signal")

// forceExitGrace is how long a command may take to return after the
// second signal before the process exits anyway.
const forceExitGrace = 5 * time.Second

// forceKey carries, in a command's context, the context that the second
// signal ends.
type forceKey struct{}

// forceContext returns the context that ends when a stop already under
// way must be cut short (the second SIGINT or SIGTERM); one that never
// ends when ctx carries none.
func forceContext(ctx context.Context) context.Context {
	if f, ok := ctx.Value(forceKey{}).(context.Context); ok {
		return f
	}
	return context.Background()
}

// withForce returns ctx carrying force as its forceContext.
func withForce(ctx, force context.Context) context.Context {
	return context.WithValue(ctx, forceKey{}, force)
}

// notifyShutdown turns SIGINT and SIGTERM into a stop in two steps: the
// first ends the returned context (an orderly stop; its cause names the
// signal), the second ends its forceContext (stop now). A command still
// running forceExitGrace after that, or a third signal, ends the process
// with status 1. stop releases the signals and waits for the watcher.
func notifyShutdown() (_ context.Context, stop func()) {
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	force, forceNow := context.WithCancelCause(context.Background())
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var stuck <-chan time.Time
		for n := 0; ; {
			select {
			case s := <-sigs:
				n++
				why := fmt.Errorf("%w %s", errSignal, s)
				switch n {
				case 1:
					cancel(why)
				case 2:
					forceNow(why)
					stuck = time.After(forceExitGrace)
				default:
					fmt.Fprintf(os.Stderr, "switchboard: %v again: exiting now\n", why)
					os.Exit(1)
				}
			case <-stuck:
				fmt.Fprintf(os.Stderr, "switchboard: still running %s after a forced stop: exiting now\n", forceExitGrace)
				os.Exit(1)
			case <-quit:
				return
			}
		}
	}()
	return withForce(ctx, force), func() {
		signal.Stop(sigs)
		close(quit)
		<-done
		cancel(nil)
		forceNow(nil)
	}
}

// credentialSetter is what a reload needs of the web server.
type credentialSetter interface {
	SetCredentials(users []web.User, tokens []web.Token) error
}

// reloadOnHangup reads the configuration at path again on every SIGHUP
// and hands its users and tokens to srv, which signs out at once whoever
// lost their sign-in by it (see web.Server.SetCredentials). The rest of
// the file takes effect at the next start. A file that no longer reads or
// validates changes nothing and is logged. stop ends the watcher and
// waits for it.
func reloadOnHangup(path string, srv credentialSetter, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				cfg, err := loadConfig(path)
				if err == nil {
					err = srv.SetCredentials(cfg.Web.Users, cfg.Web.Tokens)
				}
				if err != nil {
					log.Warn("reload on SIGHUP failed; users and tokens unchanged", "err", err)
					continue
				}
				log.Info("reloaded users and tokens on SIGHUP", "users", len(cfg.Web.Users), "tokens", len(cfg.Web.Tokens))
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}
