package monitor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkHubFanout publishes call changes to many subscribers that each
// drain their channel in their own goroutine, and reports deliveries per
// second and the mean ingest-to-delivery latency.
func BenchmarkHubFanout(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub(HubConfig{SubscriberBuffer: 1024})
			defer h.Close()
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				latTotal time.Duration
				latCount int64
			)
			for i := 0; i < n; i++ {
				sub, _ := h.Subscribe(nil)
				wg.Add(1)
				go func() {
					defer wg.Done()
					var sum time.Duration
					var cnt int64
					for {
						select {
						case ev := <-sub.Events():
							sum += time.Since(ev.At)
							cnt++
							if cnt == int64(b.N) {
								mu.Lock()
								latTotal += sum
								latCount += cnt
								mu.Unlock()
								return
							}
						case <-sub.Done():
							mu.Lock()
							latTotal += sum
							latCount += cnt
							mu.Unlock()
							return
						}
					}
				}()
			}
			c := call("s:1", Connected)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				h.Call(c)
				if i%512 == 511 {
					// Let subscribers drain as a real event rate would.
					for pending(h) > 256 {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			dropped := h.Stats().Dropped[CloseSlow]
			b.ReportMetric(float64(latCount)/elapsed.Seconds(), "deliveries/s")
			if latCount > 0 {
				b.ReportMetric(float64(latTotal.Microseconds())/float64(latCount), "µs-latency")
			}
			b.ReportMetric(float64(dropped), "dropped")
		})
	}
}

// pending is the longest subscriber backlog.
func pending(h *Hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := 0
	for s := range h.subs {
		if l := len(s.ch); l > m {
			m = l
		}
	}
	return m
}

func BenchmarkTrackerLifecycle(b *testing.B) {
	h := NewHub(HubConfig{})
	defer h.Close()
	tr := NewTracker("bench", h)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k := "k"
		tr.Start(k, Call{Direction: Inbound, From: Party{Number: "0301234567"}, To: Party{Number: "5551"}})
		tr.Answer(k, nil, time.Time{})
		tr.End(k, Ending{})
	}
	b.ReportMetric(float64(b.N*3)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPublishDurable publishes call changes to a hub whose observer
// offers every event to an Outbox, as the history and webhooks do: with a
// handler that keeps up, and with one stuck for good (a dead disk), where
// every offer overflows. Publishing must cost about the same either way.
func BenchmarkPublishDurable(b *testing.B) {
	for _, tc := range []struct {
		name  string
		stuck bool
	}{{"keeping-up", false}, {"stuck", true}} {
		b.Run(tc.name, func(b *testing.B) {
			release := make(chan struct{})
			o := NewOutbox(OutboxConfig{Size: 1024}, func(ctx context.Context, _ Event) error {
				if tc.stuck {
					select {
					case <-release:
					case <-ctx.Done():
					}
				}
				return nil
			})
			h := NewHub(HubConfig{}, WithObserver(func(ev Event) { o.Offer(ev) }))
			c := call("s:1", Connected)
			b.ReportAllocs()
			for b.Loop() {
				h.Call(c)
			}
			b.StopTimer()
			close(release)
			h.Close()
			_ = o.Close(context.Background())
			st := o.Stats()
			b.ReportMetric(float64(st.Overflow)/float64(b.N), "overflow/op")
		})
	}
}
