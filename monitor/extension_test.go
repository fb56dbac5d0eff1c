package monitor

import (
	"slices"
	"testing"
	"time"
)

func TestLampOf(t *testing.T) {
	tests := []struct {
		d    DeviceState
		p    Presence
		want Lamp
	}{
		{DeviceIdle, "", LampFree},
		{DeviceIdle, PresenceAvailable, LampFree},
		{DeviceIdle, PresenceDND, LampDND},
		{DeviceUnknown, PresenceDND, LampDND},
		{DeviceIdle, PresenceAway, LampAway},
		{DeviceIdle, PresenceXA, LampAway},
		{DeviceRinging, PresenceDND, LampRinging},
		{DeviceInUse, PresenceDND, LampBusy},
		{DeviceRingingInUse, "", LampBusy},
		{DeviceOnHold, "", LampBusy},
		// A phone doing DND by feature code often says only busy.
		{DeviceBusy, "", LampBusy},
		{DeviceUnavailable, PresenceAvailable, LampOffline},
		{DeviceUnknown, "", LampUnknown},
		{DeviceUnknown, PresenceAvailable, LampUnknown},
	}
	for _, tt := range tests {
		if got := LampOf(tt.d, tt.p); got != tt.want {
			t.Errorf("LampOf(%s, %q) = %s, want %s", tt.d, tt.p, got, tt.want)
		}
	}
}

func TestExtensionTracker(t *testing.T) {
	hub := NewHub(HubConfig{})
	tr := NewExtensionTracker("pbx", hub)
	tr.SetClock(func() time.Time { return t0 })
	published := func() uint64 { return hub.Stats().Published }

	if !tr.Update("201@default", at(1), func(e *Extension) { e.Number, e.Name, e.State = "201", "Anna", DeviceIdle }) {
		t.Fatal("a new extension was not published")
	}
	if tr.Update("201@default", at(2), func(e *Extension) { e.State = DeviceIdle }) {
		t.Fatal("an unchanged extension was published again")
	}
	tr.Update("201@default", at(3), func(e *Extension) { e.Calls = []CallID{"pbx:1"} })
	e, _ := tr.Get("201@default")
	if !e.Since.Equal(at(1)) {
		t.Fatalf("since moved on a change of calls alone: %v", e.Since)
	}
	tr.Update("201@default", at(4), func(e *Extension) { e.State = DeviceInUse })
	e, _ = tr.Get("201@default")
	if !e.Since.Equal(at(4)) || e.Lamp != LampBusy || e.ID != "pbx:201@default" || e.Source != "pbx" {
		t.Fatalf("after in-use: %+v", e)
	}
	tr.Update("202@default", at(5), func(e *Extension) {
		e.Number, e.State, e.Presence, e.Message = "202", DeviceIdle, PresenceDND, "in a meeting"
	})
	if n := published(); n != 4 {
		t.Fatalf("published %d changes, want 4", n)
	}
	snap := hub.Snapshot().Extensions()
	if len(snap) != 2 || snap[0].ID != "pbx:201@default" || snap[1].Lamp != LampDND || !slices.Equal(snap[0].Calls, []CallID{"pbx:1"}) {
		t.Fatalf("snapshot %+v", snap)
	}

	if n := tr.Unknown(); n != 2 {
		t.Fatalf("Unknown changed %d, want 2", n)
	}
	if e, _ := tr.Get("202@default"); e.State != DeviceUnknown || e.Presence != "" || e.Lamp != LampUnknown {
		t.Fatalf("after the link was lost: %+v", e)
	}
	if n := tr.Retain(func(k string) bool { return k == "201@default" }); n != 1 {
		t.Fatalf("Retain removed %d, want 1", n)
	}
	if got := hub.Snapshot().Extensions(); len(got) != 1 || got[0].ID != "pbx:201@default" {
		t.Fatalf("snapshot after a removal: %+v", got)
	}
	tr.RemoveAll()
	if got := hub.Snapshot().Extensions(); len(got) != 0 || tr.Len() != 0 {
		t.Fatalf("snapshot after RemoveAll: %+v", got)
	}
}

func TestExtensionTrackerWithoutPublisher(t *testing.T) {
	tr := NewExtensionTracker("acct", &recorder{})
	if !tr.Update("1000", at(0), func(e *Extension) { e.State = DeviceIdle }) {
		t.Fatal("not kept")
	}
	if e, ok := tr.Get("1000"); !ok || e.Number != "1000" || e.Lamp != LampFree {
		t.Fatalf("%+v %v", e, ok)
	}
}
