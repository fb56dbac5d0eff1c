// Command switchboard is the Switchboard server and its tools: serve,
// passwd, replay, record and fritzmonitor. Run it without arguments for a
// list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
)

// command is one subcommand. run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is filled by each subcommand's file, so that each stays beside
// its own code.
var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: switchboard <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", n, commands[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "switchboard: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	// The first SIGINT or SIGTERM asks the command to stop in order, the
	// second to stop now (see notifyShutdown).
	ctx, stop := notifyShutdown()
	err := c.run(ctx, os.Args[2:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "switchboard %s: %v\n", c.name, err)
		os.Exit(1)
	}
}
