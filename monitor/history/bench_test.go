package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// BenchmarkSave measures durable saves into a growing table, one
// transaction per call: on SQLite WAL with synchronous=FULL (one fsync
// per call), on PostgreSQL a commit over the Unix socket of the test
// cluster (fsync on, synchronous_commit on).
func BenchmarkSave(b *testing.B) {
	for _, be := range backends {
		b.Run(string(be), func(b *testing.B) {
			s, err := openPlace(context.Background(), place(b, be))
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
		})
	}
}

// BenchmarkQuery measures a history page search over 10,000 calls: a
// number prefix, missed calls only, the third page, with its total.
func BenchmarkQuery(b *testing.B) {
	for _, be := range backends {
		b.Run(string(be), func(b *testing.B) {
			s, err := openPlace(context.Background(), place(b, be))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			// Filled 500 calls a transaction, not one fsync each.
			var chs []change
			for i := range 10000 {
				c := ended("home", fmt.Sprint(i), i, monitor.Inbound, i%3 == 0, fmt.Sprintf("0170%07d", i), "1234567")
				chs = append(chs, change{At: time.Now(), Call: c})
				if len(chs) == 500 {
					if err := s.write(ctx, chs); err != nil {
						b.Fatal(err)
					}
					chs = chs[:0]
				}
			}
			if be == Postgres {
				// As autovacuum would after such a load: the planner's
				// statistics.
				if _, err := s.db.ExecContext(ctx, "ANALYZE calls"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Query(ctx, Filter{Number: "0170", Outcome: OutcomeMissed, Limit: 50, Offset: 100}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
