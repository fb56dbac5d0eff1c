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
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/monitor"

	// The pure-Go SQLite driver, registered as "sqlite": no cgo.
	_ "modernc.org/sqlite"
)

// schemaVersion is stored in PRAGMA user_version; a database from a newer
// Switchboard is refused rather than misread. Version 2 added
// active_calls and meta, version 3 the searchable forms of the parties'
// numbers (from_key, from_digits, to_key, to_digits) and settings; an
// older database is brought up to date on open (see migrate).
const schemaVersion = 3

// schema is the call table: the whole call as JSON, plus the columns the
// history page filters and sorts on. A call is identified by its id and
// start time together: every source's ids are unique for ever (see
// monitor.KeyAllocator), so a call saved twice is one row, and a source
// that reuses an id all the same (a remote SIP peer choosing a Call-ID, a
// recording replayed in a loop) cannot overwrite another call's row.
// Beside each party's number as the source gave it are its searchable
// forms (see numbers.go).
//
// active_calls holds the calls active now, one row each, so that after a
// crash the next run can reconcile them with the sources (see
// monitor.Restart). meta holds the server-run counter behind call keys;
// settings what the stored forms were made with.
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
	from_key    TEXT    NOT NULL DEFAULT '', -- e164.Key of from_number
	from_digits TEXT    NOT NULL DEFAULT '', -- its digits, * and # as written
	to_key      TEXT    NOT NULL DEFAULT '',
	to_digits   TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (id, started)
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started DESC);
CREATE INDEX IF NOT EXISTS calls_by_source ON calls (source, started DESC);
CREATE TABLE IF NOT EXISTS active_calls (
	id      TEXT    NOT NULL PRIMARY KEY,
	started INTEGER NOT NULL, -- Unix nanoseconds
	source  TEXT    NOT NULL,
	at      INTEGER NOT NULL, -- Unix nanoseconds the hub published this state
	call    TEXT    NOT NULL  -- the monitor.Call as JSON
);
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT    NOT NULL PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);
`

// numberColumns are the columns version 3 added to calls; an older
// database gains them, empty, and Open fills them in (see rekey).
var numberColumns = []string{"from_key", "from_digits", "to_key", "to_digits"}

// Store is the call history. It is safe for concurrent use.
//
// Call changes reach it from the hub through Observe, which only queues
// them: the store's own Outbox writes them in its own goroutine (an
// ended call into the history, an active one into active_calls), so a
// slow disk never holds up the hub, its subscribers, or the source whose
// tracker published the call. A change the database does not take goes
// to the retry spool (unsaved), and the store's retry loop writes the
// spool once the database can be written again. Flush waits for the
// queue; Close drains it.
//
// Lock order: drainMu, then the spool's own lock; errMu is taken alone.
type Store struct {
	db      *sql.DB
	dialect dialect
	// closeDB closes db and what it runs on (PostgreSQL's pool).
	closeDB func() error
	log     *slog.Logger
	// saveTimeout bounds one save from the queue, which has no caller ctx.
	saveTimeout time.Duration
	// drainTimeout bounds how long Close waits for the queue.
	drainTimeout time.Duration
	busyTimeout  time.Duration
	queueSize    int
	spoolLimit   int64
	retryMin     time.Duration
	retryMax     time.Duration
	// hook, when set, runs before every write transaction with the
	// changes it writes, and fails it with its error: a test's stuck or
	// failing disk.
	hook func(ctx context.Context, chs []change) error
	// numbers are the default country's rules for the parties' numbers,
	// stored and searched.
	numbers numberRules
	country string
	out     *monitor.Outbox
	keys    *monitor.Sequence
	run     int64

	spool *spool
	// down is set when a write failed and cleared by the retry loop once
	// it has written the spool and the database took a write again: while
	// it is set, changes go straight to the spool, in order, instead of
	// each waiting for a database that does not answer.
	down     atomic.Bool
	errMu    sync.Mutex
	lastErr  error
	kick     chan struct{} // wakes the retry loop
	drainMu  sync.Mutex    // one spool drain at a time; ActiveCalls reads between them
	retryEnd context.CancelFunc
	retried  chan struct{} // closed when the retry loop returns

	spooled, spoolSaved, lostFull, lostError atomic.Uint64
	closeOnce                                sync.Once
	closeErr                                 error
}

// Option sets a rare knob of a Store.
type Option func(*Store)

// WithLogger sets the logger of the queue's failures. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithQueueSize sets how many call changes may wait to be saved before
// further ones go to the retry spool. Default 4096.
func WithQueueSize(n int) Option { return func(s *Store) { s.queueSize = n } }

// WithDrainTimeout sets how long Close waits for queued calls to be
// saved; what is left goes to the retry spool. Default 10s.
func WithDrainTimeout(d time.Duration) Option { return func(s *Store) { s.drainTimeout = d } }

// WithSpoolLimit sets the retry spool's size limit in bytes; a change
// that does not fit is lost, logged at Error and counted. Default 64 MiB
// (some hundred thousand changes).
func WithSpoolLimit(n int64) Option { return func(s *Store) { s.spoolLimit = n } }

// WithRetryBackoff sets how long the retry loop waits after a failed
// attempt to write the spool: min, doubling up to max, jittered.
// Defaults 1s and 1m.
func WithRetryBackoff(minWait, maxWait time.Duration) Option {
	return func(s *Store) { s.retryMin, s.retryMax = minWait, maxWait }
}

// WithDefaultCountry sets the country (an ISO 3166 region such as "DE")
// whose national numbers (0170 1234567) the history reads as E.164
// (+491701234567), in the calls it stores and in searches, so that a
// number is found however it was written. Default none: only numbers
// written internationally (+49…, 0049…) are brought to E.164. When it
// changes, Open makes the stored forms again.
func WithDefaultCountry(region string) Option { return func(s *Store) { s.country = region } }

// withBusyTimeout sets how long a write waits for a lock another
// connection holds before it fails (SQLite's busy_timeout). Default 10s;
// tests of a locked database shorten it.
func withBusyTimeout(d time.Duration) Option { return func(s *Store) { s.busyTimeout = d } }

// SpoolPath is the retry spool of the database at path: beside it, named
// after it ("history.db" → "history.spool").
func SpoolPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".spool"
}

// Open opens (creating when needed, with its directory) the history
// database at path and brings its schema up to date, counts a new server
// run (the prefix of the call keys it hands out), and opens the retry
// spool beside it, writing what an earlier run left there if it can
// (if it cannot, the retry loop goes on trying). The database must be
// writable at Open; later failures go to the spool.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("history open %q: %w", path, ErrBadPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil { //nolint:gosec // the path comes from data_dir in the configuration
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	s := newStore(opts)
	rules, err := newNumberRules(s.country)
	if err != nil {
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	s.numbers = rules
	// WAL lets the wallboard read while a call is saved; synchronous=FULL
	// syncs the WAL on every commit, so a saved call survives a crash of
	// the process and of the machine (https://sqlite.org/pragma.html#pragma_synchronous).
	// A write transaction starts with its write, so writers only ever
	// wait on busy_timeout and never fail upgrading a read lock.
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL", path, s.busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	s.db, s.dialect, s.closeDB = db, sqliteDialect, db.Close
	if err := s.open(ctx, SpoolPath(path)); err != nil {
		return nil, fmt.Errorf("history open %s: %w", path, err)
	}
	return s, nil
}

// newStore returns a store with its defaults and opts, not yet open.
func newStore(opts []Option) *Store {
	s := &Store{log: slog.New(slog.DiscardHandler), saveTimeout: 10 * time.Second, drainTimeout: 10 * time.Second,
		busyTimeout: 10 * time.Second, queueSize: 4096, spoolLimit: 64 << 20, retryMin: time.Second, retryMax: time.Minute,
		kick: make(chan struct{}, 1), retried: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	return s
}

// open does what Open and OpenPostgres share once the database handle
// is made: the schema, the stored numbers' forms, the run count, the
// retry spool at spoolPath (written now if it holds changes), the retry
// loop and the queue. On failure it closes the database.
func (s *Store) open(ctx context.Context, spoolPath string) error {
	migrate := s.migrate
	if s.dialect.driver == Postgres {
		migrate = s.migratePostgres
	}
	for _, step := range []func(context.Context) error{migrate, s.rekey, s.startRun} {
		if err := step(ctx); err != nil {
			s.closeDB() //nolint:errcheck // the open failed already
			return err
		}
	}
	sp, bad, err := openSpool(spoolPath, s.spoolLimit)
	if err != nil {
		s.closeDB() //nolint:errcheck // the open failed already
		return err
	}
	s.spool = sp
	if bad > 0 {
		s.log.Error("history: spool lines that could not be read were dropped", "lines", bad)
	}
	if n, _, _ := sp.stats(); n > 0 {
		s.log.Info("history: writing the calls an earlier run spooled", "changes", n)
		if err := s.drain(ctx); err != nil {
			s.log.Error("history: the spool could not be written yet; retrying", "error", err)
		}
	}
	retryCtx, cancel := context.WithCancel(context.Background())
	s.retryEnd = cancel
	go s.retryLoop(retryCtx)
	s.out = monitor.NewOutbox(monitor.OutboxConfig{Name: "history", Size: s.queueSize}, s.saveQueued, monitor.WithUnhandled(s.unhandled))
	return nil
}

// migrate brings the schema up to date in one transaction: a new database
// gets it whole; an older one the tables and columns it lacks (version
// 1: active_calls and meta; version 2: the numbers' searchable forms,
// filled in by rekey, and settings).
func (s *Store) migrate(ctx context.Context) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, schemaVersion)
	}
	if v == schemaVersion {
		return nil
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	have, err := columns(ctx, tx, "calls")
	if err != nil {
		return fmt.Errorf("migrate from version %d: %w", v, err)
	}
	for _, c := range numberColumns {
		if have[c] {
			continue
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE calls ADD COLUMN "+c+" TEXT NOT NULL DEFAULT ''"); err != nil {
			return fmt.Errorf("migrate from version %d: add %s: %w", v, c, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate from version %d: %w", v, err)
	}
	if v > 0 {
		s.log.Info("history: database schema brought up to date", "from", v, "to", schemaVersion)
	}
	return nil
}

// columns returns the names of table's columns.
func columns(ctx context.Context, tx *sql.Tx, table string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[n] = true
	}
	return out, rows.Err()
}

// rekeyBatch is how many rows rekey reads at a time.
const rekeyBatch = 1000

// rekey makes the searchable forms of every stored call's numbers again
// when they were made for another country or in another way (or not at
// all: a database from before version 3), in one transaction, so that a
// crash leaves them as they were and the next Open starts over.
func (s *Store) rekey(ctx context.Context) error {
	want := s.numbers.keysID()
	var have string
	switch err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = 'number_keys'").Scan(&have); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read number keys: %w", err)
	}
	if have == want {
		return nil
	}
	start := time.Now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("number keys: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	type forms struct{ key, digits string }
	// Many calls share a number (the office's own, a regular caller).
	seen := map[string]forms{}
	formsOf := func(n string) forms {
		f, ok := seen[n]
		if !ok {
			f.key, f.digits = partyForms(n, s.numbers.country)
			seen[n] = f
		}
		return f
	}
	// Rows are read in the order of the primary key, a batch at a time,
	// from the last one read: a row-value comparison both databases run
	// on the key's index.
	type row struct {
		id       string
		started  int64
		from, to string
	}
	var last row
	total := 0
	for {
		rows, err := tx.QueryContext(ctx, s.dialect.rebind(`SELECT id, started, from_number, to_number FROM calls
WHERE (id, started) > (?, ?) ORDER BY id, started LIMIT ?`), last.id, last.started, rekeyBatch)
		if err != nil {
			return fmt.Errorf("number keys: %w", err)
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.started, &r.from, &r.to); err != nil {
				rows.Close()
				return fmt.Errorf("number keys: %w", err)
			}
			batch = append(batch, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("number keys: %w", err)
		}
		for _, r := range batch {
			f, t := formsOf(r.from), formsOf(r.to)
			if _, err := tx.ExecContext(ctx, s.dialect.rebind("UPDATE calls SET from_key = ?, from_digits = ?, to_key = ?, to_digits = ? WHERE id = ? AND started = ?"),
				f.key, f.digits, t.key, t.digits, r.id, r.started); err != nil {
				return fmt.Errorf("number keys: %w", err)
			}
		}
		total += len(batch)
		if len(batch) < rekeyBatch {
			break
		}
		last = batch[len(batch)-1]
	}
	if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO settings (key, value) VALUES ('number_keys', ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value`), want); err != nil {
		return fmt.Errorf("number keys: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("number keys: %w", err)
	}
	if total > 0 {
		s.log.Info("history: searchable numbers made again", "calls", total, "country", s.numbers.country,
			"was", have, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// Close saves what is queued (for at most the drain timeout; what is left
// goes to the retry spool), stops the retry loop after one last attempt
// at the spool, and closes the database. What is still spooled stays in
// the spool file and is saved by the next Open. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
		defer cancel()
		qerr := s.out.Close(ctx)
		s.retryEnd()
		<-s.retried
		if n, _, _ := s.spool.stats(); n > 0 && ctx.Err() == nil {
			if err := s.drain(ctx); err != nil {
				s.log.Error("history: calls left in the spool for the next start", "changes", n, "error", err)
			}
		}
		errs := []error{qerr, s.spool.close(), s.closeDB()}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("history close: %w", err)
		}
	})
	return s.closeErr
}

// Flush waits until every call change queued before it has been saved
// (or spooled), or ctx ends.
func (s *Store) Flush(ctx context.Context) error {
	if err := s.out.Flush(ctx); err != nil {
		return fmt.Errorf("history flush: %w", err)
	}
	return nil
}

// Save stores an ended call, replacing an earlier save of the same call
// (same id and start), and forgets it as active. It returns once the
// call is durable.
func (s *Store) Save(ctx context.Context, c monitor.Call) error {
	if c.State != monitor.Ended {
		return fmt.Errorf("history save %s: %w", c.ID, ErrNotEnded)
	}
	if err := s.write(ctx, []change{{At: time.Now(), Call: c}}); err != nil {
		return fmt.Errorf("history save %s: %w", c.ID, err)
	}
	return nil
}

// write writes chs in one transaction.
func (s *Store) write(ctx context.Context, chs []change) error {
	if s.hook != nil {
		if err := s.hook(ctx, chs); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, ch := range chs {
		if err := s.apply(ctx, tx, ch); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// apply writes one change: an ended call into calls (and out of
// active_calls), an active one into active_calls unless it is older than
// the state there or the call has already ended (a spooled change
// written after the ones that followed it).
func (s *Store) apply(ctx context.Context, tx *sql.Tx, ch change) error {
	c := ch.Call
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if c.State != monitor.Ended {
		// The casts give the selected values the columns' types, which
		// PostgreSQL cannot guess from a bare placeholder.
		_, err = tx.ExecContext(ctx, s.dialect.rebind(`
INSERT INTO active_calls (id, started, source, at, call)
SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT)
WHERE NOT EXISTS (SELECT 1 FROM calls WHERE id = ? AND started = ?)
ON CONFLICT (id) DO UPDATE SET
	started = excluded.started, source = excluded.source, at = excluded.at, call = excluded.call
WHERE excluded.at >= active_calls.at`),
			string(c.ID), c.Started.UnixNano(), string(c.Source), ch.At.UnixNano(), string(raw), string(c.ID), c.Started.UnixNano())
		return err
	}
	var answered sql.NullInt64
	if !c.Answered.IsZero() {
		answered = sql.NullInt64{Int64: c.Answered.UnixNano(), Valid: true}
	}
	fromKey, fromDigits := partyForms(c.From.Number, s.numbers.country)
	toKey, toDigits := partyForms(c.To.Number, s.numbers.country)
	_, err = tx.ExecContext(ctx, s.dialect.rebind(`
INSERT INTO calls (id, started, source, direction, reason, answered, ended, from_number, from_name, to_number, to_name, call,
	from_key, from_digits, to_key, to_digits)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id, started) DO UPDATE SET
	source = excluded.source, direction = excluded.direction, reason = excluded.reason,
	answered = excluded.answered, ended = excluded.ended,
	from_number = excluded.from_number, from_name = excluded.from_name,
	to_number = excluded.to_number, to_name = excluded.to_name, call = excluded.call,
	from_key = excluded.from_key, from_digits = excluded.from_digits,
	to_key = excluded.to_key, to_digits = excluded.to_digits`),
		string(c.ID), c.Started.UnixNano(), string(c.Source), string(c.Direction), string(c.Reason), answered, c.Ended.UnixNano(),
		c.From.Number, c.From.Name, c.To.Number, c.To.Name, string(raw), fromKey, fromDigits, toKey, toDigits)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.dialect.rebind(`DELETE FROM active_calls WHERE id = ? AND started = ?`), string(c.ID), c.Started.UnixNano())
	return err
}

// Observe queues every call change of ev to be written, and ignores
// everything else; it suits monitor.WithObserver. It never blocks and
// does no I/O: the store's own goroutine writes the change. A change that
// does not fit in the queue goes to the retry spool, never waited for:
// the live view must go on when the disk is stuck.
func (s *Store) Observe(ev monitor.Event) {
	if _, ok := ev.Payload.(*monitor.Call); ok {
		s.out.Offer(ev)
	}
}

// saveQueued writes one queued change, in the outbox's goroutine. While
// the database is down, the change goes straight on to the spool (the
// outbox hands it to unhandled), behind the ones before it.
func (s *Store) saveQueued(ctx context.Context, ev monitor.Event) error {
	if s.down.Load() {
		return ErrUnavailable
	}
	wctx, cancel := context.WithTimeout(ctx, s.saveTimeout)
	defer cancel()
	err := s.write(wctx, []change{{At: ev.At, Call: *ev.Payload.(*monitor.Call)}})
	if err != nil && ctx.Err() == nil {
		// Failed or timed out on its own, not cut short by Close.
		s.failed(err)
	}
	return err
}

// unhandled is the outbox's word on a change it did not write.
func (s *Store) unhandled(ev monitor.Event, err error) {
	s.unsaved(change{At: ev.At, Call: *ev.Payload.(*monitor.Call)}, unsavedReason(err), err)
}

// Why a call change was not saved at once, as unsaved and the metrics
// name it.
const (
	unsavedOverflow = "overflow" // the queue was full
	unsavedError    = "error"    // the save failed, or the database was down
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

// unsaved is where every call change the database did not take ends up:
// one that did not fit in the queue, one whose save failed or that came
// while the database was down, one still queued at shutdown. It runs in
// the outbox's reporting goroutine, never in the publishing path, one
// change at a time, and puts the change in the retry spool (synced
// before it returns), for the retry loop to write. A change the spool
// cannot take (full, or its own write failed) is lost: logged at Error
// with its call and counted.
func (s *Store) unsaved(ch change, reason string, err error) {
	wasEmpty := false
	if n, _, _ := s.spool.stats(); n == 0 {
		wasEmpty = true
	}
	if serr := s.spool.append(ch); serr != nil {
		if errors.Is(serr, ErrSpoolFull) {
			s.lostFull.Add(1)
		} else {
			s.lostError.Add(1)
		}
		s.log.Error("history: call lost", "call", ch.Call.ID, "state", ch.Call.State, "started", ch.Call.Started,
			"reason", reason, "error", err, "spool_error", serr)
		return
	}
	s.spooled.Add(1)
	if wasEmpty {
		switch reason {
		case unsavedOverflow:
			s.log.Warn("history: save queue full; spooling calls", "call", ch.Call.ID)
		case unsavedShutdown:
			s.log.Warn("history: calls still queued at shutdown spooled; they are saved at the next start", "call", ch.Call.ID)
		default:
			s.log.Error("history: the database cannot be written; spooling calls until it can", "call", ch.Call.ID, "error", err)
		}
	} else {
		s.log.Debug("history: call spooled", "call", ch.Call.ID, "state", ch.Call.State, "reason", reason)
	}
	s.wake()
}
