package sipbridge

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// startSippBLF runs a notifier scenario in sipp and a bridge whose
// account registers at kamailio and sends its busy-lamp SUBSCRIBEs to
// sipp (blf_server), watching 1001.
func startSippBLF(t *testing.T, scenario string, calls string) (*runningBridge, *siptest.Sipp) {
	t.Helper()
	siptest.RequireBinaries(t, "kamailio", "sipp")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	sipp := siptest.StartSipp(t, scenario, "-m", calls)
	acct := testAccount("office", "1000", "pw1000", kam.Addr(), 60)
	acct.BLF = []BLFTarget{{Target: "1001"}}
	acct.BLFServer = sipp.Addr()
	r := startBridge(t, Config{RetryMin: 100 * time.Millisecond, RetryMax: time.Second, Accounts: []AccountConfig{acct}}, nil)
	return r, sipp
}

// TestBLFSippRefresh481: the notifier grants 2 s and answers the refresh
// 481; the lamp subscribes anew at once (sipp's second call).
func TestBLFSippRefresh481(t *testing.T) {
	r, sipp := startSippBLF(t, "uas-blf-481.xml", "2")
	e := r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 15*time.Second)
	if len(e.Peers) != 1 || e.Peers[0].Number != "1002" || e.Peers[0].Name != "Ben" {
		t.Fatalf("lamp %+v", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sipp.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBLFSippDeactivated: the notifier ends the subscription with
// reason=deactivated; the lamp subscribes anew at once (sipp's second
// call).
func TestBLFSippDeactivated(t *testing.T) {
	r, sipp := startSippBLF(t, "uas-blf-deactivated.xml", "2")
	r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sipp.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBLFSippNotifyBefore200: the first NOTIFY comes before the 200 to
// the SUBSCRIBE and is taken; on shutdown the un-SUBSCRIBE goes out in
// that dialog, with Expires: 0.
func TestBLFSippNotifyBefore200(t *testing.T) {
	r, sipp := startSippBLF(t, "uas-blf-notify-first.xml", "1")
	e := r.sink.waitExtState(t, lampID, monitor.DeviceRinging, 15*time.Second)
	if len(e.Peers) != 1 || e.Peers[0].Number != "1003" || e.Peers[0].Name != "Cara" {
		t.Fatalf("lamp %+v", e)
	}
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionActive, 15*time.Second)
	// Stop only once the 200 came: sipp takes no un-SUBSCRIBE before it
	// sent that.
	sub := r.byName["office"].subs[0]
	deadline := time.Now().Add(15 * time.Second)
	for {
		sub.mu.Lock()
		accepted := !sub.acceptedAt.IsZero()
		sub.mu.Unlock()
		if accepted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 200 to the SUBSCRIBE never came")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sipp.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
