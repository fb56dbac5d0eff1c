package monitor

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

// widget is a kind of state that exists only in these tests: it shows a
// new kind needs its payload type and one row in the table, and nothing
// in the hub.
type widget struct {
	ID string `json:"id"`
	On bool   `json:"on"`
}

func (*widget) Kind() Kind { return "widget" }

func init() {
	kinds.add(kept[widget]("widget", "widget", "widgets", func(w *widget) string { return w.ID }, func(w *widget) bool { return w.On },
		func(a, b *widget) int { return 0 }))
}

func TestEventJSONForm(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 15, 3, 0, time.UTC)
	c := Call{ID: "home:1", Source: "home", Direction: Inbound, State: Ringing, From: Party{Number: "0301"}, To: Party{Number: "5551"}, Started: at}
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"call", NewEvent(42, at, &c),
			`{"type":"call","seq":42,"at":"2026-11-23T10:15:03Z","call":{"id":"home:1","source":"home","direction":"inbound","state":"ringing","from":{"number":"0301"},"to":{"number":"5551"},"started":"2026-11-23T10:15:03Z"}}`},
		{"source", NewEvent(43, at, &SourceStatus{Name: "home", Type: "fritz", State: LinkDown, Error: "refused", Since: at}),
			`{"type":"source","seq":43,"at":"2026-11-23T10:15:03Z","source":{"name":"home","type":"fritz","state":"down","error":"refused","since":"2026-11-23T10:15:03Z"}}`},
		{"user event", NewEvent(44, at, &UserEvent{Source: "pbx", Name: "QueueAlert", Fields: map[string]string{"queue": "sales"}, At: at}),
			`{"type":"user","seq":44,"at":"2026-11-23T10:15:03Z","event":{"source":"pbx","name":"QueueAlert","fields":{"queue":"sales"},"at":"2026-11-23T10:15:03Z"}}`},
		{"a kind from the table only", NewEvent(45, at, &widget{ID: "w1", On: true}),
			`{"type":"widget","seq":45,"at":"2026-11-23T10:15:03Z","widget":{"id":"w1","on":true}}`},
		{"literal without cache", Event{Seq: 46, At: at, Payload: &widget{ID: "w2"}},
			`{"type":"widget","seq":46,"at":"2026-11-23T10:15:03Z","widget":{"id":"w2","on":false}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.ev.JSON()
			if err != nil || string(b) != tt.want {
				t.Fatalf("JSON() = %s, %v\nwant %s", b, err, tt.want)
			}
			m, err := json.Marshal(tt.ev)
			if err != nil || string(m) != tt.want {
				t.Fatalf("json.Marshal = %s, %v", m, err)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.Seq != tt.ev.Seq || !back.At.Equal(tt.ev.At) || back.Kind() != tt.ev.Kind() || !reflect.DeepEqual(back.Payload, tt.ev.Payload) {
				t.Fatalf("round trip %+v\nwant %+v", back, tt.ev)
			}
			again, err := back.JSON()
			if err != nil || string(again) != tt.want {
				t.Fatalf("re-encoded %s, %v", again, err)
			}
		})
	}
}

func TestEventJSONIsEncodedOnceForEveryCopy(t *testing.T) {
	c := call("s:1", Ringing)
	ev := NewEvent(1, t0, &c)
	cp := ev
	a, _ := ev.JSON()
	b, _ := cp.JSON()
	if &a[0] != &b[0] {
		t.Fatal("a copy of the event encoded again")
	}
}

func TestEventDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"not JSON", `{"type":`, ErrBadEnvelope},
		{"not an object", `[1]`, ErrBadEnvelope},
		{"unknown kind", `{"type":"hologram","seq":1,"hologram":{}}`, ErrUnknownKind},
		{"no type", `{"seq":1,"call":{}}`, ErrUnknownKind},
		{"payload missing", `{"type":"call","seq":1,"at":"2026-11-23T10:15:03Z"}`, ErrBadEnvelope},
		{"payload of the wrong shape", `{"type":"call","seq":1,"call":[1,2]}`, ErrBadEnvelope},
		{"seq not a number", `{"type":"call","seq":"x","call":{}}`, ErrBadEnvelope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Called directly: json.Unmarshal checks the syntax itself
			// before it calls the method.
			var ev Event
			if err := ev.UnmarshalJSON([]byte(tt.in)); !errors.Is(err, tt.want) {
				t.Fatalf("decode %s = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestEventEncodeErrors(t *testing.T) {
	var nilCall *Call
	for name, ev := range map[string]Event{
		"no payload":         NewEvent(1, t0, nil),
		"nil payload":        NewEvent(1, t0, nilCall),
		"kind not in table":  NewEvent(1, t0, stray{}),
		"year out of range":  NewEvent(1, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), &widget{}),
		"wrong payload type": NewEvent(1, t0, fakeCall{}),
	} {
		if _, err := ev.JSON(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// stray is a payload of a kind the table lacks.
type stray struct{}

func (stray) Kind() Kind { return "stray" }

// fakeCall claims to be a call but is not a *Call.
type fakeCall struct{}

func (fakeCall) Kind() Kind { return KindCall }

func TestHubKeepsEveryKeptKind(t *testing.T) {
	h := NewHub(HubConfig{})
	defer h.Close()
	if err := h.Publish(&widget{ID: "b", On: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(&widget{ID: "a", On: true}); err != nil {
		t.Fatal(err)
	}
	h.Call(call("s:1", Ringing))
	if err := h.Publish(&widget{ID: "b", On: false}); err != nil { // leaves the state
		t.Fatal(err)
	}
	for name, p := range map[string]Payload{"unknown kind": stray{}, "wrong type": fakeCall{}, "nil": nil} {
		if err := h.Publish(p); err == nil {
			t.Errorf("Publish(%s) accepted", name)
		}
	}
	sub, err := h.Subscribe(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	snap := sub.Snapshot
	if w := snap.State["widget"]; snap.Seq != 4 || len(w) != 1 || w[0].(*widget).ID != "a" || len(snap.Calls()) != 1 || len(snap.Sources()) != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"type": `"snapshot"`, "seq": "4", "sources": "[]", "widgets": `[{"id":"a","on":true}]`} {
		if string(fields[key]) != want {
			t.Errorf("snapshot %q = %s, want %s (in %s)", key, fields[key], want, b)
		}
	}
	if err := h.Publish(&widget{ID: "c", On: true}); err != nil {
		t.Fatal(err)
	}
	got := recv(t, sub)
	if w, ok := got.Payload.(*widget); !ok || w.ID != "c" || got.Seq != 5 {
		t.Fatalf("event %+v", got)
	}
	h.Close()
	if err := h.Publish(&widget{ID: "d"}); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
}

func TestSnapshotJSONRoundTrip(t *testing.T) {
	h := NewHub(HubConfig{})
	defer h.Close()
	h.SourceStatus(SourceStatus{Name: "b", Type: "ami", State: LinkConnected, Since: t0})
	h.SourceStatus(SourceStatus{Name: "a", Type: "fritz", State: LinkDown, Since: t0})
	c1, c2 := call("s:2", Connected), call("s:1", Ringing) // same start: by id
	h.Call(c1)
	h.Call(c2)
	if err := h.Publish(&widget{ID: "w", On: true}); err != nil {
		t.Fatal(err)
	}
	snap := h.Snapshot()
	snap.Now = t0
	if ids := []CallID{snap.Calls()[0].ID, snap.Calls()[1].ID}; ids[0] != "s:1" || ids[1] != "s:2" {
		t.Fatalf("calls in order %v", ids)
	}
	if s := snap.Sources(); s[0].Name != "a" || s[1].Name != "b" {
		t.Fatalf("sources in order %+v", s)
	}
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, snap) {
		t.Fatalf("round trip\n got %+v\nwant %+v", back, snap)
	}
	var empty Snapshot
	if err := json.Unmarshal([]byte(`{"type":"snapshot","epoch":"e","seq":0,"now":"2026-11-23T09:00:00Z","hologram":[1]}`), &empty); err != nil {
		t.Fatal(err)
	}
	if len(empty.Calls()) != 0 || empty.State[KindSource] == nil {
		t.Fatalf("empty snapshot %+v", empty)
	}
	if err := json.Unmarshal([]byte(`{"type":"call"}`), &empty); !errors.Is(err, ErrBadEnvelope) {
		t.Fatalf("a call read as a snapshot: %v", err)
	}
}

func TestKindTable(t *testing.T) {
	want := map[Kind]KindInfo{
		KindCall:   {KindCall, "call", "calls"},
		KindSource: {KindSource, "source", "sources"},
		KindUser:   {KindUser, "event", ""},
	}
	for k, w := range want {
		if got, ok := LookupKind(k); !ok || got != w {
			t.Errorf("LookupKind(%s) = %+v, %v", k, got, ok)
		}
	}
	if _, ok := LookupKind("hologram"); ok {
		t.Error("unknown kind found")
	}
	seen := map[string]bool{}
	for _, info := range Kinds() {
		spec := kinds.byKind[info.Kind]
		p, err := spec.decode([]byte(`{}`))
		if err != nil || p.Kind() != info.Kind {
			t.Errorf("row %s decodes a %T of kind %s (%v)", info.Kind, p, p.Kind(), err)
		}
		for _, key := range []string{info.Field, info.Plural} {
			if key == "" {
				continue
			}
			if seen[key] || key == "type" || key == "seq" || key == "at" || key == "epoch" || key == "now" {
				t.Errorf("row %s: key %q is taken", info.Kind, key)
			}
			seen[key] = true
		}
	}
}

// TestEnvelopeFixtures decodes the documented envelopes in
// testdata/envelopes.jsonl and encodes each back to the same line.
func TestEnvelopeFixtures(t *testing.T) {
	f, err := os.Open("testdata/envelopes.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		var ev Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		b, err := ev.JSON()
		if err != nil || string(b) != line {
			t.Fatalf("line %d re-encoded\n got %s\nwant %s", n+1, b, line)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("%d fixtures", n)
	}
}
