// Package sessiondb keeps the web server's sign-ins (users' sessions and
// wall-screen devices, web.SessionStore) in a SQL database: in
// Switchboard the history's SQLite file, on the handle the history store
// owns (history.Store.DB), so they survive restarts and are revoked for
// good.
//
// Only the SHA-256 of a sign-in's secret is stored, never the secret, so
// a copy of the database signs nobody in. The schema is this package's
// own, versioned in the table schema_versions under the part "sessions"
// and brought up to date by Open one numbered step at a time; the
// history's own version (PRAGMA user_version) is left alone. The SQL is
// plain (TEXT and BIGINT columns, no upserts, no engine functions), so
// that on PostgreSQL (the history's database with history.driver
// postgres, Open with Postgres) only its placeholders ($1) are
// rewritten, and migrations take the history's advisory lock
// (history.SchemaLock) so that nodes starting at once migrate in turn.
//
// Nothing is cached: every request looks its sign-in up in the
// database, so on a database several servers share, a sign-in made on
// one is good on all and a revocation on one holds on all at the next
// request (an open socket on another server finds it at its next check).
package sessiondb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/web"
)

// part names this package's schema in schema_versions.
const part = "sessions"

// steps are the schema's migrations: step n brings version n-1 to n.
// Append a step for every change; never edit one that has shipped.
var steps = []string{
	1: `
CREATE TABLE sessions (
	token_hash TEXT   NOT NULL PRIMARY KEY, -- hex SHA-256 of the cookie's secret; the secret is never stored
	id         TEXT   NOT NULL UNIQUE,      -- public: names the sign-in in lists, revocations and logs
	kind       TEXT   NOT NULL,             -- user or device
	name       TEXT   NOT NULL,             -- the user's name, or the device's
	role       TEXT   NOT NULL,
	grant_hash TEXT   NOT NULL,             -- users: fingerprint of the credentials signed in with
	created_by TEXT   NOT NULL,             -- devices: the admin who made the link
	address    TEXT   NOT NULL,             -- the client address that signed in
	created    BIGINT NOT NULL,             -- Unix nanoseconds
	seen       BIGINT NOT NULL,
	expires    BIGINT NOT NULL
);
CREATE INDEX sessions_by_name ON sessions (kind, name);
CREATE INDEX sessions_by_expiry ON sessions (expires);
`,
	2: `
CREATE TABLE user_languages (
	name TEXT NOT NULL PRIMARY KEY, -- the user's name
	lang TEXT NOT NULL              -- the language chosen on a page, e.g. de
);
`,
	3: `
CREATE TABLE login_failures (
	name TEXT   NOT NULL, -- the name tried
	addr TEXT   NOT NULL, -- the client's address key (IPv4, or an IPv6 /64)
	at   BIGINT NOT NULL  -- Unix nanoseconds
);
CREATE INDEX login_failures_by_pair ON login_failures (name, addr, at);
CREATE INDEX login_failures_by_time ON login_failures (at);
`,
	4: `
ALTER TABLE sessions ADD COLUMN accounts TEXT NOT NULL DEFAULT ''; -- single sign-on: softphone accounts, one a line
`,
}

// version is the schema version this package writes.
var version = len(steps) - 1

// ErrNewerSchema is returned by Open for a database whose sessions schema
// a newer Switchboard wrote: it is refused rather than misread.
var ErrNewerSchema = errors.New("sessions schema is newer than this program's")

// Store is a web.SessionStore on a SQL database. Its methods are safe
// for concurrent use.
type Store struct {
	db       *sql.DB
	postgres bool
}

var (
	_ web.SessionStore  = (*Store)(nil)
	_ web.LoginFailures = (*Store)(nil)
)

// Option sets how Open reads the database.
type Option func(*Store)

// Postgres says db is a PostgreSQL database (history.Store.Driver is
// history.Postgres); the default is SQLite.
func Postgres() Option { return func(st *Store) { st.postgres = true } }

// Open brings the sessions schema in db up to date and returns the store.
// The caller owns db and closes it after the store's last use.
func Open(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	st := &Store{db: db}
	for _, o := range opts {
		o(st)
	}
	if err := st.migrate(ctx); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	return st, nil
}

// q is query in the database's placeholders.
func (st *Store) q(query string) string {
	if st.postgres {
		return history.Rebind(query)
	}
	return query
}

// migrate runs the steps the database has not had yet, in one
// transaction with the version they reach (on PostgreSQL holding the
// schema lock).
func (st *Store) migrate(ctx context.Context) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var have int
	var known bool
	if st.postgres {
		have, known, err = history.LockSchema(ctx, tx, part)
		if err != nil {
			return err
		}
	} else {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
	part    TEXT    NOT NULL PRIMARY KEY,
	version INTEGER NOT NULL
)`); err != nil {
			return fmt.Errorf("create schema_versions: %w", err)
		}
		err = tx.QueryRowContext(ctx, st.q("SELECT version FROM schema_versions WHERE part = ?"), part).Scan(&have)
		known = err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read schema version: %w", err)
		}
	}
	if have > version {
		return fmt.Errorf("%w: version %d, this program's %d", ErrNewerSchema, have, version)
	}
	if have == version && known {
		return tx.Commit()
	}
	for n := have + 1; n <= version; n++ {
		if _, err := tx.ExecContext(ctx, steps[n]); err != nil {
			return fmt.Errorf("schema step %d: %w", n, err)
		}
	}
	if known {
		_, err = tx.ExecContext(ctx, st.q("UPDATE schema_versions SET version = ? WHERE part = ?"), version, part)
	} else {
		_, err = tx.ExecContext(ctx, st.q("INSERT INTO schema_versions (part, version) VALUES (?, ?)"), part, version)
	}
	if err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	return tx.Commit()
}

const columns = "token_hash, id, kind, name, role, grant_hash, created_by, address, created, seen, expires, accounts"

// CreateSession stores s; web.ErrSessionExists when its hash or ID is
// taken.
func (st *Store) CreateSession(ctx context.Context, s web.StoredSession) error {
	var n int
	if err := st.db.QueryRowContext(ctx, st.q("SELECT COUNT(*) FROM sessions WHERE token_hash = ? OR id = ?"), string(s.Hash), s.ID).Scan(&n); err != nil {
		return fmt.Errorf("sessions create: %w", err)
	}
	if n > 0 {
		return web.ErrSessionExists
	}
	_, err := st.db.ExecContext(ctx, st.q("INSERT INTO sessions ("+columns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		string(s.Hash), s.ID, string(s.Kind), s.Name, string(s.Role), s.Grant, s.CreatedBy, s.Address,
		s.Created.UnixNano(), s.Seen.UnixNano(), s.Expires.UnixNano(), strings.Join(s.Accounts, "\n"))
	if err != nil {
		return fmt.Errorf("sessions create: %w", err)
	}
	return nil
}

// scan reads one row of columns.
func scan(row interface{ Scan(...any) error }) (web.StoredSession, error) {
	var (
		s                      web.StoredSession
		hash, kind, role       string
		accounts               string
		created, seen, expires int64
	)
	if err := row.Scan(&hash, &s.ID, &kind, &s.Name, &role, &s.Grant, &s.CreatedBy, &s.Address, &created, &seen, &expires, &accounts); err != nil {
		return web.StoredSession{}, err
	}
	s.Hash, s.Kind, s.Role = web.SessionHash(hash), web.SessionKind(kind), web.Role(role)
	s.Created, s.Seen, s.Expires = time.Unix(0, created), time.Unix(0, seen), time.Unix(0, expires)
	if accounts != "" {
		s.Accounts = strings.Split(accounts, "\n")
	}
	return s, nil
}

// LookupSession returns the sign-in h; web.ErrNoSession when there is
// none.
func (st *Store) LookupSession(ctx context.Context, h web.SessionHash) (web.StoredSession, error) {
	s, err := scan(st.db.QueryRowContext(ctx, st.q("SELECT "+columns+" FROM sessions WHERE token_hash = ?"), string(h)))
	if errors.Is(err, sql.ErrNoRows) {
		return web.StoredSession{}, web.ErrNoSession
	}
	if err != nil {
		return web.StoredSession{}, fmt.Errorf("sessions lookup: %w", err)
	}
	return s, nil
}

// TouchSession records a use of h.
func (st *Store) TouchSession(ctx context.Context, h web.SessionHash, seen, expires time.Time) error {
	if _, err := st.db.ExecContext(ctx, st.q("UPDATE sessions SET seen = ?, expires = ? WHERE token_hash = ?"),
		seen.UnixNano(), expires.UnixNano(), string(h)); err != nil {
		return fmt.Errorf("sessions touch: %w", err)
	}
	return nil
}

// RevokeSession deletes the sign-in id.
func (st *Store) RevokeSession(ctx context.Context, id string) (bool, error) {
	res, err := st.db.ExecContext(ctx, st.q("DELETE FROM sessions WHERE id = ?"), id)
	if err != nil {
		return false, fmt.Errorf("sessions revoke: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sessions revoke: %w", err)
	}
	return n > 0, nil
}

// RevokeUserSessions deletes every user sign-in of name.
func (st *Store) RevokeUserSessions(ctx context.Context, name string) (int, error) {
	res, err := st.db.ExecContext(ctx, st.q("DELETE FROM sessions WHERE kind = ? AND name = ?"), string(web.SessionUser), name)
	if err != nil {
		return 0, fmt.Errorf("sessions revoke user: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sessions revoke user: %w", err)
	}
	return int(n), nil
}

// ListSessions returns the sign-ins of kind, newest first.
func (st *Store) ListSessions(ctx context.Context, kind web.SessionKind) ([]web.StoredSession, error) {
	rows, err := st.db.QueryContext(ctx, st.q("SELECT "+columns+" FROM sessions WHERE kind = ? ORDER BY created DESC, id"), string(kind))
	if err != nil {
		return nil, fmt.Errorf("sessions list: %w", err)
	}
	defer rows.Close()
	out := []web.StoredSession{}
	for rows.Next() {
		s, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sessions list: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions list: %w", err)
	}
	return out, nil
}

// DeleteExpiredSessions deletes what expired before now.
func (st *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := st.db.ExecContext(ctx, st.q("DELETE FROM sessions WHERE expires < ?"), now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sessions delete expired: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sessions delete expired: %w", err)
	}
	return int(n), nil
}

// UserLanguage returns the language the user name chose; empty when none.
func (st *Store) UserLanguage(ctx context.Context, name string) (string, error) {
	var lang string
	err := st.db.QueryRowContext(ctx, st.q("SELECT lang FROM user_languages WHERE name = ?"), name).Scan(&lang)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sessions user language: %w", err)
	}
	return lang, nil
}

// SetUserLanguage records the language the user name chose.
func (st *Store) SetUserLanguage(ctx context.Context, name, lang string) error {
	// Plain SQL, no upsert, as everywhere in this package: an update, and
	// an insert when there was nothing to update, in one transaction.
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sessions set user language: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	res, err := tx.ExecContext(ctx, st.q("UPDATE user_languages SET lang = ? WHERE name = ?"), lang, name)
	if err != nil {
		return fmt.Errorf("sessions set user language: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sessions set user language: %w", err)
	} else if n == 0 {
		if _, err := tx.ExecContext(ctx, st.q("INSERT INTO user_languages (name, lang) VALUES (?, ?)"), name, lang); err != nil {
			return fmt.Errorf("sessions set user language: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sessions set user language: %w", err)
	}
	return nil
}

// AddLoginFailure records a failed sign-in of name from addr at at and
// deletes everyone's from before forget, in one transaction.
func (st *Store) AddLoginFailure(ctx context.Context, name, addr string, at, forget time.Time) error {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sessions login failure: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, st.q("DELETE FROM login_failures WHERE at < ?"), forget.UnixNano()); err != nil {
		return fmt.Errorf("sessions login failure: %w", err)
	}
	if _, err := tx.ExecContext(ctx, st.q("INSERT INTO login_failures (name, addr, at) VALUES (?, ?, ?)"), name, addr, at.UnixNano()); err != nil {
		return fmt.Errorf("sessions login failure: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sessions login failure: %w", err)
	}
	return nil
}

// LoginFailures returns the times of name's failed sign-ins from addr
// since since, oldest first.
func (st *Store) LoginFailures(ctx context.Context, name, addr string, since time.Time) ([]time.Time, error) {
	rows, err := st.db.QueryContext(ctx, st.q("SELECT at FROM login_failures WHERE name = ? AND addr = ? AND at >= ? ORDER BY at"),
		name, addr, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sessions login failures: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, fmt.Errorf("sessions login failures: %w", err)
		}
		out = append(out, time.Unix(0, at))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions login failures: %w", err)
	}
	return out, nil
}

// ClearLoginFailures forgets name's failed sign-ins from addr.
func (st *Store) ClearLoginFailures(ctx context.Context, name, addr string) error {
	if _, err := st.db.ExecContext(ctx, st.q("DELETE FROM login_failures WHERE name = ? AND addr = ?"), name, addr); err != nil {
		return fmt.Errorf("sessions clear login failures: %w", err)
	}
	return nil
}
