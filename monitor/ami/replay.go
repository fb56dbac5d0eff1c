package ami

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/internal/flatjson"
)

// Replay feeds a recording through a tracker as fast as it can. It reads
// JSON lines (one event object per line) and the JSON-array event logs
// the cacofonisk project records; either way an event is an object of
// "Key": "Value" members ("content" is ignored).
func Replay(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink) error {
	tr := NewTracker(name, sink, nil)
	// The tracker keeps strings, never a message: one message's fields
	// can be reused for the next.
	return scanRecording(ctx, r, true, tr.Handle)
}

// decodeRecording calls fn with every event of a recording; fn may keep
// the messages.
func decodeRecording(ctx context.Context, r io.Reader, fn func(Message)) error {
	return scanRecording(ctx, r, false, fn)
}

// scanRecording calls fn with every event of a recording, in the order
// of the recording and of each event's members. With reuse, fn must not
// keep the message past its call (its strings it may).
func scanRecording(ctx context.Context, r io.Reader, reuse bool, fn func(Message)) error {
	s := flatjson.NewScanner(r)
	var m Message
	for {
		members, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ami replay: event %d: %w", s.Count()+1, err)
		}
		if s.Count()&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if reuse {
			m = m[:0]
		} else {
			m = make(Message, 0, len(members))
		}
		for _, mem := range members {
			if mem.Key != "content" {
				m = append(m, Field{Key: mem.Key, Value: mem.Value})
			}
		}
		fn(m)
	}
}
