package history

import (
	"context"
	"database/sql"
	"encoding/json"
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
type Store struct {
	db  *sql.DB
	log *slog.Logger
	// saveTimeout bounds one Save from Observe, which has no caller ctx.
	saveTimeout time.Duration
}

// Option sets a rare knob of a Store.
type Option func(*Store)

// WithLogger sets the logger of Observe's failures. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

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
	s := &Store{db: db, log: slog.New(slog.DiscardHandler), saveTimeout: 10 * time.Second}
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
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

// Close closes the database. Saved calls are already on disk.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("history close: %w", err)
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

// Observe saves every ended call of ev, synchronously; it suits
// monitor.WithObserver, so that a call is on disk before the hub
// publishes the next change of its source. Failures are logged, never
// returned: the live view must go on when the disk is full.
func (s *Store) Observe(ev monitor.Event) {
	if ev.Type != monitor.EventCall || ev.Call == nil || ev.Call.State != monitor.Ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.saveTimeout)
	defer cancel()
	if err := s.Save(ctx, *ev.Call); err != nil {
		s.log.Error("history: call not saved", "call", ev.Call.ID, "error", err)
	}
}
