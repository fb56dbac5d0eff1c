package sessiondb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/monitor/history/pgtest"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/sessiondb"
	"github.com/switchboard/switchboard/web/sessiontest"
)

// pg is the package's throw-away PostgreSQL cluster.
var pg pgtest.Shared

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// openPostgres opens the history in dsn and the sign-ins on it, as serve
// does with history.driver postgres.
func openPostgres(t *testing.T, dsn string) *sessiondb.Store {
	t.Helper()
	h, err := history.OpenPostgres(context.Background(), dsn, filepath.Join(t.TempDir(), "history.spool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := sessiondb.Open(context.Background(), h.DB(), sessiondb.Postgres())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStorePostgres(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) web.SessionStore {
		t.Helper()
		return openPostgres(t, pg.Database(t))
	})
}

// TestPostgresSharedByTwoServers: two servers on one PostgreSQL
// database see one set of sign-ins: made on one, good on the other;
// revoked on the other, gone on the first; a user's sign-ins revoked
// (a password change) on either, gone on both.
func TestPostgresSharedByTwoServers(t *testing.T) {
	ctx := context.Background()
	dsn := pg.Database(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	anna := sessiontest.Session(web.SessionUser, "anna", 1, 12*time.Hour)
	anna2 := sessiontest.Session(web.SessionUser, "anna", 2, 12*time.Hour)
	for _, s := range []web.StoredSession{anna, anna2} {
		if err := a.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.CreateSession(ctx, anna); !errors.Is(err, web.ErrSessionExists) {
		t.Fatalf("the same sign-in made again on the other server: %v, want ErrSessionExists", err)
	}
	if got, err := b.LookupSession(ctx, anna.Hash); err != nil || got.ID != anna.ID {
		t.Fatalf("lookup on the other server: %+v %v", got, err)
	}
	if ok, err := b.RevokeSession(ctx, anna.ID); !ok || err != nil {
		t.Fatalf("revoke on the other server: %v %v", ok, err)
	}
	if _, err := a.LookupSession(ctx, anna.Hash); !errors.Is(err, web.ErrNoSession) {
		t.Fatalf("lookup after the revocation elsewhere: %v, want ErrNoSession", err)
	}
	if n, err := a.RevokeUserSessions(ctx, "anna"); n != 1 || err != nil {
		t.Fatalf("revoke anna: %d %v", n, err)
	}
	if _, err := b.LookupSession(ctx, anna2.Hash); !errors.Is(err, web.ErrNoSession) {
		t.Fatalf("lookup after anna's sign-ins were revoked elsewhere: %v", err)
	}
	if err := a.SetUserLanguage(ctx, "anna", "de"); err != nil {
		t.Fatal(err)
	}
	if lang, err := b.UserLanguage(ctx, "anna"); lang != "de" || err != nil {
		t.Fatalf("language on the other server: %q %v", lang, err)
	}
}

// TestPostgresLoginFailuresShared: a failure recorded by one server is
// read by the other, since the time asked; a right password on either
// clears the pair; old failures are forgotten as new ones come.
func TestPostgresLoginFailuresShared(t *testing.T) {
	ctx := context.Background()
	dsn := pg.Database(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := a.AddLoginFailure(ctx, "anna", "192.0.2.7", t0.Add(time.Duration(i)*time.Second), t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.AddLoginFailure(ctx, "bert", "192.0.2.7", t0, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := b.LoginFailures(ctx, "anna", "192.0.2.7", t0.Add(time.Second))
	if err != nil || len(got) != 2 || !got[0].Equal(t0.Add(time.Second)) || !got[1].Equal(t0.Add(2*time.Second)) {
		t.Fatalf("anna's failures on the other server: %v %v", got, err)
	}
	if err := b.ClearLoginFailures(ctx, "anna", "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.LoginFailures(ctx, "anna", "192.0.2.7", t0.Add(-time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("anna's failures after a sign-in elsewhere: %v %v", got, err)
	}
	// A new failure an hour later forgets bert's old one.
	if err := b.AddLoginFailure(ctx, "anna", "192.0.2.7", t0.Add(time.Hour), t0.Add(time.Hour-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := a.LoginFailures(ctx, "bert", "192.0.2.7", t0.Add(-time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("bert's old failure kept: %v %v", got, err)
	}
}
