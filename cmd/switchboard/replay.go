package main

import (
	"bufio"
	"context"
	"encoding/json"
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
	register(command{name: "replay", summary: "replay a recorded stream (--source fritz|ami|esl FILE) and print every call change as JSON", run: runReplay})
}

func runReplay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	kind := fs.String("source", "fritz", "recording type: "+strings.Join(replayKinds(), ", "))
	name := fs.String("name", "", "source name in the printed calls (default: the recording type)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: switchboard replay --source TYPE FILE (- for stdin)")
	}
	fn, ok := replayers[*kind]
	if !ok {
		return fmt.Errorf("unknown --source %q (want one of %s)", *kind, strings.Join(replayKinds(), ", "))
	}
	in := io.Reader(os.Stdin)
	if p := fs.Arg(0); p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	if *name == "" {
		*name = *kind
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	p := newPrintSink(out)
	start := time.Now()
	if err := fn(ctx, monitor.SourceName(*name), bufio.NewReaderSize(in, 64<<10), p); err != nil {
		return fmt.Errorf("replay %s: %w", fs.Arg(0), err)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	p.summary(os.Stderr, time.Since(start))
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

// printSink writes each call change as one JSON line, the same call object
// /events carries.
type printSink struct {
	enc     *json.Encoder
	err     error
	changes int
	ended   map[monitor.Reason]int
	users   int
}

func newPrintSink(w io.Writer) *printSink {
	return &printSink{enc: json.NewEncoder(w), ended: map[monitor.Reason]int{}}
}

func (p *printSink) Call(c monitor.Call) {
	p.changes++
	if c.State == monitor.Ended {
		p.ended[c.Reason]++
	}
	if err := p.enc.Encode(c); err != nil && p.err == nil {
		p.err = err
	}
}

func (p *printSink) SourceStatus(monitor.SourceStatus) {}

func (p *printSink) UserEvent(monitor.UserEvent) { p.users++ }

func (p *printSink) summary(w io.Writer, took time.Duration) {
	total := 0
	parts := []string{}
	for _, r := range monitor.Reasons {
		if n := p.ended[r]; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	fmt.Fprintf(w, "replayed in %s: %d call changes, %d calls ended (%s), %d user events\n",
		took.Round(time.Millisecond), p.changes, total, strings.Join(parts, " "), p.users)
}
