package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

var errDiskGone = errors.New("disk I/O error: /var/lib/switchboard/history.db")

// brokenDisk fails every write while broken is set, as a database that
// cannot be written does.
func withBrokenDisk(broken *atomic.Bool) Option {
	return func(s *Store) {
		s.hook = func(context.Context, []change) error {
			if broken.Load() {
				return errDiskGone
			}
			return nil
		}
	}
}

// allCalls returns every saved call by id, and fails on an id saved
// twice.
func allCalls(t *testing.T, s *Store) map[monitor.CallID]monitor.Call {
	t.Helper()
	p, err := s.Query(context.Background(), Filter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := map[monitor.CallID]monitor.Call{}
	for _, c := range p.Calls {
		if _, dup := out[c.ID]; dup {
			t.Errorf("call %s saved twice", c.ID)
		}
		out[c.ID] = c
	}
	return out
}

// TestUnwritableDatabaseLosesNoCall: while the database cannot be
// written, every change goes to the spool, health says degraded (in plain
// words, no path) and the metrics count it; once it can be written
// again the retry loop saves every call, once.
func TestUnwritableDatabaseLosesNoCall(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			var broken atomic.Bool
			path := place(t, be)
			s, err := openPlace(context.Background(), path, withBrokenDisk(&broken), WithRetryBackoff(time.Millisecond, 5*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
			defer hub.Close()
			tr := monitor.NewTracker("home", hub)

			broken.Store(true)
			endCalls(tr, 0, 10)
			tr.Start("live", monitor.Call{From: monitor.Party{Number: "0309"}, Started: t0})
			tr.Answer("live", nil, t0.Add(time.Second))
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "every change spooled", func() bool { return s.Health().Spooled == 22 })
			h := s.Health()
			if h.OK || !strings.Contains(h.Problem, "cannot be written") || strings.Contains(h.Problem, "/var/lib") || !strings.Contains(h.Error, "/var/lib") {
				t.Fatalf("health while broken: %+v", h)
			}
			m := gather(t, s)
			if m["switchboard_history_writable"] != 0 || m["switchboard_history_spooled"] != 22 || m["switchboard_history_saved_total"] != 0 ||
				m["switchboard_history_unsaved_total{reason=error}"] != 22 {
				t.Fatalf("metrics while broken: %v", m)
			}
			if got := allCalls(t, s); len(got) != 0 {
				t.Fatalf("saved while broken: %v", got)
			}

			broken.Store(false)
			waitFor(t, "the spool written", func() bool { return s.Health().OK })
			got := allCalls(t, s)
			if len(got) != 10 {
				t.Fatalf("%d calls after the database came back, want 10", len(got))
			}
			for i := range 10 {
				if c, ok := got[monitor.MakeCallID("home", fmt.Sprint(i))]; !ok || c.State != monitor.Ended {
					t.Errorf("call %d: %+v", i, c)
				}
			}
			kept, err := s.ActiveCalls(context.Background())
			if err != nil || len(kept) != 1 || kept[0].ID != "home:live" || kept[0].State != monitor.Connected {
				t.Fatalf("active calls %+v %v, want home:live connected", kept, err)
			}
			// Back to saving at once.
			tr.End("live", monitor.Ending{At: t0.Add(time.Minute)})
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, ok := allCalls(t, s)["home:live"]; !ok {
				t.Fatal("the call ended after recovery is not saved")
			}
			m = gather(t, s)
			if m["switchboard_history_writable"] != 1 || m["switchboard_history_spooled"] != 0 || m["switchboard_history_spool_saved_total"] != 22 ||
				m["switchboard_history_lost_total{reason=spool-full}"] != 0 || m["switchboard_history_lost_total{reason=spool-error}"] != 0 {
				t.Fatalf("metrics after recovery: %v", m)
			}
		})
	}
}

// TestLockedDatabaseLosesNoCall holds the real database file's write
// lock from another connection (a backup, a sqlite3 shell left open):
// SQLite refuses the store's writes with "database is locked", the calls
// wait in the spool, and are saved once the lock is let go.
func TestLockedDatabaseLosesNoCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(context.Background(), path, withBusyTimeout(20*time.Millisecond), WithRetryBackoff(5*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	lock, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	for i := range 5 {
		c := ended("home", fmt.Sprint(i), i, monitor.Inbound, i%2 == 0, "0301", "5551")
		s.Observe(monitor.NewEvent(uint64(i+1), time.Now(), &c))
	}
	waitFor(t, "the calls spooled", func() bool { return s.Health().Spooled == 5 })
	if h := s.Health(); h.OK || !strings.Contains(h.Error, "locked") {
		t.Fatalf("health while locked: %+v", h)
	}
	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool written", func() bool { return s.Health().OK })
	if got := allCalls(t, s); len(got) != 5 {
		t.Fatalf("%d calls after the lock was let go, want 5", len(got))
	}
}

// TestSpoolSurvivesARestart: calls spooled while the database could not
// be written, and still spooled when the store closes, are saved by the
// next Open.
func TestSpoolSurvivesARestart(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			path := place(t, be)
			s, err := openPlace(context.Background(), path, withBrokenDisk(&broken))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				c := ended("home", fmt.Sprint(i), i, monitor.Outbound, true, "1", "2")
				s.Observe(monitor.NewEvent(uint64(i+1), time.Now(), &c))
			}
			active := ended("home", "up", 9, monitor.Inbound, true, "1", "2")
			active.State = monitor.Connected
			s.Observe(monitor.NewEvent(9, time.Now(), &active))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := spoolLines(t, SpoolPath(path)); n != 5 {
				t.Fatalf("%d changes in the spool at exit, want 5", n)
			}
			s2 := openAt(t, path)
			if got := allCalls(t, s2); len(got) != 4 {
				t.Fatalf("%d calls after the restart, want 4", len(got))
			}
			kept, err := s2.ActiveCalls(context.Background())
			if err != nil || len(kept) != 1 || kept[0].ID != active.ID {
				t.Fatalf("active after the restart %+v %v", kept, err)
			}
		})
	}
}

// TestActiveCallsMergeTheSpool: what the next run is given as active is
// the database's active calls brought up to date by the spool: a newer
// state replaces an older one, an end removes the call, and a change
// older than the database's is ignored.
func TestActiveCallsMergeTheSpool(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			var broken atomic.Bool
			s, err := openPlace(context.Background(), place(t, be), withBrokenDisk(&broken), WithRetryBackoff(time.Hour, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
			for _, ch := range []change{testChange("a", monitor.Ringing, at(1)), testChange("b", monitor.Ringing, at(1)), testChange("c", monitor.Connected, at(5))} {
				if err := s.write(ctx, []change{ch}); err != nil {
					t.Fatal(err)
				}
			}
			broken.Store(true)
			s.down.Store(true)
			for _, ch := range []change{testChange("a", monitor.Connected, at(2)), testChange("b", monitor.Ended, at(3)), testChange("c", monitor.Ringing, at(4)), testChange("d", monitor.Dialing, at(6))} {
				s.unsaved(ch, unsavedError, ErrUnavailable)
			}
			kept, err := s.ActiveCalls(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[monitor.CallID]monitor.State{}
			for _, c := range kept {
				got[c.ID] = c.State
			}
			want := map[monitor.CallID]monitor.State{"home:a": monitor.Connected, "home:c": monitor.Connected, "home:d": monitor.Dialing}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("active %v, want %v", got, want)
			}
			// Once written, the database says the same.
			broken.Store(false)
			if err := s.drain(ctx); err != nil {
				t.Fatal(err)
			}
			kept, _ = s.ActiveCalls(ctx)
			got = map[monitor.CallID]monitor.State{}
			for _, c := range kept {
				got[c.ID] = c.State
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("active after the drain %v, want %v", got, want)
			}
			if _, ok := allCalls(t, s)["home:b"]; !ok {
				t.Fatal("the spooled end of b is not saved")
			}
		})
	}
}

// TestSavedTwiceIsOneRow: the same ended call saved directly and again
// from the spool (a save whose answer was lost) is one row; a stale
// active change of a call already ended does not bring it back.
func TestSavedTwiceIsOneRow(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			end := testChange("a", monitor.Ended, t0.Add(time.Minute))
			if err := s.write(ctx, []change{end}); err != nil {
				t.Fatal(err)
			}
			s.unsaved(end, unsavedError, errDiskGone)
			s.unsaved(testChange("a", monitor.Ringing, t0), unsavedError, errDiskGone)
			if err := s.drain(ctx); err != nil {
				t.Fatal(err)
			}
			if got := allCalls(t, s); len(got) != 1 {
				t.Fatalf("%d rows, want 1", len(got))
			}
			if kept, err := s.ActiveCalls(ctx); err != nil || len(kept) != 0 {
				t.Fatalf("an ended call came back as active: %v %v", kept, err)
			}
		})
	}
}

// TestSpoolFullIsLostLoudly: with the database down and the spool full,
// a change is lost: logged at Error with its call, counted, and health
// says so.
func TestSpoolFullIsLostLoudly(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			var logs logBuffer
			line, _ := encodeChange(testChange("0", monitor.Ended, t0))
			s, err := openPlace(context.Background(), place(t, be), withBrokenDisk(&broken),
				WithSpoolLimit(int64(3*len(line)+len(line)/2)), WithRetryBackoff(time.Hour, time.Hour), WithLogger(slogJSON(&logs)))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 5 {
				c := ended("home", fmt.Sprint(i), 0, monitor.Inbound, false, "0301", "5551")
				s.Observe(monitor.NewEvent(uint64(i+1), time.Now(), &c))
			}
			waitFor(t, "two lost", func() bool { return s.Health().Lost == 2 })
			h := s.Health()
			if h.OK || !h.SpoolFull || h.Spooled != 3 || !strings.Contains(h.Problem, "full") {
				t.Fatalf("health %+v", h)
			}
			if m := gather(t, s); m["switchboard_history_lost_total{reason=spool-full}"] != 2 {
				t.Fatalf("metrics %v", m)
			}
			var lost []string
			for _, r := range logs.records(t) {
				if r["level"] == "ERROR" && r["msg"] == "history: call lost" {
					lost = append(lost, r["call"].(string))
				}
			}
			if fmt.Sprint(lost) != "[home:3 home:4]" {
				t.Fatalf("logged lost %v", lost)
			}
		})
	}
}

func TestRunsNumberTheKeys(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			path := place(t, be)
			s := openAt(t, path)
			if got := []string{s.NextKey("home"), s.NextKey("home"), s.NextKey("pbx")}; fmt.Sprint(got) != "[1.1 1.2 1.1]" {
				t.Fatalf("keys of run 1: %v", got)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := openAt(t, path)
			if k := s2.NextKey("home"); k != "2.1" || s2.Run() != 2 {
				t.Fatalf("first key of run %d: %s, want 2.1", s2.Run(), k)
			}
		})
	}
}

// TestOpenMigratesVersion1: a database of the first schema keeps its
// calls and gains the active calls.
func TestOpenMigratesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	v1 := `CREATE TABLE calls (id TEXT NOT NULL, started INTEGER NOT NULL, source TEXT NOT NULL, direction TEXT NOT NULL,
	reason TEXT NOT NULL, answered INTEGER, ended INTEGER NOT NULL, from_number TEXT NOT NULL, from_name TEXT NOT NULL,
	to_number TEXT NOT NULL, to_name TEXT NOT NULL, call TEXT NOT NULL, PRIMARY KEY (id, started));
	INSERT INTO calls VALUES ('home:0-1795424400', 1795424400000000000, 'home', 'inbound', 'no-answer', NULL, 1795424440000000000,
	'0301', '', '5551', '', '{"id":"home:0-1795424400","source":"home","direction":"inbound","state":"ended","from":{"number":"0301"},"to":{"number":"5551"},"started":"2026-11-23T09:00:00Z","ended":"2026-11-23T09:00:40Z","reason":"no-answer"}');
	PRAGMA user_version = 1;`
	if _, err := db.Exec(v1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := open(t, path)
	if got := allCalls(t, s); len(got) != 1 {
		t.Fatalf("calls after the migration: %v", got)
	}
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d %v", v, err)
	}
	if kept, err := s.ActiveCalls(context.Background()); err != nil || len(kept) != 0 {
		t.Fatalf("active calls %v %v", kept, err)
	}
}

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
