package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// replayFunc feeds a recorded stream through a source's tracker as fast as
// it can.
type replayFunc func(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink) error

func init() {
	register(command{
		name:    "replay",
		summary: "replay a recorded stream and print every change as an event envelope (JSON)",
		usage:   []string{"[--source fritz|ami|esl] [--name NAME] FILE   (FILE - for stdin)"},
		about: "A Fritz!Box recording is the lines `switchboard fritzmonitor` prints; an AMI or\n" +
			"FreeSWITCH recording is the JSON lines `switchboard record` writes (or a JSON array\n" +
			"of events). Every change goes to stdout as one line, the envelope /events sends;\n" +
			"a summary, and the lines that could not be read, go to stderr. The exit status is 1\n" +
			"when nothing in the file could be read.",
		run: runReplay,
	})
}

// replay runs the replay command reading stdin for "-", printing the
// envelopes to stdout and the summary, and the report of what could not
// be read, to stderr.
func runReplay(ctx context.Context, sio stdio, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	kind := fs.String("source", "fritz", "the recording's `type`: "+strings.Join(replayKinds(), ", "))
	name := fs.String("name", "", "the source `name` in the printed calls (default: the recording's type)")
	if err := parseFlags(fs, args, sio); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("replay needs one FILE (- for stdin)")
	}
	fn, ok := replayers[*kind]
	if !ok {
		msg := fmt.Sprintf("unknown --source %q: want %s", *kind, orList(replayKinds()))
		if s := closest(*kind, replayKinds()); s != "" {
			msg = fmt.Sprintf("unknown --source %q; did you mean %s?", *kind, s)
		}
		return usageError{msg}
	}
	file := fs.Arg(0)
	in := sio.in
	if file == "-" {
		file = "(stdin)"
	} else {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	if *name == "" {
		*name = *kind
	}
	out := bufio.NewWriter(sio.out)
	defer out.Flush()
	p := newPrintSink(out)
	defer p.Close()
	start := time.Now()
	var rep inputReport
	err := fn(ctx, monitor.SourceName(*name), newRecordingFilter(*kind, in, &rep), p)
	rep.write(sio.err, file)
	if err != nil {
		return fmt.Errorf("replay %s: %w", file, err)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if err := rep.verdict(*kind); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	p.summary(sio.err, time.Since(start))
	return p.err
}

func replayKinds() []string {
	ks := make([]string, 0, len(replayers))
	for k := range replayers {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// printSink writes every change as one line: the event envelope, exactly
// as /events carries it. It is a Sink through its own hub, which numbers
// and stamps the changes as serve's hub does.
type printSink struct {
	*monitor.Hub
	w       io.Writer
	err     error
	changes map[monitor.Kind]int
	ended   map[monitor.Reason]int
}

func newPrintSink(w io.Writer) *printSink {
	p := &printSink{w: w, changes: map[monitor.Kind]int{}, ended: map[monitor.Reason]int{}}
	// A ring of one: the replay never resumes anyone. The observer writes,
	// which an observer of a live hub must not: here the replay is the
	// hub's only publisher and waiting for the output is the point.
	p.Hub = monitor.NewHub(monitor.HubConfig{RingSize: 1}, monitor.WithObserver(p.print))
	return p
}

func (p *printSink) print(ev monitor.Event) {
	p.changes[ev.Kind()]++
	if c, ok := ev.Payload.(*monitor.Call); ok && c.State == monitor.Ended {
		p.ended[c.Reason]++
	}
	if p.err != nil {
		return
	}
	b, err := ev.JSON()
	if err == nil {
		_, err = p.w.Write(b)
	}
	if err == nil {
		_, err = io.WriteString(p.w, "\n")
	}
	p.err = err
}

func (p *printSink) summary(w io.Writer, took time.Duration) {
	total := 0
	parts := []string{}
	for _, r := range monitor.Reasons {
		if n := p.ended[r]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	fmt.Fprintf(w, "replayed in %s: %d call changes, %d calls ended (%s), %d user events",
		took.Round(time.Millisecond), p.changes[monitor.KindCall], total, strings.Join(parts, " "), p.changes[monitor.KindUser])
	for _, k := range monitor.Kinds() {
		if n := p.changes[k.Kind]; n > 0 && k.Kind != monitor.KindCall && k.Kind != monitor.KindUser {
			fmt.Fprintf(w, ", %d %s changes", n, k.Kind)
		}
	}
	fmt.Fprintln(w)
}
