//go:build linux

package web

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// BenchmarkEventsIdleMemory is what an idle /events socket keeps on the
// server's heap: n sockets opened with a bare handshake (the client side
// holds only its net.Conn), the live heap after a collection, per socket.
func BenchmarkEventsIdleMemory(b *testing.B) {
	const n = 1000
	cfg := testConfig(b)
	cfg.Limits.MaxEventsPerToken = n
	e := newEnv(b, cfg, monitor.HubConfig{})
	addr := strings.TrimPrefix(e.ts.URL, "http://")
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", addr, testViewerToken)
			resp, err := http.ReadResponse(bufio.NewReaderSize(c, 16), nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				b.Fatalf("handshake: %v %v", resp, err)
			}
			conns[i] = c
		}
		waitUntil(b, "every socket served", func() bool { return muxSockets(e.srv) == n })
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heapB/socket")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stackB/socket")
		for _, c := range conns {
			_ = c.Close()
		}
		waitUntil(b, "every socket closed", func() bool { return muxSockets(e.srv) == 0 })
	}
}
