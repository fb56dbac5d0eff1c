package fritz

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchboard/switchboard/monitor"
)

// Replay feeds a recorded call-monitor stream (one AVM line per line, as
// `switchboard fritzmonitor` prints them) through a tracker into sink as
// fast as it can; call times come from the lines themselves, read in the
// local time zone. Malformed and unknown lines are skipped, as the live
// source skips them. Calls the recording leaves active stay active. Replay
// returns ctx's error when ctx ends first and nil at the end of r.
func Replay(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink) error {
	return ReplayWith(ctx, name, r, sink)
}

// ReplayWith is Replay with options (counters, logger).
func ReplayWith(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink, opts ...Option) error {
	tr := NewTracker(name, sink, nil, nil, opts...)
	err := readLines(r, func(line []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		_ = tr.Handle(line)
		return nil
	})
	if err != nil {
		return fmt.Errorf("fritz replay %s: %w", name, err)
	}
	return nil
}

// readLines calls fn with every non-blank line of r, without its line
// ending. A line longer than MaxLineLength is passed on cut short, so the
// parser rejects it and counts it, and the rest of it is skipped.
func readLines(r io.Reader, fn func(line []byte) error) error {
	br := bufio.NewReaderSize(r, MaxLineLength+2)
	skipping := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !skipping {
				if ferr := fn(line); ferr != nil {
					return ferr
				}
			}
			skipping = true
			continue
		case err != nil && !errors.Is(err, io.EOF):
			return err
		}
		if !skipping && len(line) > 0 {
			trimmed := line
			for len(trimmed) > 0 && (trimmed[len(trimmed)-1] == '\n' || trimmed[len(trimmed)-1] == '\r') {
				trimmed = trimmed[:len(trimmed)-1]
			}
			if len(trimmed) > 0 {
				if ferr := fn(trimmed); ferr != nil {
					return ferr
				}
			}
		}
		skipping = false
		if err != nil {
			return nil
		}
	}
}
