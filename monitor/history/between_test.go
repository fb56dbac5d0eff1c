package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// TestCallsBetween: the calls that started in [from, to), oldest first,
// whatever order they were saved in; the bounds are half-open; fn's
// error stops the walk.
func TestCallsBetween(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			ctx := context.Background()
			for _, n := range []int{30, -1, 0, 59, 60, 10} {
				if err := s.Save(ctx, ended("home", fmt.Sprintf("k%d", n), n, monitor.Inbound, n%2 == 0, "0301", "20")); err != nil {
					t.Fatal(err)
				}
			}
			tests := []struct {
				name     string
				from, to time.Time
				want     []int // minutes after t0
			}{
				{"the hour", t0, t0.Add(time.Hour), []int{0, 10, 30, 59}},
				{"nothing", t0.Add(2 * time.Hour), t0.Add(3 * time.Hour), nil},
				{"to is excluded", t0.Add(-time.Minute), t0.Add(10 * time.Minute), []int{-1, 0}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var got []int
					err := s.CallsBetween(ctx, tt.from, tt.to, func(c monitor.Call) error {
						got = append(got, int(c.Started.Sub(t0)/time.Minute))
						return nil
					})
					if err != nil || !slices.Equal(got, tt.want) {
						t.Fatalf("got %v %v, want %v", got, err, tt.want)
					}
				})
			}
			stop := errors.New("enough")
			n := 0
			err := s.CallsBetween(ctx, t0, t0.Add(time.Hour), func(monitor.Call) error { n++; return stop })
			if !errors.Is(err, stop) || n != 1 {
				t.Errorf("fn's error: %v after %d calls, want %v after 1", err, n, stop)
			}
		})
	}
}

// TestCallsBetweenSeesQueuedCalls: a call handed to Observe a moment
// ago, still in the queue, is counted: CallsBetween waits for the queue.
func TestCallsBetweenSeesQueuedCalls(t *testing.T) {
	for _, be := range backends {
		t.Run(string(be), func(t *testing.T) {
			s := openAt(t, place(t, be))
			hub := monitor.NewHub(monitor.HubConfig{}, monitor.WithObserver(s.Observe))
			tr := monitor.NewTracker("home", hub)
			tr.Start("0", monitor.Call{From: monitor.Party{Number: "0301"}, To: monitor.Party{Number: "20"}, Started: t0})
			tr.End("0", monitor.Ending{At: t0.Add(10 * time.Second)})
			var got []monitor.CallID
			if err := s.CallsBetween(context.Background(), t0, t0.Add(time.Minute), func(c monitor.Call) error {
				got = append(got, c.ID)
				return nil
			}); err != nil || len(got) != 1 {
				t.Fatalf("got %v %v, want the one call just ended", got, err)
			}
		})
	}
}
