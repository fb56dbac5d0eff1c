package sipbridge

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ownGoroutines returns the stacks of goroutines running this package's
// code, test helpers excluded.
func ownGoroutines() []string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "switchboard/sipbridge.") {
			continue
		}
		if strings.Contains(g, "sipbridge.Test") || strings.Contains(g, "sipbridge.startFakeRegistrar") || strings.Contains(g, "sipbridge.startBridge") || strings.Contains(g, "sipbridge.ownGoroutines") ||
			strings.Contains(g, "sipbridge.(*fakeNotifier)") {
			continue
		}
		out = append(out, g)
	}
	return out
}

// TestRunLeavesNoGoroutines runs a bridge through registration and an
// outgoing call attempt, stops it, and checks that none of the
// goroutines it started survives Run.
func TestRunLeavesNoGoroutines(t *testing.T) {
	reg := startFakeRegistrar(t, 1, 60)
	r := startBridge(t, Config{RingTimeout: time.Minute, Accounts: []AccountConfig{{Name: "a", Registrar: reg.addr, Username: "u", Password: "x", Domain: "127.0.0.1"}}}, nil)
	r.sink.waitStatus(t, "a", "registered", 10*time.Second)
	// A call to a host that never answers: shutdown must end it.
	c, err := r.Dial(context.Background(), "a", "sip:nobody@127.0.0.1:9", []Codec{CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, StateRinging, 10*time.Second)
	r.stop(t)
	<-c.Done()
	if last := drain(t, c); last.Reason != "cancelled" {
		t.Errorf("call ended %+v, want cancelled by shutdown", last)
	}
	// A goroutine that has signalled its end may still be returning.
	for range 1000 {
		if len(ownGoroutines()) == 0 {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("goroutines left after Run returned:\n%s", strings.Join(ownGoroutines(), "\n\n"))
}

// TestBLFLeavesNoGoroutines: a busy lamp's goroutine, live and
// subscribed, ends with Run after its un-SUBSCRIBE.
func TestBLFLeavesNoGoroutines(t *testing.T) {
	n := startFakeNotifier(t)
	r := startBLF(t, n, 60)
	subscribed(t, n, 60, docOf(1, "", "", ""))
	r.sink.waitExtState(t, lampID, "idle", 5*time.Second)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		r.stop(t)
	}()
	n.respond(n.next(5*time.Second), 200, 0)
	<-stopped
	for range 1000 {
		if len(ownGoroutines()) == 0 {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("goroutines left after Run returned:\n%s", strings.Join(ownGoroutines(), "\n\n"))
}
