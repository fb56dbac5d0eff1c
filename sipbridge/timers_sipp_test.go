package sipbridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// sessionDropped is how a call nobody refreshed ends.
func sessionDropped(t *testing.T, c *Call) {
	t.Helper()
	last := drain(t, c)
	if last.Reason != monitor.ReasonFailed || !strings.Contains(last.Text, "refreshing the session") || last.Media != MediaNone {
		t.Errorf("ended %+v, want the session expired", last)
	}
}

// TestSessionTimerAsUAS: a caller asks for too short a session (422 with
// our Min-SE), then for 2 s with us as the refresher; we refresh by
// UPDATE at half the interval, it takes the refreshing over and never
// refreshes, and we end the call with BYE.
func TestSessionTimerAsUAS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, sipp, c := incomingFromSipp(t, ctx, Config{MinSE: 2 * time.Second}, "uac-timer.xml")
	start := time.Now()
	sessionDropped(t, c)
	t.Logf("refreshed once, then ended %v after the answer", time.Since(start).Round(time.Millisecond))
	if err := sipp.Wait(ctx); err != nil {
		t.Error(err)
	}
}

// TestSessionTimerAsUAC: our INVITE asks for a session interval, the far
// end (through kamailio) answers 422 with a larger Min-SE, we ask again
// with it, refresh by re-INVITE as the refresher it made us, hand the
// refreshing over by its 200, and end the call with BYE when it never
// refreshes.
func TestSessionTimerAsUAC(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "sipp")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	b := newTestBridge(t, Config{RTPListenIP: "127.0.0.1", Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", kam.Addr(), 60)}}, nil)
	// Below the RFC's 90 s, which only a test may do.
	b.cfg.SessionExpires, b.cfg.MinSE = 2*time.Second, time.Second
	r := runBridge(t, b)
	r.waitReady(t)
	r.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sipp := siptest.StartSippUAS(ctx, t, siptest.SippUASOptions{Registrar: kam.Addr(), User: "1002", Scenario: "uas-timer.xml"})
	c, err := r.Dial(ctx, "office", "1002", []Codec{CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	if ev := waitState(t, c, StateConnected, 15*time.Second); ev.Media != MediaActive {
		t.Fatalf("connected %+v", ev)
	}
	sessionDropped(t, c)
	if err := sipp.Wait(ctx); err != nil {
		t.Error(err)
	}
}
