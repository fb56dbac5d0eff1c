package history

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgMigrations are the PostgreSQL schema's steps, NNNN_what.sql, run in
// order; step n brings version n-1 to n. Append a file for every change;
// never edit one that has shipped.
//
//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// SchemaLock is the PostgreSQL advisory lock taken by every migration of
// the database the history shares with other parts (the web server's
// sign-ins): nodes that start at once migrate one after the other, and
// the second finds the schema up to date.
const SchemaLock int64 = 0x5377_4264_0001

// schemaPart names the history's schema in schema_versions, the table of
// schema versions it shares with the sign-ins (part "sessions").
const schemaPart = "history"

// pingEvery is how often a store on PostgreSQL checks that the server
// answers while it has nothing to write, so /healthz knows of an outage
// before a call is lost to it; pingTimeout bounds one check.
const (
	pingEvery   = 5 * time.Second
	pingTimeout = 3 * time.Second
)

// OpenPostgres opens the history in the PostgreSQL database dsn (a URL,
// postgres://user@host/db, or key=value pairs, as libpq reads them),
// brings its schema up to date (under SchemaLock), counts a new server
// run and opens the retry spool at spoolPath, as Open does with a file.
// Several servers may share the database: their runs are counted apart,
// so their call keys differ, and a call saved by two of them is one row.
// The database must answer at OpenPostgres; later outages go to the
// spool.
func OpenPostgres(ctx context.Context, dsn, spoolPath string, opts ...Option) (*Store, error) {
	if spoolPath == "" {
		return nil, fmt.Errorf("history open postgres: no spool path: %w", ErrBadPath)
	}
	s := newStore(opts)
	rules, err := newNumberRules(s.country)
	if err != nil {
		return nil, fmt.Errorf("history open postgres: %w", err)
	}
	s.numbers = rules
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors leave the password out.
		return nil, fmt.Errorf("history open postgres: %w: %w", ErrBadDSN, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("history open postgres: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s.db, s.dialect = db, postgresDialect
	s.closeDB = func() error {
		err := db.Close()
		pool.Close()
		return err
	}
	where := "postgres " + cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	if err := s.open(ctx, spoolPath); err != nil {
		return nil, fmt.Errorf("history open %s: %w", where, err)
	}
	return s, nil
}

// pgSteps returns the migration steps in order, steps[n] bringing
// version n-1 to n (steps[0] is empty).
func pgSteps() ([]string, error) {
	names, err := fs.Glob(pgMigrations, "migrations/postgres/*.sql")
	if err != nil {
		return nil, err
	}
	steps := make([]string, len(names)+1)
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || n > len(names) || steps[n] != "" {
			return nil, fmt.Errorf("migration %s: want NNNN_name.sql numbered 1 to %d, each once", base, len(names))
		}
		b, err := pgMigrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		steps[n] = string(b)
	}
	return steps, nil
}

// migratePostgres runs the steps the database has not had yet, in one
// transaction holding SchemaLock, with the version they reach.
func (s *Store) migratePostgres(ctx context.Context) error {
	steps, err := pgSteps()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	version := len(steps) - 1
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	have, known, err := LockSchema(ctx, tx, schemaPart)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if have > version {
		return fmt.Errorf("schema version %d is newer than this program's %d", have, version)
	}
	if have == version {
		return tx.Commit()
	}
	for n := have + 1; n <= version; n++ {
		if _, err := tx.ExecContext(ctx, steps[n]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", n, err)
		}
	}
	if err := SetSchemaVersion(ctx, tx, schemaPart, version, known); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to version %d: %w", version, err)
	}
	s.log.Info("history: PostgreSQL schema brought up to date", "from", have, "to", version)
	return nil
}

// LockSchema takes SchemaLock for the rest of tx (a PostgreSQL
// transaction), makes the table schema_versions when there is none, and
// returns the version of part and whether it is recorded at all.
func LockSchema(ctx context.Context, tx *sql.Tx, part string) (version int, known bool, err error) {
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", SchemaLock); err != nil {
		return 0, false, fmt.Errorf("lock the schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
	part    TEXT    NOT NULL PRIMARY KEY,
	version INTEGER NOT NULL
)`); err != nil {
		return 0, false, fmt.Errorf("create schema_versions: %w", err)
	}
	switch err := tx.QueryRowContext(ctx, "SELECT version FROM schema_versions WHERE part = $1", part).Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("read schema version: %w", err)
	}
	return version, true, nil
}

// SetSchemaVersion records version for part in schema_versions, within
// the transaction of LockSchema; known is what it returned.
func SetSchemaVersion(ctx context.Context, tx *sql.Tx, part string, version int, known bool) error {
	var err error
	if known {
		_, err = tx.ExecContext(ctx, "UPDATE schema_versions SET version = $1 WHERE part = $2", version, part)
	} else {
		_, err = tx.ExecContext(ctx, "INSERT INTO schema_versions (part, version) VALUES ($1, $2)", part, version)
	}
	if err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return nil
}

// Driver is the database the history is kept in.
func (s *Store) Driver() Driver { return s.dialect.driver }

// Shared reports whether other servers may write the same history (on
// PostgreSQL): the calls active_calls holds of sources this server does
// not have are theirs, not calls to end.
func (s *Store) Shared() bool { return s.dialect.driver == Postgres }

// ping checks that the database answers, for a store on PostgreSQL with
// nothing to write: a failure marks it down like a failed write (the
// retry loop then probes it until it answers).
func (s *Store) ping(ctx context.Context) {
	if s.down.Load() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := s.db.PingContext(pctx)
	if err == nil && s.hook != nil {
		err = s.hook(pctx, nil)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Error("history: the database does not answer; call changes go to the retry spool until it does", "error", err)
		s.failed(err)
	}
}
