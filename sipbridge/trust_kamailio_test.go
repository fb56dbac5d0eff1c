package sipbridge

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// TestStrangerGetsNoRing: an INVITE and an OPTIONS from an address that is
// not the account's registrar (another loopback address) get no answer at
// all, ring nobody and reach neither the monitor nor the history; the
// registrar's own requests are answered as before.
func TestStrangerGetsNoRing(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	var rang atomic.Int32
	br := startBridge(t, Config{Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", kam.Addr(), 60)}}, func(c *Call) {
		rang.Add(1)
		go func() { _ = c.Reject(context.Background(), 486) }()
		go func() {
			for range c.Events() {
			}
		}()
	})
	br.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)

	stranger := siptest.NewRawPeer(t, "127.0.0.2:0", br.sip.udpC.LocalAddr().String())
	if err := stranger.Invite("1000", "stranger-1@127.0.0.2", `<script>alert(1)</script>`); err != nil {
		t.Fatal(err)
	}
	if err := stranger.Options("stranger-2@127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, &br.metrics.strangers, 2, "the stranger's requests refused")
	// The registrar's OPTIONS through kamailio is answered by us: had the
	// stranger's INVITE been answered, its answer would have been sent
	// before this one was.
	if code := probeUser(t, kam.Addr(), "1000"); code != 200 {
		t.Fatalf("OPTIONS through the registrar = %d, want 200", code)
	}
	if n := stranger.Answers(); n != 0 {
		t.Errorf("the stranger got %d answers, want none", n)
	}
	if n := rang.Load(); n != 0 {
		t.Errorf("%d incoming calls handed on, want none", n)
	}
	br.sink.mu.Lock()
	calls := len(br.sink.calls)
	br.sink.mu.Unlock()
	if calls != 0 {
		t.Errorf("%d call changes published to the monitor, want none", calls)
	}

	// The same INVITE from the registrar's address rings.
	trusted := siptest.NewRawPeer(t, "127.0.0.1:0", br.sip.udpC.LocalAddr().String())
	if err := trusted.Invite("1000", "trusted-1@127.0.0.1", "Anna"); err != nil {
		t.Fatal(err)
	}
	trusted.Wait(t, 10*time.Second, "the registrar's INVITE answered", func(final map[string]int, ringing map[string]bool) bool {
		return ringing["trusted-1@127.0.0.1"] && final["trusted-1@127.0.0.1"] == 486
	})
	if n := rang.Load(); n != 1 {
		t.Errorf("%d incoming calls handed on, want 1", n)
	}
}

// TestRingingCap: 300 INVITEs at once from the registrar's address ring
// at most max_ringing_calls; every other one is answered 486 Busy Here at
// once, and none of those reaches the monitor.
func TestRingingCap(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	const burst, limit = 300, 3
	acc := testAccount("office", "1000", "pw1000", kam.Addr(), 60)
	acc.MaxRingingCalls = limit
	var rang atomic.Int32
	br := startBridge(t, Config{Accounts: []AccountConfig{acc}}, func(c *Call) {
		rang.Add(1)
		// Left ringing: the bridge ends them when it stops.
		go func() {
			for range c.Events() {
			}
		}()
	})
	br.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	peer := siptest.NewRawPeer(t, "127.0.0.1:0", br.sip.udpC.LocalAddr().String())
	peer.Flood(t, "1000", "burst-%d@127.0.0.1", burst, 30*time.Second)
	peer.Wait(t, 10*time.Second, "every INVITE but the ringing ones refused", func(final map[string]int, ringing map[string]bool) bool {
		busy := 0
		for _, code := range final {
			if code == 486 {
				busy++
			}
		}
		return busy == burst-limit && len(ringing) == limit
	})
	if n := rang.Load(); n != limit {
		t.Errorf("%d incoming calls handed on, want %d", n, limit)
	}
	if n := br.metrics.overRinging.Load(); n != burst-limit {
		t.Errorf("ringing-cap refusals counted %d, want %d", n, burst-limit)
	}
	br.sink.mu.Lock()
	ids := map[string]bool{}
	for _, c := range br.sink.calls {
		ids[string(c.ID)] = true
	}
	br.sink.mu.Unlock()
	if len(ids) != limit {
		t.Errorf("%d calls published to the monitor, want %d", len(ids), limit)
	}
}

// waitCount waits until n reaches want, polling, for at most 10 s.
func waitCount(t *testing.T, n *atomic.Uint64, want uint64, what string) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for n.Load() < want {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: %d of %d", what, n.Load(), want)
		}
	}
}
