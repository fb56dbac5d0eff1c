package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"

	// The pure-Go SQLite driver, registered as "sqlite": no cgo.
	_ "modernc.org/sqlite"
)

// schemaVersion is stored in PRAGMA user_version; a database from a newer
// Switchboard is refused rather than misread.
const schemaVersion = 1

// schema is the call table: the whole call as JSON, plus the columns the
// history page filters and sorts on. A call is identified by its id and
// start time together: some sources reuse keys across calls.
const schema = `
CREATE TABLE IF NOT EXISTS calls (
	id          TEXT    NOT NULL,
	started     INTEGER NOT NULL, -- Unix nanoseconds
	source      TEXT    NOT NULL,
	direction   TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	answered    INTEGER,          -- Unix nanoseconds; NULL when never answered
	ended       INTEGER NOT NULL,
	from_number TEXT    NOT NULL,
	from_name   TEXT    NOT NULL,
	to_number   TEXT    NOT NULL,
	to_name     TEXT    NOT NULL,
	call        TEXT    NOT NULL, -- the monitor.Call as JSON
	PRIMARY KEY (id, started)
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started DESC);
CREATE INDEX IF NOT EXISTS calls_by_source ON calls (source, started DESC);
`

// Store is the call history. It is safe for concurrent use.
//
// Ended calls reach it from the hub through Observe, which only queues
// them: the store's own Outbox saves them in its own goroutine, so a slow
// disk never holds up the hub, its subscribers, or the source whose
// tracker published the call. Flush waits for the queue; Close drains it.
type Store struct {
	db  *sql.DB
	log *slog.Logger
	// saveTimeout bounds one save from the queue, which has no caller ctx.
	saveTimeout time.Duration
	// drainTimeout bounds how long Close waits for the queue.
	drainTimeout time.Duration
	queueSize    int
	// save stores one call; Save, except in tests that need a slow disk.
	save func(ctx context.Context, c monitor.Call) error
	out  *monitor.Outbox
}

// Option sets a rare knob of a Store.
type Option func(*Store)

// WithLogger sets the logger of the queue's failures. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithQueueSize sets how many ended calls may wait to be saved before
// further ones are refused (and logged and counted as unsaved). Default
// 4096.
func WithQueueSize(n int) Option { return func(s *Store) { s.queueSize = n } }

// WithDrainTimeout sets how long Close waits for queued calls to be
// saved. Default 10s.
func WithDrainTimeout(d time.Duration) Option { return func(s *Store) { s.drainTimeout = d } }

// Open opens (creating when needed, with its directory) the history
// database at path and brings its schema up to date.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("history open %q: %w", path, ErrBadPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	// WAL lets the wallboard read while a call is saved; synchronous=FULL
	// syncs the WAL on every commit, so a saved call survives a crash of
	// the process and of the machine (https://sqlite.org/pragma.html#pragma_synchronous).
	// Every write is one statement, so writers only ever wait on
	// busy_timeout and never fail upgrading a read lock.
	dsn := path + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=FULL"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	s := &Store{db: db, log: slog.New(slog.DiscardHandler), saveTimeout: 10 * time.Second, drainTimeout: 10 * time.Second, queueSize: 4096}
	s.save = s.Save
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	s.out = monitor.NewOutbox(monitor.OutboxConfig{Name: "history", Size: s.queueSize}, s.saveQueued, monitor.WithUnhandled(s.unhandled))
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, schemaVersion)
	}
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// Close saves what is queued (for at most the drain timeout; what is left
// is logged as unsaved) and closes the database. It is idempotent.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
	defer cancel()
	qerr := s.out.Close(ctx)
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("history close: %w", err)
	}
	if qerr != nil {
		return fmt.Errorf("history close: %w", qerr)
	}
	return nil
}

// Flush waits until every call queued before it has been saved (or given
// up on), or ctx ends.
func (s *Store) Flush(ctx context.Context) error {
	if err := s.out.Flush(ctx); err != nil {
		return fmt.Errorf("history flush: %w", err)
	}
	return nil
}

// Save stores an ended call, replacing an earlier save of the same call
// (same id and start). It returns once the call is durable.
func (s *Store) Save(ctx context.Context, c monitor.Call) error {
	if c.State != monitor.Ended {
		return fmt.Errorf("history save %s: %w", c.ID, ErrNotEnded)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("history save %s: %w", c.ID, err)
	}
	var answered sql.NullInt64
	if !c.Answered.IsZero() {
		answered = sql.NullInt64{Int64: c.Answered.UnixNano(), Valid: true}
	}
	_, err = s.db.ExecContext(ctx, `
INSERT INTO calls (id, started, source, direction, reason, answered, ended, from_number, from_name, to_number, to_name, call)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id, started) DO UPDATE SET
	source = excluded.source, direction = excluded.direction, reason = excluded.reason,
	answered = excluded.answered, ended = excluded.ended,
	from_number = excluded.from_number, from_name = excluded.from_name,
	to_number = excluded.to_number, to_name = excluded.to_name, call = excluded.call`,
		string(c.ID), c.Started.UnixNano(), string(c.Source), string(c.Direction), string(c.Reason), answered, c.Ended.UnixNano(),
		c.From.Number, c.From.Name, c.To.Number, c.To.Name, string(raw))
	if err != nil {
		return fmt.Errorf("history save %s: %w", c.ID, err)
	}
	return nil
}

// Observe queues every ended call of ev to be saved, and ignores
// everything else; it suits monitor.WithObserver. It never blocks and does
// no I/O: the store's own goroutine saves the call. A call that does not
// fit in the queue is logged and counted as unsaved, never waited for: the
// live view must go on when the disk is stuck.
func (s *Store) Observe(ev monitor.Event) {
	if c, ok := ev.Payload.(*monitor.Call); ok && c.State == monitor.Ended {
		s.out.Offer(ev)
	}
}

// saveQueued saves one queued call, in the outbox's goroutine.
func (s *Store) saveQueued(ctx context.Context, ev monitor.Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.saveTimeout)
	defer cancel()
	return s.save(ctx, *ev.Payload.(*monitor.Call))
}

// unhandled is the outbox's word on a call it did not save.
func (s *Store) unhandled(ev monitor.Event, err error) {
	s.unsaved(*ev.Payload.(*monitor.Call), unsavedReason(err), err)
}

// Why an ended call was not saved, as unsaved and the metrics name it.
const (
	unsavedOverflow = "overflow" // the queue was full
	unsavedError    = "error"    // the save failed
	unsavedShutdown = "shutdown" // the store closed before it got to it
)

func unsavedReason(err error) string {
	switch {
	case errors.Is(err, monitor.ErrOutboxFull):
		return unsavedOverflow
	case errors.Is(err, monitor.ErrOutboxClosed):
		return unsavedShutdown
	default:
		return unsavedError
	}
}

// unsaved is where every ended call the history could not keep ends up:
// one that did not fit in the queue, one whose save failed, one still
// queued at shutdown. It runs in the outbox's reporting goroutine, never
// in the publishing path, one call at a time. It logs the call at Error;
// the outbox counts it. A spool for such calls belongs here.
func (s *Store) unsaved(c monitor.Call, reason string, err error) {
	s.log.Error("history: call not saved", "call", c.ID, "started", c.Started, "reason", reason, "error", err)
}
