package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz"
)

func init() {
	register(command{
		name:    "fritzmonitor",
		summary: "print a Fritz!Box call monitor's raw lines as they come, reconnecting by itself",
		usage:   []string{"[-i HOST] [-p PORT] [-t SOCKET-TIMEOUT] [-c HEALTHCHECK-TIMEOUT]"},
		about: "The lines go to stdout as the router sends them, so that they can be saved and fed\n" +
			"back with `switchboard replay --source fritz FILE`; what the command has to say goes to\n" +
			"stderr. Stop it with Ctrl-C.\n\n" +
			"The call monitor must be switched on once: dial #96*5* on a telephone connected to the\n" +
			"Fritz!Box (#96*4* switches it off).",
		run: runFritzmonitor,
	})
}

// callMonitorHint is what to do when the router refuses the call monitor.
const callMonitorHint = "Is the call monitor switched on? Dial #96*5* on a telephone connected to the Fritz!Box (#96*4* switches it off)."

// fritzmonitor is the command-line call monitor users know from
// fritzconnection: it prints every line the router sends, as it is, and
// reconnects by itself until ctx ends (^C).
func runFritzmonitor(ctx context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("fritzmonitor", flag.ContinueOnError)
	host := fs.String("i", "169.254.1.1", "the router's `host` or host:port: usually 192.168.178.1 or fritz.box; the default is its emergency address")
	port := fs.Int("p", 1012, "the call monitor's `port`")
	sockTimeout := fs.Duration("t", 10*time.Second, "socket timeout: a silent link is health-checked after this long")
	healthTimeout := fs.Duration("c", 10*time.Second, "health-check timeout: how long the probe connection may take")
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected argument %q (the router's address goes after -i)", fs.Arg(0))
	}
	portSet := false
	fs.Visit(func(f *flag.Flag) { portSet = portSet || f.Name == "p" })
	addr := strings.TrimSpace(*host)
	if addr == "" {
		return usagef("-i: give the router's address, such as 192.168.178.1 or fritz.box")
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if portSet {
			return usagef("-i %s has a port and -p gives another: give one", addr)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return usagef("-i %s: the port is a number from 1 to 65535", addr)
		}
		addr = net.JoinHostPort(h, p)
	} else {
		if *port < 1 || *port > 65535 {
			return usagef("-p %d: a port is a number from 1 to 65535", *port)
		}
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), strconv.Itoa(*port))
	}
	if *sockTimeout <= 0 {
		return usagef("-t %s: want a duration above zero, such as 10s", *sockTimeout)
	}
	if *healthTimeout <= 0 {
		return usagef("-c %s: want a duration above zero, such as 10s", *healthTimeout)
	}
	cfg := fritz.Config{
		Name:           "fritzmonitor",
		LinkConfig:     monitor.LinkConfig{Address: addr},
		HealthInterval: *sockTimeout,
		HealthTimeout:  *healthTimeout,
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(sio.err, "switchboard %s\n", readBuildVersion().version)
	fmt.Fprintf(sio.err, "start fritzmonitor on address: %s\n", cfg.Address)
	fmt.Fprintf(sio.err, "settings for socket-timeout: %s and healthcheck-timeout: %s\n", *sockTimeout, *healthTimeout)
	fmt.Fprintf(sio.err, "(to stop press ^C)\n\n")

	var (
		up, everUp bool // the link is up; it has been up once
		failed     bool // an attempt failed since the link was last up
		hinted     bool
	)
	onLink := func(ev fritz.LinkEvent) {
		switch ev.State {
		case monitor.LinkConnected:
			switch {
			case everUp:
				fmt.Fprintf(sio.err, "reconnected to %s\n", ev.Address)
			case failed:
				fmt.Fprintf(sio.err, "connected to %s\n", ev.Address)
			}
			up, everUp, failed = true, true, false
		case monitor.LinkDown:
			retry := ev.Retry.Round(time.Millisecond)
			if up {
				fmt.Fprintf(sio.err, "connection lost: %s; reconnecting in %s\n", lostReason(ev.Err), retry)
				up = false
				return
			}
			failed = true
			reason, refused := connectReason(ev.Err)
			fmt.Fprintf(sio.err, "could not connect to %s: %s; trying again in %s\n", ev.Address, reason, retry)
			if !hinted && !everUp {
				hinted = true
				if refused {
					fmt.Fprintln(sio.err, "The router refuses the call monitor's port. "+callMonitorHint)
				} else {
					fmt.Fprintln(sio.err, "Is -i the router's address (usually 192.168.178.1 or fritz.box)? "+callMonitorHint)
				}
			}
		}
	}
	onLine := func(line []byte) {
		// The line as the router sent it, CR LF stripped.
		fmt.Fprintf(sio.out, "%s\n", line)
	}
	if err := fritz.Lines(ctx, cfg, onLine, onLink); err != nil {
		return err
	}
	fmt.Fprintln(sio.err, "\nstopped")
	return nil
}

// connectReason says in words why a connection could not be made, and
// whether the router refused it (it is there, its call monitor is not).
func connectReason(err error) (string, bool) {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("%s is not a known host name", dnsErr.Name), false
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "the host is unreachable", false
	case errors.Is(err, syscall.ENETUNREACH):
		return "the network is unreachable", false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer (timed out)", false
	}
	return lastPart(err), false
}

// lostReason says in words why a connection that was up ended.
func lostReason(err error) string {
	switch {
	case errors.Is(err, fritz.ErrHealthCheck):
		return "the router stopped answering (the health check's probe connection failed)"
	case errors.Is(err, syscall.ECONNRESET):
		return "the router reset the connection"
	}
	return lastPart(err)
}

// lastPart is the innermost part of a wrapped error's message: "connection
// closed by router" of "fritz read 192.168.178.1:1012: connection closed
// by router".
func lastPart(err error) string {
	if err == nil {
		return "the connection ended"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
