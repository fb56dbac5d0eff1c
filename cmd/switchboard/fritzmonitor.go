package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz"
)

func init() {
	register(command{name: "fritzmonitor", summary: "print a Fritz!Box call monitor's raw lines (-i HOST [-p PORT])", run: runFritzmonitor})
}

func runFritzmonitor(ctx context.Context, args []string) error {
	return fritzmonitor(ctx, args, os.Stdout, os.Stderr)
}

// fritzmonitor is the command-line call monitor users know from
// fritzconnection: it prints every line the router sends, as it is, and
// reconnects by itself until ctx ends (^C).
func fritzmonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fritzmonitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("i", "169.254.1.1", "the router's address (its emergency address by default; usually 192.168.178.1 or fritz.box)")
	port := fs.Int("p", 1012, "the call monitor's port")
	sockTimeout := fs.Duration("t", 10*time.Second, "socket timeout: a silent link is health-checked after this long")
	healthTimeout := fs.Duration("c", 10*time.Second, "health-check timeout: how long the probe connection may take")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: switchboard fritzmonitor -i HOST [-p PORT] [-t SOCKET-TIMEOUT] [-c HEALTHCHECK-TIMEOUT]")
		fmt.Fprintln(stderr, "\nThe call monitor must be enabled on the router: dial #96*5* on a connected phone.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	cfg := fritz.Config{
		Name:           "fritzmonitor",
		LinkConfig:     monitor.LinkConfig{Address: net.JoinHostPort(*host, strconv.Itoa(*port))},
		HealthInterval: *sockTimeout,
		HealthTimeout:  *healthTimeout,
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "switchboard %s\n", fritzmonitorVersion())
	fmt.Fprintf(stdout, "start fritzmonitor on address: %s\n", cfg.Address)
	fmt.Fprintf(stdout, "settings for socket-timeout: %s and healthcheck-timeout: %s\n", *sockTimeout, *healthTimeout)
	fmt.Fprintf(stdout, "(to stop press ^C)\n\n")

	everConnected := false
	onLink := func(ev fritz.LinkEvent) {
		switch ev.State {
		case monitor.LinkConnected:
			if everConnected {
				fmt.Fprintf(stdout, "reconnected to %s\n", ev.Address)
			}
			everConnected = true
		case monitor.LinkDown:
			fmt.Fprintf(stdout, "connection lost: %v; reconnecting in %s\n", ev.Err, ev.Retry.Round(time.Millisecond))
		}
	}
	onLine := func(line []byte) {
		// The line as the router sent it, CR LF stripped.
		fmt.Fprintf(stdout, "%s\n", line)
	}
	if err := fritz.Lines(ctx, cfg, onLine, onLink); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nstopped")
	return nil
}

// fritzmonitorVersion is the module version the binary was built from, or "(devel)".
func fritzmonitorVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
