package sipbridge

import (
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// TestAccountLamp: a softphone account is an extension whose state
// follows its registration and its calls.
func TestAccountLamp(t *testing.T) {
	rec := monitortest.NewRecorder()
	l := newLamp(rec, AccountConfig{Name: "office", Username: "1000"}, "sip:1000@pbx.example")
	const id = "office:office"
	state := func() monitor.DeviceState {
		e, ok := rec.Extension(id)
		if !ok {
			return ""
		}
		return e.State
	}
	l.registration(monitor.LinkRegistering)
	if len(rec.Extensions()) != 0 {
		t.Fatal("an account not yet registered was shown")
	}
	call := monitor.Call{ID: "office:abc", Source: "office", Direction: monitor.Inbound, Started: time.Now()}
	steps := []struct {
		do   func()
		want monitor.DeviceState
	}{
		{func() { l.registration(monitor.LinkRegistered) }, monitor.DeviceIdle},
		{func() { call.State = monitor.Ringing; l.Call(call) }, monitor.DeviceRinging},
		{func() { call.State = monitor.Connected; l.Call(call) }, monitor.DeviceInUse},
		{func() { l.Call(monitor.Call{ID: "office:def", State: monitor.Ringing}) }, monitor.DeviceRingingInUse},
		{func() { l.Call(monitor.Call{ID: "office:def", State: monitor.Ended}) }, monitor.DeviceInUse},
		{func() { call.State = monitor.Held; l.Call(call) }, monitor.DeviceOnHold},
		{func() { call.State = monitor.Ended; l.Call(call) }, monitor.DeviceIdle},
		{func() { l.registration(monitor.LinkRetrying) }, monitor.DeviceUnavailable},
		{func() { l.registration(monitor.LinkRegistering) }, monitor.DeviceUnavailable},
		{func() { l.registration(monitor.LinkRegistered) }, monitor.DeviceIdle},
		{func() { call.ID, call.State = "office:out", monitor.Dialing; l.Call(call) }, monitor.DeviceInUse},
	}
	for i, s := range steps {
		s.do()
		if got := state(); got != s.want {
			t.Fatalf("step %d: %s, want %s", i, got, s.want)
		}
	}
	if e, _ := rec.Extension(id); e.Number != "1000" || e.Device != "sip:1000@pbx.example" || len(e.Calls) != 1 || e.Calls[0] != "office:out" {
		t.Fatalf("extension %+v", e)
	}
	if n := len(rec.Calls()); n != 7 {
		t.Fatalf("%d call changes passed on, want 7", n)
	}
	l.registration(monitor.LinkStopped)
	if _, ok := rec.Extension(id); ok {
		t.Fatal("a stopped account kept its lamp")
	}
}
