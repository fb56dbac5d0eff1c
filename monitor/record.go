package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"time"
)

// RecordJSONLines writes every value from events to w as one JSON object
// per line (what `switchboard replay` reads), flushing once a second,
// until ctx ends or done closes; after done it writes what is still
// queued and returns linkErr(). It returns how many lines it wrote.
func RecordJSONLines[T any](ctx context.Context, events <-chan T, done <-chan struct{}, linkErr func() error, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	for {
		select {
		case v := <-events:
			if err := enc.Encode(v); err != nil {
				return n, err
			}
			n++
		case <-flush.C:
			if err := bw.Flush(); err != nil {
				return n, err
			}
		case <-done:
			for len(events) > 0 {
				if err := enc.Encode(<-events); err != nil {
					return n, err
				}
				n++
			}
			if err := bw.Flush(); err != nil {
				return n, err
			}
			return n, linkErr()
		case <-ctx.Done():
			return n, bw.Flush()
		}
	}
}
