package history

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/monitor/history/pgtest"
)

// pg is the package's throw-away PostgreSQL cluster, started by the
// first test that runs on it.
var pg pgtest.Shared

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// backends are the databases the history's tests run on: each test of
// the store's behaviour runs once on each, as a subtest named after it.
var backends = []Driver{SQLite, Postgres}

// pgPlaces maps the place of a history on PostgreSQL (a path, where its
// spool is made) to its database.
var pgPlaces sync.Map

// place returns where a new history of t lives on b: a path that
// openPlace opens, again and again, as the same history (a file for
// SQLite; for PostgreSQL a new database, with the spool at the path's).
// A PostgreSQL test skips when PostgreSQL is not installed.
func place(t testing.TB, b Driver) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "h.db")
	if b == Postgres {
		pgPlaces.Store(path, pg.Database(t))
	}
	return path
}

// openPlace opens the history at a place of place.
func openPlace(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if dsn, ok := pgPlaces.Load(path); ok {
		return OpenPostgres(ctx, dsn.(string), SpoolPath(path), opts...)
	}
	return Open(ctx, path, opts...)
}
