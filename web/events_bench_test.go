package web

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// BenchmarkEventsFanout is the hub → socket path in process: n real
// /events clients on loopback, each reading every change; one op is one
// change delivered to all of them. Run with -benchtime=2000x or so.
func BenchmarkEventsFanout(b *testing.B) {
	for _, n := range []int{10, 200} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			cfg := testConfig(b)
			cfg.Limits.MaxEventsPerToken = n
			e := newEnv(b, cfg, monitor.HubConfig{SubscriberBuffer: 1 << 16})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			for range n {
				conn := dialEvents(b, ctx, e.ts.URL, "", nil)
				mustRead(b, ctx, conn)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range b.N {
						if _, _, err := conn.Read(ctx); err != nil {
							return
						}
					}
				}()
			}
			c := testCall("home", "1", monitor.Connected)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				e.hub.Call(c)
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
