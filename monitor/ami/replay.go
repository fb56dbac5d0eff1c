package ami

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/switchboard/switchboard/monitor"
)

// Replay feeds a recording through a tracker as fast as it can. It reads
// JSON lines (one event object per line) and the JSON-array event logs
// the cacofonisk project records; either way an event is an object of
// "Key": "Value" members ("content" is ignored).
func Replay(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink) error {
	tr := NewTracker(name, sink, nil)
	return decodeRecording(ctx, r, tr.Handle)
}

// decodeRecording calls fn with every event of a recording.
func decodeRecording(ctx context.Context, r io.Reader, fn func(Message)) error {
	br := bufio.NewReader(r)
	first, err := firstByte(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	if first == '[' {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("ami replay: %w", err)
		}
	}
	for n := 1; dec.More(); n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			return fmt.Errorf("ami replay: event %d: %w", n, err)
		}
		fn(eventMessage(ev))
	}
	return nil
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !bytes.ContainsRune([]byte(" \t\r\n"), rune(b)) {
			return b, br.UnreadByte()
		}
	}
}

// eventMessage turns a recorded object into a message, Event first and the
// other keys sorted so a replay is deterministic.
func eventMessage(ev map[string]any) Message {
	m := M("Event", fmt.Sprint(ev["Event"]))
	keys := make([]string, 0, len(ev))
	for k := range ev {
		if k != "Event" && k != "content" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		m = append(m, Field{k, fmt.Sprint(ev[k])})
	}
	return m
}
