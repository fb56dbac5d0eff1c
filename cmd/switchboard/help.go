package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

func init() {
	register(command{
		name:    "help",
		summary: "list the commands, or tell one's usage and flags (help COMMAND)",
		usage:   []string{"[COMMAND]"},
		run:     runHelp,
	})
}

// commandOrder is the order of the list of commands: the server first,
// then its tools roughly by how often they are needed. Commands not
// named here follow, sorted.
var commandOrder = []string{"serve", "passwd", "replay", "record", "fritzmonitor", "version", "help"}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	rank := func(n string) int {
		if i := slices.Index(commandOrder, n); i >= 0 {
			return i
		}
		return len(commandOrder)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return names
}

// printHelp writes the list of commands.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "Switchboard: a live call monitor (Fritz!Box, Asterisk, FreeSWITCH) and a browser softphone.")
	fmt.Fprintln(w, "\nusage: switchboard COMMAND [flags]\n\ncommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, n := range commandNames() {
		fmt.Fprintf(tw, "  %s\t%s\n", n, commands[n].summary)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nRun `switchboard COMMAND -h` for a command's usage and flags.")
}

func runHelp(ctx context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("help", flag.ContinueOnError)
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		printHelp(sio.out)
		return nil
	case 1:
		c, ok := commands[fs.Arg(0)]
		if !ok {
			msg := fmt.Sprintf("unknown command %q", fs.Arg(0))
			if s := closest(fs.Arg(0), commandNames()); s != "" {
				msg += fmt.Sprintf("; did you mean `%s`?", s)
			}
			return usageError{msg}
		}
		// A command's own -h is its help: one text, kept beside its flags.
		err := c.run(ctx, sio, []string{"-h"})
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return usagef("help takes one command at most")
}

// parseFlags parses a command's flags from args. -h or --help prints the
// command's help (see printCommandHelp) on stdout and returns
// flag.ErrHelp, which ends the program with status 0; a flag that is
// unknown or badly given is a usage error, with the closest flag
// suggested. fs is named after its command.
func parseFlags(fs *flag.FlagSet, args []string, sio stdio) error {
	// The flag package's own messages and usage text are replaced by
	// these: one format for every command.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(sio.out, commands[fs.Name()], fs)
		return flag.ErrHelp
	}
	if err != nil {
		if name := undefinedFlag(fs, args); name != "" {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			msg := "unknown flag " + flagName(name)
			if s := closest(name, names); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", flagName(s))
			}
			return usageError{msg}
		}
		return usageError{err.Error()}
	}
	return nil
}

// undefinedFlag returns the name of the first flag in args that fs does
// not define, or "".
func undefinedFlag(fs *flag.FlagSet, args []string) string {
	for _, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return ""
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if fs.Lookup(name) == nil {
			return name
		}
	}
	return ""
}

// flagName writes a flag as its help shows it: -i for one letter, --name
// for longer names (the flag package takes either form).
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// printCommandHelp writes c's help: its summary, usage, what it says
// about itself, and its flags with their defaults.
func printCommandHelp(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "switchboard %s: %s\n\n", c.name, c.summary)
	for i, u := range c.usage {
		lead := "usage:"
		if i > 0 {
			lead = "      "
		}
		fmt.Fprintf(w, "%s switchboard %s %s\n", lead, c.name, u)
	}
	if len(c.usage) == 0 {
		fmt.Fprintf(w, "usage: switchboard %s\n", c.name)
	}
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.about))
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, f := range flags {
		arg, usage := flag.UnquoteUsage(f)
		switch arg {
		case "":
		case "string", "value":
			arg = " VALUE"
		default:
			arg = " " + strings.ToUpper(arg)
		}
		def := ""
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(tw, "  %s%s\t%s%s\n", flagName(f.Name), arg, usage, def)
	}
	tw.Flush()
}
