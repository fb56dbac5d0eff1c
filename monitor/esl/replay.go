package esl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/switchboard/switchboard/monitor"
)

// Replay feeds a recording (one JSON event object per line, as
// FreeSWITCH's `event json` sends them and Record writes them) through a
// tracker as fast as it can. Blank lines are skipped; a line that is not
// an event is an error naming the line.
func Replay(ctx context.Context, name monitor.SourceName, r io.Reader, sink monitor.Sink) error {
	tr := NewTracker(name, sink, nil)
	return decodeRecording(ctx, r, tr.Handle)
}

// decodeRecording calls fn with every event of a recording.
func decodeRecording(ctx context.Context, r io.Reader, fn func(Event)) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Values that are not strings (FreeSWITCH sends arrays for a
		// repeated header) are left out; the decoder still reads past them.
		var flat map[string]string
		var typeErr *json.UnmarshalTypeError
		if err := dec.Decode(&flat); err == io.EOF {
			return nil
		} else if err != nil && !errors.As(err, &typeErr) {
			return fmt.Errorf("esl replay: event %d: %w", n, err)
		}
		e, err := eventFromStrings(flat)
		if err != nil {
			return fmt.Errorf("esl replay: event %d: %w", n, err)
		}
		fn(e)
	}
}

// Record writes every event the tracker would see, and every CUSTOM
// event, of one inbound connection as one JSON object per line until ctx
// ends or the link drops, and returns how many it wrote. The lines are
// what Replay reads.
func Record(ctx context.Context, addr, password string, w io.Writer) (int, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "8021")
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return 0, fmt.Errorf("connect %s: %w", addr, err)
	}
	events := make(chan Event, 4096)
	conn, err := Auth(dctx, nc, password, func(e Event) {
		select {
		case events <- e:
		default:
			nc.Close() // the disk cannot keep up: stop rather than lose events silently
		}
	})
	if err != nil {
		nc.Close()
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Command(dctx, command.Event{Format: "json", Listen: []string{"ALL"}}); err != nil {
		return 0, err
	}
	return monitor.RecordJSONLines(ctx, events, conn.Done(), conn.Err, w)
}
