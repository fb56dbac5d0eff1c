// Package sessiontest checks that a web.SessionStore behaves as the web
// server needs: every implementation (in memory, SQLite, a future
// PostgreSQL one) runs Run in its tests.
package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/switchboard/switchboard/web"
)

// t0 is a time with nanoseconds, which a store must keep.
var t0 = time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC)

// Session returns a sign-in of kind named name, numbered n, created n
// minutes after t0 and expiring ttl after that.
func Session(kind web.SessionKind, name string, n int, ttl time.Duration) web.StoredSession {
	created := t0.Add(time.Duration(n) * time.Minute)
	return web.StoredSession{
		ID: fmt.Sprintf("id-%d", n), Hash: web.SessionHash(fmt.Sprintf("%064x", n+1)),
		Kind: kind, Name: name, Role: web.RoleViewer, Grant: "grant", CreatedBy: "anna", Address: "192.0.2.7",
		Created: created, Seen: created, Expires: created.Add(ttl),
	}
}

// Run checks the store open returns (empty, fresh for each subtest).
func Run(t *testing.T, open func(t *testing.T) web.SessionStore) {
	t.Helper()
	ctx := context.Background()
	t.Run("create and look up", func(t *testing.T) {
		st := open(t)
		s := Session(web.SessionUser, "anna", 1, time.Hour)
		s.Role, s.Grant = web.RoleAdmin, "g1"
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := st.LookupSession(ctx, s.Hash)
		if err != nil {
			t.Fatal(err)
		}
		Equal(t, got, s)
		if _, err := st.LookupSession(ctx, "0000"); !errors.Is(err, web.ErrNoSession) {
			t.Errorf("unknown hash: %v, want ErrNoSession", err)
		}
		again := Session(web.SessionUser, "bob", 2, time.Hour)
		again.Hash = s.Hash
		if err := st.CreateSession(ctx, again); !errors.Is(err, web.ErrSessionExists) {
			t.Errorf("same hash again: %v, want ErrSessionExists", err)
		}
		again = Session(web.SessionUser, "bob", 3, time.Hour)
		again.ID = s.ID
		if err := st.CreateSession(ctx, again); !errors.Is(err, web.ErrSessionExists) {
			t.Errorf("same ID again: %v, want ErrSessionExists", err)
		}
	})
	t.Run("single sign-on with accounts", func(t *testing.T) {
		st := open(t)
		s := Session(web.SessionSSO, "carla", 1, time.Hour)
		s.Role, s.Accounts, s.CreatedBy = web.RoleUser, []string{"1001", "sales line"}, "oidc:https://id.example.test"
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := st.LookupSession(ctx, s.Hash)
		if err != nil {
			t.Fatal(err)
		}
		Equal(t, got, s)
	})
	t.Run("touch", func(t *testing.T) {
		st := open(t)
		s := Session(web.SessionDevice, "Hall TV", 1, time.Hour)
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.Seen, s.Expires = t0.Add(time.Hour), t0.Add(90*24*time.Hour)
		if err := st.TouchSession(ctx, s.Hash, s.Seen, s.Expires); err != nil {
			t.Fatal(err)
		}
		got, err := st.LookupSession(ctx, s.Hash)
		if err != nil {
			t.Fatal(err)
		}
		Equal(t, got, s)
		if err := st.TouchSession(ctx, "0000", t0, t0); err != nil {
			t.Errorf("touch of a sign-in that is gone: %v, want nil", err)
		}
	})
	t.Run("revoke one", func(t *testing.T) {
		st := open(t)
		a, b := Session(web.SessionDevice, "Hall TV", 1, time.Hour), Session(web.SessionDevice, "Kitchen", 2, time.Hour)
		for _, s := range []web.StoredSession{a, b} {
			if err := st.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := st.RevokeSession(ctx, a.ID); !ok || err != nil {
			t.Fatalf("revoke: %v %v, want true", ok, err)
		}
		if ok, err := st.RevokeSession(ctx, a.ID); ok || err != nil {
			t.Errorf("revoke again: %v %v, want false", ok, err)
		}
		if _, err := st.LookupSession(ctx, a.Hash); !errors.Is(err, web.ErrNoSession) {
			t.Errorf("revoked: %v, want ErrNoSession", err)
		}
		if _, err := st.LookupSession(ctx, b.Hash); err != nil {
			t.Errorf("the other: %v", err)
		}
	})
	t.Run("revoke a user's", func(t *testing.T) {
		st := open(t)
		anna1, anna2 := Session(web.SessionUser, "anna", 1, time.Hour), Session(web.SessionUser, "anna", 2, time.Hour)
		bob := Session(web.SessionUser, "bob", 3, time.Hour)
		// A screen that happens to have a user's name is no session of hers.
		screen := Session(web.SessionDevice, "anna", 4, time.Hour)
		for _, s := range []web.StoredSession{anna1, anna2, bob, screen} {
			if err := st.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.RevokeUserSessions(ctx, "anna"); n != 2 || err != nil {
			t.Fatalf("revoke anna: %d %v, want 2", n, err)
		}
		for _, s := range []web.StoredSession{anna1, anna2} {
			if _, err := st.LookupSession(ctx, s.Hash); !errors.Is(err, web.ErrNoSession) {
				t.Errorf("%s: %v, want ErrNoSession", s.ID, err)
			}
		}
		for _, s := range []web.StoredSession{bob, screen} {
			if _, err := st.LookupSession(ctx, s.Hash); err != nil {
				t.Errorf("%s %s: %v, want it kept", s.Kind, s.Name, err)
			}
		}
		if n, err := st.RevokeUserSessions(ctx, "nobody"); n != 0 || err != nil {
			t.Errorf("revoke nobody: %d %v", n, err)
		}
	})
	t.Run("list", func(t *testing.T) {
		st := open(t)
		for i, s := range []web.StoredSession{
			Session(web.SessionDevice, "Hall TV", 1, time.Hour),
			Session(web.SessionUser, "anna", 2, time.Hour),
			Session(web.SessionDevice, "Kitchen", 3, time.Hour),
		} {
			if err := st.CreateSession(ctx, s); err != nil {
				t.Fatalf("%d: %v", i, err)
			}
		}
		got, err := st.ListSessions(ctx, web.SessionDevice)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Name != "Kitchen" || got[1].Name != "Hall TV" {
			t.Fatalf("devices %+v, want Kitchen then Hall TV (newest first)", got)
		}
		Equal(t, got[1], Session(web.SessionDevice, "Hall TV", 1, time.Hour))
		if got, err := st.ListSessions(ctx, "nothing"); err != nil || got == nil || len(got) != 0 {
			t.Errorf("kind with none: %v %v, want an empty list", got, err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		st := open(t)
		old, edge, live := Session(web.SessionUser, "a", 1, time.Minute), Session(web.SessionUser, "b", 2, time.Minute), Session(web.SessionDevice, "c", 3, time.Hour)
		for _, s := range []web.StoredSession{old, edge, live} {
			if err := st.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		// Deleted: what expired before now; one expiring at now stays.
		n, err := st.DeleteExpiredSessions(ctx, edge.Expires)
		if n != 1 || err != nil {
			t.Fatalf("delete expired: %d %v, want 1", n, err)
		}
		if _, err := st.LookupSession(ctx, old.Hash); !errors.Is(err, web.ErrNoSession) {
			t.Errorf("expired: %v, want ErrNoSession", err)
		}
		for _, s := range []web.StoredSession{edge, live} {
			if _, err := st.LookupSession(ctx, s.Hash); err != nil {
				t.Errorf("%s: %v, want it kept", s.ID, err)
			}
		}
	})

	t.Run("user language", func(t *testing.T) {
		st := open(t)
		if got, err := st.UserLanguage(ctx, "anna"); got != "" || err != nil {
			t.Fatalf("before a choice: %q %v, want empty", got, err)
		}
		for _, lang := range []string{"de", "en"} {
			if err := st.SetUserLanguage(ctx, "anna", lang); err != nil {
				t.Fatalf("set %s: %v", lang, err)
			}
			if got, err := st.UserLanguage(ctx, "anna"); got != lang || err != nil {
				t.Errorf("after choosing %s: %q %v", lang, got, err)
			}
		}
		if got, _ := st.UserLanguage(ctx, "bert"); got != "" {
			t.Errorf("another user: %q, want empty", got)
		}
	})
}

// Equal fails t unless got and want are the same sign-in, times to the
// nanosecond.
func Equal(t *testing.T, got, want web.StoredSession) {
	t.Helper()
	times := func(s web.StoredSession) [3]time.Time { return [3]time.Time{s.Created, s.Seen, s.Expires} }
	gt, wt := times(got), times(want)
	for i := range gt {
		if !gt[i].Equal(wt[i]) {
			t.Errorf("time %d: %v, want %v", i, gt[i], wt[i])
		}
	}
	got.Created, got.Seen, got.Expires = time.Time{}, time.Time{}, time.Time{}
	want.Created, want.Seen, want.Expires = time.Time{}, time.Time{}, time.Time{}
	if !slices.Equal(got.Accounts, want.Accounts) {
		t.Errorf("accounts %q, want %q", got.Accounts, want.Accounts)
	}
	got.Accounts, want.Accounts = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
