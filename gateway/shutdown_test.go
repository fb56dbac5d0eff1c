package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/transport/v4/test"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// waitClosed waits until the page's connection has ended and returns why.
func (b *testBrowser) waitClosed() error {
	b.t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case _, open := <-b.msgs:
			if !open {
				b.mu.Lock()
				defer b.mu.Unlock()
				return b.closeErr
			}
		case <-deadline:
			b.t.Fatalf("connection still open after %s", testTimeout)
		}
	}
}

// TestShutdownSendsPagesAway: Shutdown closes every page with 1001 and a
// reason, hangs up the page's call, turns a call left ringing away with
// 480, and returns once the SIP side is done; no goroutine is left.
func TestShutdownSendsPagesAway(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	sip := newFakeSIP(t, "1001")
	g, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}, "bob": {"1001"}})
	anna := openBrowser(t, base, "anna", capPCMU)
	bob := openBrowser(t, base, "bob", capPCMU)

	anna.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
	out := <-sip.dialed
	anna.expectCall("trying")
	out.progress(sipbridge.StateConnected, &sipPCMU)
	anna.expectCall("connected")
	in := sip.ring("in-1", "1001", sipPCMU)
	bob.expect("incoming", nil)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, b := range map[string]*testBrowser{"anna": anna, "bob": bob} {
		err := b.waitClosed()
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != closeGoingAway {
			t.Errorf("%s's page closed with %v, want 1001 %q", name, err, closeGoingAway)
		}
	}
	select {
	case <-out.hungUp:
	default:
		t.Error("the page's call was not hung up")
	}
	select {
	case code := <-in.rejected:
		if code != 480 {
			t.Errorf("ringing call rejected with %d, want 480", code)
		}
	default:
		t.Error("the ringing call was not turned away")
	}
	// Shutdown and Close are idempotent; new pages are refused.
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
	late, _, err := websocket.Dial(ctx, base+"/phone?user=anna", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = late.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("page opened after shutdown: %v, want 1001", err)
	}
}

// TestShutdownForced: a hang-up the SIP side never finishes holds the
// shutdown until its ctx ends; then Shutdown cancels it and returns.
func TestShutdownForced(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	g, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	anna := openBrowser(t, base, "anna", capPCMU)
	anna.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
	out := <-sip.dialed
	out.stuck = true
	anna.expectCall("trying")
	out.progress(sipbridge.StateConnected, &sipPCMU)
	anna.expectCall("connected")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(ctx) }()
	<-out.hungUp
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a hang-up was still running", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("forced Shutdown: %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("forced Shutdown did not return")
	}
	out.end(monitor.ReasonCompleted, 0)
}
