package sessiondb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/web"
	"github.com/switchboard/switchboard/web/sessiondb"
	"github.com/switchboard/switchboard/web/sessiontest"
)

// openAt opens the history database at path and the sessions on it, as
// serve does; both close at the end of the test unless closed before.
func openAt(t *testing.T, path string) (*history.Store, *sessiondb.Store) {
	t.Helper()
	h, err := history.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := sessiondb.Open(context.Background(), h.DB())
	if err != nil {
		t.Fatal(err)
	}
	return h, st
}

func TestStore(t *testing.T) {
	t.Parallel()
	sessiontest.Run(t, func(t *testing.T) web.SessionStore {
		t.Helper()
		_, st := openAt(t, filepath.Join(t.TempDir(), "history.db"))
		return st
	})
}

// TestPersistsAcrossReopen: what is stored, touched and revoked is so
// after the database is closed and opened again (a restart), and the
// schema is not made twice.
func TestPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "history.db")
	h, st := openAt(t, path)
	tv := sessiontest.Session(web.SessionDevice, "Hall TV", 1, 90*24*time.Hour)
	anna := sessiontest.Session(web.SessionUser, "anna", 2, 12*time.Hour)
	gone := sessiontest.Session(web.SessionDevice, "Kitchen", 3, 90*24*time.Hour)
	for _, s := range []web.StoredSession{tv, anna, gone} {
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	tv.Seen, tv.Expires = tv.Seen.Add(time.Hour), tv.Expires.Add(time.Hour)
	if err := st.TouchSession(ctx, tv.Hash, tv.Seen, tv.Expires); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.RevokeSession(ctx, gone.ID); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	_, st = openAt(t, path)
	for _, want := range []web.StoredSession{tv, anna} {
		got, err := st.LookupSession(ctx, want.Hash)
		if err != nil {
			t.Fatalf("%s after reopen: %v", want.Name, err)
		}
		sessiontest.Equal(t, got, want)
	}
	if _, err := st.LookupSession(ctx, gone.Hash); !errors.Is(err, web.ErrNoSession) {
		t.Errorf("revoked device after reopen: %v, want ErrNoSession", err)
	}
}

// TestSchemaVersion: the sessions keep their own version beside the
// history's, and a database from a newer program is refused.
func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "history.db")
	h, _ := openAt(t, path)
	var v, uv int
	if err := h.DB().QueryRowContext(ctx, "SELECT version FROM schema_versions WHERE part = 'sessions'").Scan(&v); err != nil || v != 4 {
		t.Fatalf("sessions version %d %v, want 4", v, err)
	}
	if err := h.DB().QueryRowContext(ctx, "PRAGMA user_version").Scan(&uv); err != nil || uv == 0 {
		t.Fatalf("history's user_version %d %v: want it the history's", uv, err)
	}
	// A database of version 1 (before the users' languages and the
	// shared sign-in failures and the accounts of single sign-on) is
	// brought up to date.
	if _, err := h.DB().ExecContext(ctx, "DROP TABLE user_languages; DROP TABLE login_failures; ALTER TABLE sessions DROP COLUMN accounts; UPDATE schema_versions SET version = 1 WHERE part = 'sessions'"); err != nil {
		t.Fatal(err)
	}
	st, err := sessiondb.Open(ctx, h.DB())
	if err != nil {
		t.Fatalf("open version 1: %v", err)
	}
	if err := st.SetUserLanguage(ctx, "anna", "de"); err != nil {
		t.Fatalf("language after the upgrade: %v", err)
	}
	sso := sessiontest.Session(web.SessionSSO, "carla", 1, time.Hour)
	sso.Accounts = []string{"1001"}
	if err := st.CreateSession(ctx, sso); err != nil {
		t.Fatalf("single sign-on after the upgrade: %v", err)
	}
	if err := h.DB().QueryRowContext(ctx, "SELECT version FROM schema_versions WHERE part = 'sessions'").Scan(&v); err != nil || v != 4 {
		t.Fatalf("sessions version after the upgrade %d %v, want 4", v, err)
	}
	if _, err := h.DB().ExecContext(ctx, "UPDATE schema_versions SET version = 99 WHERE part = 'sessions'"); err != nil {
		t.Fatal(err)
	}
	if _, err := sessiondb.Open(ctx, h.DB()); !errors.Is(err, sessiondb.ErrNewerSchema) {
		t.Fatalf("newer schema: %v, want ErrNewerSchema", err)
	}
}
