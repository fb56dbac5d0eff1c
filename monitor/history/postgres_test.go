package history

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history/pgtest"
)

// TestPostgresNodesStartTogether opens one PostgreSQL history from many
// stores at once, as nodes started together do: the advisory lock lets
// one migrate and the others find the schema made, every store counts a
// run of its own (so their call keys differ), and the same ended call
// saved by all of them is one row.
func TestPostgresNodesStartTogether(t *testing.T) {
	dsn := pg.Database(t)
	const nodes = 6
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			stores[i], errs[i] = OpenPostgres(context.Background(), dsn, filepath.Join(t.TempDir(), "h.spool"))
		})
	}
	wg.Wait()
	runs := map[int64]bool{}
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		defer s.Close()
		if runs[s.Run()] {
			t.Errorf("run %d counted twice", s.Run())
		}
		runs[s.Run()] = true
	}
	var version int
	if err := stores[0].db.QueryRow("SELECT version FROM schema_versions WHERE part = 'history'").Scan(&version); err != nil || version != 1 {
		t.Fatalf("schema version %d %v, want 1", version, err)
	}
	c := ended("home", "same", 0, monitor.Inbound, true, "0301", "1234567")
	for _, s := range stores {
		wg.Go(func() {
			if err := s.Save(context.Background(), c); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	p, err := stores[nodes-1].Query(context.Background(), Filter{})
	if err != nil || p.Total != 1 {
		t.Fatalf("page %+v %v, want the one call", p, err)
	}
}

// TestPostgresRefusesNewerSchema: a database a newer Switchboard
// migrated is refused, not misread.
func TestPostgresRefusesNewerSchema(t *testing.T) {
	dsn := pg.Database(t)
	s, err := OpenPostgres(context.Background(), dsn, filepath.Join(t.TempDir(), "h.spool"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("UPDATE schema_versions SET version = 99 WHERE part = 'history'"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenPostgres(context.Background(), dsn, filepath.Join(t.TempDir(), "h.spool")); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open = %v, want newer-schema error", err)
	}
}

// TestPostgresBadDSN: a connection string that cannot be read is said so.
func TestPostgresBadDSN(t *testing.T) {
	_, err := OpenPostgres(context.Background(), "postgres://a b@/x?sslmode=nonsense", filepath.Join(t.TempDir(), "h.spool"))
	if err == nil || !strings.Contains(err.Error(), ErrBadDSN.Error()) {
		t.Fatalf("Open = %v, want ErrBadDSN", err)
	}
}

// TestPostgresOutageLosesNoCall stops the PostgreSQL server (a cluster
// of the test's own) while calls end: the store notices within a ping,
// /healthz's history says so, the calls wait in the spool and are
// written once the server is back, each once.
func TestPostgresOutageLosesNoCall(t *testing.T) {
	pg.Cluster(t) // skips or fails as the shared cluster does
	ctx := context.Background()
	cl, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dsn, err := cl.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenPostgres(ctx, dsn, filepath.Join(t.TempDir(), "h.spool"), WithRetryBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
	defer hub.Close()
	tr := monitor.NewTracker("home", hub)
	endCalls(tr, 0, 5)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	// Nothing written yet: the ping finds the server gone.
	waitFor(t, "the outage noticed", func() bool { return !s.Health().OK })
	if h := s.Health(); h.Reachable || h.Spooled != 0 || !strings.Contains(h.Problem, "PostgreSQL server does not answer") {
		t.Fatalf("health once the check found the server gone: %+v", h)
	}
	endCalls(tr, 5, 5)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the calls spooled", func() bool { return s.Health().Spooled == 10 })
	if h := s.Health(); h.OK || h.Reachable || h.Database != Postgres || !strings.Contains(h.Problem, "cannot be written") {
		t.Fatalf("health in the outage: %+v", h)
	}
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool written", func() bool { return s.Health().OK })
	endCalls(tr, 10, 2)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := allCalls(t, s)
	if len(got) != 12 {
		t.Fatalf("%d calls after the outage, want 12", len(got))
	}
	for i := range 12 {
		if _, ok := got[monitor.MakeCallID("home", fmt.Sprint(i))]; !ok {
			t.Errorf("call %d lost", i)
		}
	}
	if h := s.Health(); !h.OK || h.Lost != 0 {
		t.Fatalf("health after the outage: %+v", h)
	}
}
