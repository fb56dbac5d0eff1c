package history

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// BenchmarkSave measures durable saves (WAL, synchronous=FULL: one fsync
// per call) into a growing table.
func BenchmarkSave(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "h.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c := ended("home", "0", 0, monitor.Inbound, true, "01701234567", "1234567")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.ID = monitor.MakeCallID("home", fmt.Sprint(i))
		if err := s.Save(ctx, c); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkQuery measures a history page search over 10,000 calls.
func BenchmarkQuery(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "h.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.db.Exec("PRAGMA synchronous = OFF"); err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		c := ended("home", fmt.Sprint(i), i, monitor.Inbound, i%3 == 0, fmt.Sprintf("0170%07d", i), "1234567")
		if err := s.Save(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Query(ctx, Filter{Number: "0170", Outcome: OutcomeMissed, Limit: 50, Offset: 100}); err != nil {
			b.Fatal(err)
		}
	}
}
