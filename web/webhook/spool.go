package webhook

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/switchboard/switchboard/monitor"
)

// WithSpool names the file where events left undelivered at shutdown are
// saved, one JSON object per line; New queues them again (and removes the
// file), so they are sent after the next start. Default: no spool, and
// such events count as failed.
func WithSpool(path string) Option { return func(d *Dispatcher) { d.spool = path } }

// spooled is one saved event: the endpoint's URL, the event type and the
// body as it is posted.
type spooled struct {
	URL  string          `json:"url"`
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

// maxSpoolLine bounds one saved event; a call with every field set is a
// few kilobytes.
const maxSpoolLine = 1 << 20

// parseSpool reads saved events, one JSON object per line. Lines that are
// not a valid event are skipped and counted, so one damaged line does not
// lose the others.
func parseSpool(r io.Reader) (events []spooled, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSpoolLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev spooled
		if err := json.Unmarshal(line, &ev); err != nil || ev.URL == "" || !json.Valid(ev.Body) || !knownType(ev.Type) {
			skipped++
			continue
		}
		events = append(events, ev)
	}
	if err := sc.Err(); err != nil {
		return events, skipped, fmt.Errorf("webhook spool: %w", err)
	}
	return events, skipped, nil
}

func knownType(t string) bool {
	_, ok := monitor.LookupKind(monitor.Kind(t))
	return ok
}

// loadSpool queues the events a previous run saved, in their order,
// ahead of anything new, and removes the file.
func (d *Dispatcher) loadSpool() error {
	if d.spool == "" {
		return nil
	}
	b, err := os.ReadFile(d.spool)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("webhook spool: %w", err)
	}
	events, skipped, err := parseSpool(bytes.NewReader(b))
	if err != nil {
		d.log.Warn("webhook spool partly unreadable", "path", d.spool, "err", err)
	}
	queued, dropped := 0, skipped
	for _, sp := range events {
		e := d.endpointFor(sp.URL)
		var ev monitor.Event
		if e == nil || !e.kinds[monitor.Kind(sp.Type)] || json.Unmarshal(sp.Body, &ev) != nil {
			// The endpoint was removed from the configuration, no longer
			// wants this kind, or the body is no envelope.
			dropped++
			continue
		}
		if e.out.Offer(ev) {
			queued++
		} else {
			dropped++
		}
	}
	if err := os.Remove(d.spool); err != nil {
		return fmt.Errorf("webhook spool: %w", err)
	}
	d.log.Info("webhook events from the last run queued", "path", d.spool, "queued", queued, "dropped", dropped)
	return nil
}

func (d *Dispatcher) endpointFor(url string) *endpoint {
	for _, e := range d.endpoints {
		if e.cfg.URL == url {
			return e
		}
	}
	return nil
}

// keep saves what a Close that ran out of time left undelivered (the
// outboxes hand it to undelivered) to the spool.
func (d *Dispatcher) keep() {
	d.mu.Lock()
	left := d.left
	d.left = nil
	d.mu.Unlock()
	if len(left) == 0 {
		return
	}
	if err := writeSpool(d.spool, left); err != nil {
		d.log.Error("webhook events lost: spool not written", "events", len(left), "path", d.spool, "err", err)
		return
	}
	d.log.Warn("webhook events saved for the next start", "events", len(left), "path", d.spool)
}

// writeSpool writes events to path atomically: a temporary file, synced,
// renamed over path.
func writeSpool(path string, events []spooled) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
