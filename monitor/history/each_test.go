package history

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

func TestEachStreamsTheFilter(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			for i := range 700 {
				src := monitor.SourceName("home")
				if i%2 == 1 {
					src = "pbx"
				}
				if err := s.Save(ctx, ended(src, string(rune('a'+i%26))+string(rune('a'+i/26)), i, monitor.Inbound, i%3 == 0, "0301", "5551234")); err != nil {
					t.Fatal(err)
				}
			}
			f := Filter{Source: "home", Outcome: OutcomeMissed, Since: t0.Add(100 * time.Minute), Until: t0.Add(600 * time.Minute), Limit: 5, Offset: 3}
			// Every call the filter selects, beyond one page, newest first.
			page, err := s.Query(ctx, Filter{Source: f.Source, Outcome: f.Outcome, Since: f.Since, Until: f.Until})
			if err != nil {
				t.Fatal(err)
			}
			var got []monitor.Call
			if err := s.Each(ctx, f, func(c monitor.Call) error {
				got = append(got, c)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != page.Total || page.Total < MaxLimit/3 {
				t.Fatalf("Each handed %d calls, the filter selects %d", len(got), page.Total)
			}
			for i, c := range got {
				if c.Source != "home" || !c.Answered.IsZero() || c.Started.Before(f.Since) || !c.Started.Before(f.Until) {
					t.Fatalf("call %d %+v is not in the filter", i, c)
				}
				if i > 0 && !c.Started.Before(got[i-1].Started) {
					t.Fatalf("call %d not older than the one before", i)
				}
			}

			// fn's error ends it, as it is.
			stop := errors.New("stop")
			n := 0
			if err := s.Each(ctx, Filter{}, func(monitor.Call) error {
				n++
				if n == 10 {
					return stop
				}
				return nil
			}); !errors.Is(err, stop) || n != 10 {
				t.Fatalf("Each after fn failed: %v after %d calls", err, n)
			}
			// So does a bad filter, before any call.
			if err := s.Each(ctx, Filter{Outcome: "maybe"}, func(monitor.Call) error { return nil }); !errors.Is(err, ErrBadFilter) {
				t.Fatalf("Each with a bad filter: %v", err)
			}
			if err := s.Each(ctx, Filter{Since: t0.Add(time.Hour), Until: t0}, func(monitor.Call) error { return nil }); !errors.Is(err, ErrBadFilter) {
				t.Fatalf("Each with until before since: %v", err)
			}
		})
	}
}
