package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// statusSink records what a Bridge publishes and lets a test wait for a
// state.
type statusSink struct {
	mu      sync.Mutex
	changed chan struct{}
	status  map[monitor.SourceName][]monitor.SourceStatus
	calls   []monitor.Call
	exts    []monitor.Extension
}

func newStatusSink() *statusSink {
	return &statusSink{changed: make(chan struct{}), status: map[monitor.SourceName][]monitor.SourceStatus{}}
}

func (s *statusSink) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *statusSink) Call(c monitor.Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	s.notify()
}

func (s *statusSink) SourceStatus(st monitor.SourceStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[st.Name] = append(s.status[st.Name], st)
	s.notify()
}

func (s *statusSink) UserEvent(monitor.UserEvent) {}

// Publish records extensions (the lamps of accounts and busy lamps).
func (s *statusSink) Publish(p monitor.Payload) error {
	if e, ok := p.(*monitor.Extension); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.exts = append(s.exts, *e)
		s.notify()
	}
	return nil
}

// waitStatus waits until account's latest status has state.
func (s *statusSink) waitStatus(t *testing.T, account string, state monitor.LinkState, d time.Duration) monitor.SourceStatus {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		h := s.status[monitor.SourceName(account)]
		ch := s.changed
		s.mu.Unlock()
		if len(h) > 0 && h[len(h)-1].State == state {
			return h[len(h)-1]
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("account %s: state %s not reached in %v; history %+v", account, state, d, h)
		}
	}
}

// lastCall returns the latest published version of the call id.
func (s *statusSink) lastCall(id monitor.CallID) (monitor.Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.calls) - 1; i >= 0; i-- {
		if s.calls[i].ID == id {
			return s.calls[i], true
		}
	}
	return monitor.Call{}, false
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if os.Getenv("SIPBRIDGE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runningBridge is a Bridge run by a test; stop ends it and checks Run's
// result.
type runningBridge struct {
	*Bridge
	sink   *statusSink
	cancel context.CancelFunc
	// done is closed when Run has returned, err is what it returned: a
	// start-up failure seen by startBridge is still there for stop.
	done chan struct{}
	err  error
	once sync.Once
}

func (r *runningBridge) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
			if r.err != nil {
				t.Errorf("Run: %v", r.err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
}

// startBridge runs a bridge with cfg on loopback; accounts come from cfg.
func startBridge(t *testing.T, cfg Config, incoming func(*Call)) *runningBridge {
	t.Helper()
	r := runBridge(t, newTestBridge(t, cfg, incoming))
	r.waitReady(t)
	return r
}

// newTestBridge is a bridge for cfg on loopback, not running.
func newTestBridge(t *testing.T, cfg Config, incoming func(*Call)) *Bridge {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.RTPPortMin == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = 31000, 31999
	}
	b, err := New(cfg, newStatusSink(), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if incoming != nil {
		b.OnIncoming(incoming)
	}
	return b
}

// runBridge runs b until the test ends (or stop).
func runBridge(t *testing.T, b *Bridge) *runningBridge {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningBridge{Bridge: b, sink: b.sink.(*statusSink), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = b.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// waitReady waits until the bridge listens; it fails when Run returned.
func (r *runningBridge) waitReady(t *testing.T) {
	t.Helper()
	select {
	case <-r.Ready():
	case <-r.done:
		t.Fatalf("Run: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("bridge not ready")
	}
}

// probeUser sends an OPTIONS for sip:user@registrar through the registrar
// and returns the final status: 404 when no binding exists, the bound
// agent's answer otherwise (RFC 3261 section 11).
func probeUser(t *testing.T, registrar, user string) int {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raddr, err := net.ResolveUDPAddr("udp4", registrar)
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(registrar)
	msg := fmt.Sprintf("OPTIONS sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-probe%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=p%d\r\nTo: <sip:%s@%s>\r\nCall-ID: probe-%d@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		user, host, conn.LocalAddr(), time.Now().UnixNano(), host, time.Now().UnixNano(), user, host, time.Now().UnixNano())
	if _, err := conn.WriteTo([]byte(msg), raddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0
			}
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		var code int
		_, _ = fmt.Sscanf(line, "SIP/2.0 %d", &code)
		if code >= 200 {
			return code
		}
	}
}
