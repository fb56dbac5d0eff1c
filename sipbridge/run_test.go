package sipbridge

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// silentRegistrar is a loopback UDP address that takes SIP requests and
// never answers them.
func silentRegistrar(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

// runToEnd runs b with ctx and returns Run's result; it fails the test
// when Run hangs.
func runToEnd(t *testing.T, ctx context.Context, b *Bridge) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func silentConfig(t *testing.T, listen string) Config {
	t.Helper()
	return Config{Listen: listen, Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", silentRegistrar(t), 60)}}
}

// TestRunStartupError: a Run whose listeners cannot be opened returns the
// error by itself, without waiting for its context, and Ready stays open.
func TestRunStartupError(t *testing.T) {
	tests := []struct {
		name string
		// fixed configures the taken port itself instead of port 0.
		fixed bool
		// collisions forces kernel-chosen UDP ports onto the taken port.
		collisions int
	}{
		{name: "configured port taken for TCP", fixed: true},
		{name: "every kernel-chosen port taken for TCP", collisions: listenAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			taken := takenTCPPort(t)
			listen := "127.0.0.1:0"
			if tt.fixed {
				listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(taken))
			}
			b := newTestBridge(t, silentConfig(t, listen), nil)
			b.listenUDP = (&collidingUDP{port: taken, collisions: tt.collisions}).listen
			// The context is never cancelled: Run must return on its own.
			if err := runToEnd(t, context.Background(), b); !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Run = %v, want EADDRINUSE", err)
			}
			select {
			case <-b.Ready():
				t.Error("Ready closed although nothing listens")
			default:
			}
		})
	}
}

// TestRunRetriesTakenPort: the UDP port the kernel picked first is taken
// for TCP; Run listens on another port for both, and returns on cancel.
func TestRunRetriesTakenPort(t *testing.T) {
	taken := takenTCPPort(t)
	b := newTestBridge(t, silentConfig(t, "127.0.0.1:0"), nil)
	f := &collidingUDP{port: taken, collisions: 1}
	b.listenUDP = f.listen
	r := runBridge(t, b)
	r.waitReady(t)
	st := r.stack()
	if st.port == taken || st.tcpL.Addr().(*net.TCPAddr).Port != st.port || f.count() != 2 {
		t.Errorf("listening on port %d (TCP %s) after %d tries, want a fresh port other than %d for both", st.port, st.tcpL.Addr(), f.count(), taken)
	}
	r.stop(t)
}

func TestRunCancelledBeforeStart(t *testing.T) {
	b := newTestBridge(t, silentConfig(t, "127.0.0.1:0"), nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := runToEnd(t, ctx, b); err != nil {
		t.Fatalf("Run = %v, want nil (a clean stop)", err)
	}
}

// TestRunReturnsOnCancelWithUnansweredInvite: an INVITE nobody answers
// (not even 100 Trying) cannot be cancelled (RFC 3261 section 9.1) and
// would hold its transaction for Timer B (32 s); Run gives the call its
// grace period, then closes the stack under it and returns.
func TestRunReturnsOnCancelWithUnansweredInvite(t *testing.T) {
	b := newTestBridge(t, silentConfig(t, "127.0.0.1:0"), nil)
	b.grace = 50 * time.Millisecond
	r := runBridge(t, b)
	r.waitReady(t)
	c, err := b.Dial(t.Context(), "office", "1002", []Codec{CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-c.Events(); ev.State != StateTrying {
		t.Fatalf("first event %+v, want trying", ev)
	}
	r.stop(t)
	select {
	case <-c.Done():
	default:
		t.Fatal("Run returned with the call still live")
	}
	var last CallEvent
	for ev := range c.Events() {
		last = ev
	}
	if last.State != StateEnded || last.Reason == monitor.ReasonCompleted {
		t.Errorf("last event %+v, want ended, not completed", last)
	}
}
