package fritz

import (
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// TestLamps: ports and lines are busy from the router's calls.
func TestLamps(t *testing.T) {
	rec := newRecorder()
	tr := NewTracker("home", rec, time.UTC, nil)
	steps := []struct {
		line string
		want map[monitor.ExtensionID]monitor.DeviceState
	}{
		{"23.11.26 10:15:03;RING;0;01701234567;5551234;SIP0;", map[monitor.ExtensionID]monitor.DeviceState{"home:line:SIP0": monitor.DeviceRinging}},
		{"23.11.26 10:15:07;CONNECT;0;10;01701234567;", map[monitor.ExtensionID]monitor.DeviceState{
			"home:line:SIP0": monitor.DeviceInUse, "home:port:10": monitor.DeviceInUse}},
		// A second call rings on the same line while the first talks.
		{"23.11.26 10:15:20;RING;1;030999;5551234;SIP0;", map[monitor.ExtensionID]monitor.DeviceState{"home:line:SIP0": monitor.DeviceRingingInUse}},
		{"23.11.26 10:15:30;DISCONNECT;1;0;", map[monitor.ExtensionID]monitor.DeviceState{"home:line:SIP0": monitor.DeviceInUse}},
		// The analogue phone on FON 1 dials out on SIP1.
		{"23.11.26 10:16:00;CALL;2;0;5554321;0301234567;SIP1;", map[monitor.ExtensionID]monitor.DeviceState{
			"home:port:0": monitor.DeviceInUse, "home:line:SIP1": monitor.DeviceInUse}},
		{"23.11.26 10:16:30;DISCONNECT;0;83;", map[monitor.ExtensionID]monitor.DeviceState{
			"home:line:SIP0": monitor.DeviceIdle, "home:port:10": monitor.DeviceIdle, "home:port:0": monitor.DeviceInUse}},
		{"23.11.26 10:16:40;DISCONNECT;2;0;", map[monitor.ExtensionID]monitor.DeviceState{
			"home:port:0": monitor.DeviceIdle, "home:line:SIP1": monitor.DeviceIdle}},
	}
	for _, s := range steps {
		feed(t, tr, s.line)
		for id, want := range s.want {
			if e, ok := rec.Extension(id); !ok || e.State != want {
				t.Fatalf("after %s: %s = %+v, want %s", s.line, id, e, want)
			}
		}
	}
	dect, _ := rec.Extension("home:port:10")
	if dect.Number != "**610" || dect.Device != "DECT 1" || dect.Lamp != monitor.LampFree || len(dect.Calls) != 0 {
		t.Fatalf("DECT handset %+v", dect)
	}
	line, _ := rec.Extension("home:line:SIP0")
	if line.Number != "5551234" || line.Device != "line SIP0" {
		t.Fatalf("line %+v", line)
	}
	for _, e := range rec.Extensions() {
		if e.ID == "home:port:10" && e.State == monitor.DeviceInUse && (len(e.Calls) != 1 || !isKey(e.Calls[0], "home", "0")) {
			t.Fatalf("DECT handset's call %v", e.Calls)
		}
	}

	feed(t, tr, "23.11.26 10:17:00;RING;3;01701234567;5551234;SIP0;")
	tr.EndAll(monitor.CauseLinkLost)
	if e, _ := rec.Extension("home:line:SIP0"); e.State != monitor.DeviceUnknown {
		t.Fatalf("line after the link was lost %+v", e)
	}
	tr.endCalls(monitor.Ending{Reason: monitor.ReasonFailed, Cause: monitor.CauseStopped})
	if _, ok := rec.Extension("home:line:SIP0"); ok {
		t.Fatal("a stopped source kept its lamps")
	}
}

func TestPortNumber(t *testing.T) {
	for ext, want := range map[string][2]string{
		"0": {"**1", "FON 1"}, "2": {"**3", "FON 3"}, "10": {"**610", "DECT 1"}, "15": {"**615", "DECT 6"},
		"20": {"**620", "IP phone 1"}, "4": {"4", "port 4"}, "x": {"x", "port x"},
	} {
		if n, d := portNumber(ext); n != want[0] || d != want[1] {
			t.Errorf("portNumber(%s) = %s, %s; want %v", ext, n, d, want)
		}
	}
}
