// Command switchboard is the Switchboard server and its tools: serve,
// passwd, replay, record, fritzmonitor and version. `switchboard help`
// lists them; `switchboard COMMAND -h` tells one's usage and flags.
//
// Each command lives in a file of its own and registers itself (see
// register); main.go dispatches and turns errors into exit statuses,
// help.go prints the help, config.go and configcheck.go read the
// configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	// The IANA time zone database inside the binary, so that timezone:
	// and a Fritz!Box source's location: work on a host without one (a
	// minimal container image).
	_ "time/tzdata"
)

// stdio is where a command reads and writes: the process's own standard
// streams, or a test's buffers.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// command is one subcommand.
type command struct {
	name string
	// summary is one line for the list of commands.
	summary string
	// usage are the synopsis lines, each after "switchboard NAME ".
	usage []string
	// about is a paragraph of help after the usage, or "".
	about string
	// run gets the arguments after the command's name.
	run func(ctx context.Context, sio stdio, args []string) error
}

// commands is filled by each subcommand's file, so that each stays beside
// its own code.
var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// usageError is a command line that cannot be run as given: exit status
// 2, with a pointer to the command's help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	// The first SIGINT or SIGTERM asks the command to stop in order, the
	// second to stop now (see notifyShutdown).
	ctx, stop := notifyShutdown()
	code := runMain(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	os.Exit(code)
}

// runMain runs the command line args (without the program name) and
// returns the exit status: 0 when the command did its work or showed the
// help asked for (a stop on a signal included), 1 when it failed, 2 when
// the command line is wrong.
func runMain(ctx context.Context, args []string, sio stdio) int {
	if len(args) == 0 {
		printHelp(sio.err)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		msg := fmt.Sprintf("switchboard: unknown command %q", name)
		if s := closest(name, commandNames()); s != "" {
			msg += fmt.Sprintf("; did you mean `%s`?", s)
		} else if strings.HasPrefix(name, "-") {
			msg += "; the command comes first, its flags after it: switchboard COMMAND [flags]"
		}
		fmt.Fprintf(sio.err, "%s\nrun `switchboard help` for the list of commands\n", msg)
		return 2
	}
	err := c.run(ctx, sio, args[1:])
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(sio.err, "switchboard %s: %v\nrun `switchboard %s -h` for its usage and flags\n", c.name, err, c.name)
		return 2
	default:
		fmt.Fprintf(sio.err, "switchboard %s: %v\n", c.name, err)
		return 1
	}
}
