//go:build linux

package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

// muxSockets counts the sockets the server's mux serves.
func muxSockets(s *Server) int {
	s.evmux.mu.Lock()
	m := s.evmux.m
	s.evmux.mu.Unlock()
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs)
}

// waitUntil polls cond until it holds, failing after a generous deadline.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEventMuxManySockets: many plain TCP sockets are served by the mux,
// with no goroutine of their own, and each gets every change in order.
func TestEventMuxManySockets(t *testing.T) {
	const n = 300
	cfg := testConfig(t)
	cfg.Limits.MaxEventsPerToken = n
	e := newEnv(t, cfg, monitor.HubConfig{SubscriberBuffer: 256})
	ctx := testCtx(t)
	before := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialEvents(t, ctx, e.ts.URL, "", nil)
		if m := mustRead(t, ctx, conns[i]); m.Type != "snapshot" {
			t.Fatalf("socket %d: first message %q", i, m.Type)
		}
	}
	if got := muxSockets(e.srv); got != n {
		t.Fatalf("the mux serves %d sockets, want %d", got, n)
	}
	if grown := runtime.NumGoroutine() - before; grown > n/4 {
		t.Fatalf("%d more goroutines for %d sockets", grown, n)
	}
	const changes = 20
	for i := range changes {
		e.hub.Call(testCall("home", fmt.Sprint(i), monitor.Ringing))
	}
	for i, c := range conns {
		for j := range changes {
			m := mustRead(t, ctx, c)
			if m.Call == nil || m.Call.ID != monitor.CallID(fmt.Sprintf("home:%d", j)) {
				t.Fatalf("socket %d, change %d: %+v", i, j, m)
			}
		}
	}
}

// TestEventMuxCoalesces: with coalescing on, changes that come while a
// socket was written a moment ago still all arrive, in order.
func TestEventMuxCoalesces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{}, WithEventCoalesce(100*time.Millisecond))
	ctx := testCtx(t)
	c := dialEvents(t, ctx, e.ts.URL, "", nil)
	mustRead(t, ctx, c)
	for round := range 3 {
		for i := range 5 {
			e.hub.Call(testCall("home", fmt.Sprintf("%d-%d", round, i), monitor.Ringing))
		}
		for i := range 5 {
			if m := mustRead(t, ctx, c); m.Call == nil || m.Call.ID != monitor.CallID(fmt.Sprintf("home:%d-%d", round, i)) {
				t.Fatalf("round %d, change %d: %+v", round, i, m)
			}
		}
	}
}

// TestEventMuxCoalesceEndsEarly: a socket written a moment ago holds the
// next changes back for the coalescing window (an hour here), but no
// longer than until coalesceMax of them wait; then they all go out, in
// order.
func TestEventMuxCoalesceEndsEarly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{}, WithEventCoalesce(time.Hour))
	ctx := testCtx(t)
	c := dialEvents(t, ctx, e.ts.URL, "", nil)
	mustRead(t, ctx, c) // the snapshot
	// The first change goes out at once; having been written, the socket
	// holds what comes next.
	e.hub.Call(testCall("home", "first", monitor.Ringing))
	if m := mustRead(t, ctx, c); m.Call == nil || m.Call.ID != "home:first" {
		t.Fatalf("first change: %+v", m)
	}
	got := make(chan wireMsg, 2*coalesceMax)
	go func() {
		for {
			m, err := readMsg(ctx, c)
			if err != nil {
				return
			}
			got <- m
		}
	}()
	for i := range coalesceMax - 1 {
		e.hub.Call(testCall("home", fmt.Sprint(i), monitor.Ringing))
	}
	select {
	case m := <-got:
		t.Fatalf("%+v arrived with %d changes waiting, want it held", m, coalesceMax-1)
	case <-time.After(300 * time.Millisecond):
	}
	e.hub.Call(testCall("home", fmt.Sprint(coalesceMax-1), monitor.Ringing))
	for i := range coalesceMax {
		select {
		case m := <-got:
			if m.Call == nil || m.Call.ID != monitor.CallID(fmt.Sprintf("home:%d", i)) {
				t.Fatalf("change %d: %+v", i, m)
			}
		case <-ctx.Done():
			t.Fatalf("change %d of %d did not arrive: the backlog did not end the hold", i, coalesceMax)
		}
	}
}

// TestEventMuxClientGoes: a client that closes (with the close handshake,
// which the server answers, or by dropping the connection) ends its
// stream and subscription.
func TestEventMuxClientGoes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		close func(*websocket.Conn) error
	}{
		{"close handshake", func(c *websocket.Conn) error { return c.Close(websocket.StatusNormalClosure, "bye") }},
		{"connection dropped", func(c *websocket.Conn) error { _ = c.CloseNow(); return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig(t), monitor.HubConfig{})
			ctx := testCtx(t)
			c := dialEvents(t, ctx, e.ts.URL, "", nil)
			mustRead(t, ctx, c)
			waitUntil(t, "the mux serves the socket", func() bool { return muxSockets(e.srv) == 1 })
			if err := tt.close(c); err != nil {
				t.Fatalf("close: %v (the server did not answer the close handshake)", err)
			}
			waitUntil(t, "the stream ended", func() bool {
				return muxSockets(e.srv) == 0 && e.srv.openStreams(streamEvents) == 0 && e.hub.Stats().Subscribers == 0
			})
			if st := e.hub.Stats(); st.Dropped[monitor.CloseClientClosed] != 1 {
				t.Fatalf("dropped %v, want one closed by the client", st.Dropped)
			}
		})
	}
}

// TestEventMuxPings: the server pings on schedule and a client that
// answers stays; it answers the client's pings; a client that stops
// answering is dropped as too slow, with the reason.
func TestEventMuxPings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{}, WithEventTimings(300*time.Millisecond, 50*time.Millisecond))
	ctx := testCtx(t)
	var pings, refuse atomic.Int32
	conn, _, err := websocket.Dial(ctx, wsURL(e.ts.URL, ""), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + testViewerToken}},
		OnPingReceived: func(context.Context, []byte) bool {
			pings.Add(1)
			return refuse.Load() == 0
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	mustRead(t, ctx, conn)
	readCtx := conn.CloseRead(ctx) // answers pings from here on
	waitUntil(t, "three pings answered", func() bool { return pings.Load() >= 3 })
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("the server did not answer a ping: %v", err)
	}
	if muxSockets(e.srv) != 1 || e.hub.Stats().Subscribers != 1 {
		t.Fatal("a client answering pings was dropped")
	}
	refuse.Store(1)
	<-readCtx.Done()
	waitUntil(t, "the silent client dropped", func() bool { return e.hub.Stats().Dropped[monitor.CloseSlow] == 1 })
	waitUntil(t, "its socket closed", func() bool { return muxSockets(e.srv) == 0 })
}

// TestEventMuxDataMessageCloses: the stream is write-only; a client that
// sends a message is closed with 1008, as before.
func TestEventMuxDataMessageCloses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	ctx := testCtx(t)
	c := dialEvents(t, ctx, e.ts.URL, "", nil)
	mustRead(t, ctx, c)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"hello":1}`)); err != nil {
		t.Fatal(err)
	}
	_, err := readMsg(ctx, c)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "unexpected data message" {
		t.Fatalf("after a data message: %v", err)
	}
}

// TestEventMuxFullSocketDropped: a client whose socket does not take a
// change whole (one bigger than its send buffer: the backlog limit,
// checked between changes, cannot hold it back) is dropped by the write
// timeout, while a reading client gets every change.
func TestEventMuxFullSocketDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{SubscriberBuffer: 1 << 20},
		WithEventTimings(3*time.Second, time.Hour), WithEventBacklog(1<<30, time.Hour))
	ctx := testCtx(t)
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	stalled, _, err := websocket.Dial(ctx, wsURL(e.ts.URL, ""), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + testViewerToken}},
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: small.DialContext}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.CloseNow()
	fast := dialEvents(t, ctx, e.ts.URL, "", nil)
	fast.SetReadLimit(16 << 20)
	snap := mustRead(t, ctx, fast)
	// Bigger than any send buffer, so the stalled socket cannot take
	// one whole; the fast client's writes wait for its reader too, and
	// the write timeout is long enough for it to read one however busy
	// the machine (a reader slower than that is dropped as well).
	pad := strings.Repeat("x", 6<<20)
	published := 0
	deadline := time.Now().Add(30 * time.Second)
	for e.hub.Stats().Dropped[monitor.CloseSlow] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stalled client not dropped after %d changes", published)
		}
		c := testCall("home", fmt.Sprint(published), monitor.Ringing)
		c.Vars = map[string]string{"pad": pad}
		e.hub.Call(c)
		published++
		if m := mustRead(t, ctx, fast); m.Seq != snap.Seq+uint64(published) {
			t.Fatalf("fast client got seq %d, want %d", m.Seq, snap.Seq+uint64(published))
		}
		// A change at a time while the stalled client's write timeout
		// runs, so that its backlog stays small.
		for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait) && e.hub.Stats().Dropped[monitor.CloseSlow] == 0; {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitUntil(t, "the stalled socket closed", func() bool { return muxSockets(e.srv) == 1 })
	e.hub.Call(testCall("home", "after", monitor.Ringing))
	if m := mustRead(t, ctx, fast); m.Call == nil || m.Call.ID != "home:after" {
		t.Fatalf("fast client after the drop: %+v", m)
	}
}

// TestEventMuxShutdown: a shutdown closes every socket with 1001 and the
// mux's goroutines end with the server.
func TestEventMuxShutdown(t *testing.T) {
	t.Parallel()
	const n = 50
	cfg := testConfig(t)
	cfg.Limits.MaxEventsPerToken = n
	srv, stop, wait := startServer(t, cfg, Deps{})
	ctx := testCtx(t)
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dialEvents(t, ctx, "http://"+srv.Addr().String(), "", nil)
		mustRead(t, ctx, conns[i])
	}
	if got := muxSockets(srv); got != n {
		t.Fatalf("the mux serves %d sockets, want %d", got, n)
	}
	go func() { _ = stop() }()
	for i, c := range conns {
		if _, err := readMsg(ctx, c); websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("socket %d after shutdown: %v, want going away", i, err)
		}
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	srv.evmux.mu.Lock()
	m := srv.evmux.m
	srv.evmux.mu.Unlock()
	if m != nil {
		t.Fatal("the mux is still running after the shutdown")
	}
}

// TestEventMuxForcedClose: a forced shutdown cuts a socket the mux
// serves (the writers own its descriptor, so the writer running it closes
// it when asked) without a close frame, and the mux lets it go.
func TestEventMuxForcedClose(t *testing.T) {
	t.Parallel()
	srv, _, _ := startServer(t, testConfig(t), Deps{})
	ctx, conn := openedEvents(t, srv)
	if got := muxSockets(srv); got != 1 {
		t.Fatalf("the mux serves %d sockets, want 1", got)
	}
	srv.force()
	_, err := readMsg(ctx, conn)
	if err == nil || websocket.CloseStatus(err) != -1 || ctx.Err() != nil {
		t.Fatalf("read after the forced close: %v, want the connection cut", err)
	}
	waitUntil(t, "the mux let the socket go", func() bool { return muxSockets(srv) == 0 })
}
