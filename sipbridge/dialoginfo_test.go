package sipbridge

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

func readDialogInfo(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "dialog-info", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDialogInfo(t *testing.T) {
	for _, tc := range []struct {
		file    string
		version uint64
		full    bool
		entity  string
		dialogs []dialogEntry
	}{
		{"kamailio-early.xml", 2, true, "sip:1001@127.0.0.1", []dialogEntry{{
			ID: "padi-6b0fc1ee-24b6-1", CallID: "b06f298b1510fd2d", LocalTag: "834e296cee4acbf6", RemoteTag: "584852827e53b14d",
			Direction: "recipient", State: dlgEarly, Remote: monitor.Party{Number: "1002"},
		}}},
		{"kamailio-confirmed.xml", 3, true, "sip:1001@127.0.0.1", []dialogEntry{{
			ID: "padi-6b0fc1ee-24b6-1", CallID: "b06f298b1510fd2d", Direction: "recipient", State: dlgConfirmed, Remote: monitor.Party{Number: "1002"},
		}}},
		{"two-dialogs.xml", 7, true, "sip:anna@pbx.example.org", []dialogEntry{
			{ID: "d1", CallID: "c1@host", LocalTag: "l1", RemoteTag: "r1", Direction: "initiator", State: dlgConfirmed, Remote: monitor.Party{Number: "202", Name: "Ben Müller"}},
			{ID: "d2", CallID: "c2@host", LocalTag: "l2", Direction: "recipient", State: dlgEarly, Event: "rejected", Remote: monitor.Party{Number: "+49301234567", Name: "Bäckerei Schulz"}},
		}},
		{"held.xml", 12, true, "sip:anna@pbx.example.org", []dialogEntry{{
			ID: "d9", CallID: "c9", LocalTag: "l9", RemoteTag: "r9", Direction: "recipient", State: dlgConfirmed, LocalHeld: true,
			Remote: monitor.Party{Number: "202", Name: "Ben"},
		}}},
		{"partial-terminated.xml", 8, false, "sip:anna@pbx.example.org", []dialogEntry{{
			ID: "d1", CallID: "c1@host", LocalTag: "l1", RemoteTag: "r1", Direction: "initiator", State: dlgTerminated, Event: "remote-bye",
		}}},
		{"empty-full.xml", 0, true, "sip:1001@127.0.0.1", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			di, err := parseDialogInfo(readDialogInfo(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if di.Version != tc.version || di.Full != tc.full || di.Entity != tc.entity {
				t.Errorf("version %d full %v entity %q, want %d %v %q", di.Version, di.Full, di.Entity, tc.version, tc.full, tc.entity)
			}
			if !slices.Equal(di.Dialogs, tc.dialogs) {
				t.Errorf("dialogs\n got %+v\nwant %+v", di.Dialogs, tc.dialogs)
			}
		})
	}
}

func TestParseDialogInfoRefuses(t *testing.T) {
	many := `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full">` +
		strings.Repeat(`<dialog id="x"><state>confirmed</state></dialog>`, maxDialogInfoDialogs+1) + `</dialog-info>`
	deep := `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"><dialog id="x"><state>early</state>` +
		strings.Repeat("<x>", maxDialogInfoDepth) + strings.Repeat("</x>", maxDialogInfoDepth) + `</dialog></dialog-info>`
	for _, tc := range []struct {
		name, body, want string
	}{
		{"doctype and entities", string(readDialogInfo(t, "doctype-entities.xml")), "document type declaration"},
		{"unknown entity", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"><dialog id="x"><state>&big;</state></dialog></dialog-info>`, "entity"},
		{"too large", `<dialog-info version="1" state="full">` + strings.Repeat(" ", maxDialogInfoSize) + `</dialog-info>`, "bytes"},
		{"too many dialogs", many, "more than"},
		{"too deep", deep, "nested deeper"},
		{"other root", `<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, "root element"},
		{"no version", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" state="full"/>`, "version"},
		{"bad state", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="some"/>`, "want full or partial"},
		{"dialog state unknown", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"><dialog id="x"><state>ringing</state></dialog></dialog-info>`, "in state"},
		{"dialog without state", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"><dialog id="x"/></dialog-info>`, "without state"},
		{"cut short", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"><dialog id="x">`, "malformed"},
		{"not xml", `hello`, "no dialog-info"},
		{"empty", ``, "no dialog-info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDialogInfo([]byte(tc.body))
			if !errors.Is(err, ErrBadDialogInfo) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadDialogInfo mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPartyOf(t *testing.T) {
	for _, tc := range []struct {
		identity, display string
		want              monitor.Party
	}{
		{"sip:1002@127.0.0.1:31222", "", monitor.Party{Number: "1002"}},
		{"sips:anna@pbx.example;transport=tls", "Anna", monitor.Party{Number: "anna", Name: "Anna"}},
		{"sip:+4930123;user=phone@gw", "", monitor.Party{Number: "+4930123"}},
		{"tel:+49301234567;phone-context=x", "", monitor.Party{Number: "+49301234567"}},
		{"<sip:202@pbx>", " Ben ", monitor.Party{Number: "202", Name: "Ben"}},
		{"sip:pbx.example", "", monitor.Party{Number: "pbx.example"}},
		{"urn:service:sos", "", monitor.Party{Number: "urn:service:sos"}},
	} {
		if got := partyOf(tc.identity, tc.display); got != tc.want {
			t.Errorf("partyOf(%q, %q) = %+v, want %+v", tc.identity, tc.display, got, tc.want)
		}
	}
}

// dlg builds a document with the given version, fullness and dialogs.
func dlg(version uint64, full bool, ds ...dialogEntry) dialogInfo {
	return dialogInfo{Version: version, Full: full, Dialogs: ds}
}

func TestDialogSetStates(t *testing.T) {
	ben := monitor.Party{Number: "202", Name: "Ben"}
	cara := monitor.Party{Number: "203"}
	for _, tc := range []struct {
		name    string
		dialogs []dialogEntry
		want    monitor.DeviceState
		peers   []monitor.Party
	}{
		{"none", nil, monitor.DeviceIdle, nil},
		{"incoming early", []dialogEntry{{ID: "a", State: dlgEarly, Direction: "recipient", Remote: ben}}, monitor.DeviceRinging, []monitor.Party{ben}},
		{"incoming trying", []dialogEntry{{ID: "a", State: dlgTrying, Direction: "recipient"}}, monitor.DeviceRinging, nil},
		{"early without direction", []dialogEntry{{ID: "a", State: dlgEarly}}, monitor.DeviceRinging, nil},
		{"outgoing proceeding", []dialogEntry{{ID: "a", State: dlgProceeding, Direction: "initiator", Remote: ben}}, monitor.DeviceInUse, []monitor.Party{ben}},
		{"confirmed", []dialogEntry{{ID: "a", State: dlgConfirmed, Direction: "initiator", Remote: ben}}, monitor.DeviceInUse, []monitor.Party{ben}},
		{"held by us", []dialogEntry{{ID: "a", State: dlgConfirmed, LocalHeld: true, Remote: ben}}, monitor.DeviceOnHold, []monitor.Party{ben}},
		{"held by the far end", []dialogEntry{{ID: "a", State: dlgConfirmed, RemoteHeld: true}}, monitor.DeviceInUse, nil},
		{"talking, another rings", []dialogEntry{{ID: "a", State: dlgConfirmed, Remote: ben}, {ID: "b", State: dlgEarly, Direction: "recipient", Remote: cara}},
			monitor.DeviceRingingInUse, []monitor.Party{ben, cara}},
		{"held, another rings", []dialogEntry{{ID: "a", State: dlgConfirmed, LocalHeld: true}, {ID: "b", State: dlgEarly, Direction: "recipient"}}, monitor.DeviceRingingInUse, nil},
		{"held and talking", []dialogEntry{{ID: "a", State: dlgConfirmed, LocalHeld: true}, {ID: "b", State: dlgConfirmed}}, monitor.DeviceInUse, nil},
		{"terminated only", []dialogEntry{{ID: "a", State: dlgTerminated, Remote: ben}}, monitor.DeviceIdle, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s dialogSet
			if ok, err := s.apply(dlg(1, true, tc.dialogs...)); !ok || err != nil {
				t.Fatalf("apply = %v, %v", ok, err)
			}
			got, peers := s.deviceState()
			if got != tc.want || !slices.Equal(peers, tc.peers) {
				t.Fatalf("state %s peers %+v, want %s %+v", got, peers, tc.want, tc.peers)
			}
		})
	}
}

func TestDialogSetVersions(t *testing.T) {
	a := dialogEntry{ID: "a", State: dlgConfirmed}
	b := dialogEntry{ID: "b", State: dlgEarly, Direction: "recipient"}
	bEnd := dialogEntry{ID: "b", State: dlgTerminated}
	var s dialogSet
	if _, err := s.apply(dlg(4, false, a)); !errors.Is(err, errVersionGap) {
		t.Fatalf("partial before any full: %v, want errVersionGap", err)
	}
	steps := []struct {
		doc     dialogInfo
		applied bool
		err     error
		want    monitor.DeviceState
	}{
		{dlg(4, true, a), true, nil, monitor.DeviceInUse},
		{dlg(5, false, b), true, nil, monitor.DeviceRingingInUse},
		// An older or repeated document is ignored.
		{dlg(5, true), false, nil, monitor.DeviceRingingInUse},
		{dlg(3, true), false, nil, monitor.DeviceRingingInUse},
		{dlg(6, false, bEnd), true, nil, monitor.DeviceInUse},
		// A partial one after a gap cannot be applied.
		{dlg(8, false, b), false, errVersionGap, monitor.DeviceInUse},
		// A full one after a gap replaces everything.
		{dlg(9, true, b), true, nil, monitor.DeviceRinging},
		{dlg(10, true), true, nil, monitor.DeviceIdle},
	}
	for i, st := range steps {
		applied, err := s.apply(st.doc)
		if applied != st.applied || !errors.Is(err, st.err) {
			t.Fatalf("step %d: apply = %v, %v; want %v, %v", i, applied, err, st.applied, st.err)
		}
		if got, _ := s.deviceState(); got != st.want {
			t.Fatalf("step %d: state %s, want %s", i, got, st.want)
		}
	}
	s.reset()
	if ok, err := s.apply(dlg(0, true, a)); !ok || err != nil {
		t.Fatalf("after reset, version 0 = %v, %v; want applied", ok, err)
	}
}

func TestParseSubscriptionState(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want subState
		bad  bool
	}{
		{"active;expires=600", subState{State: subActive, Expires: 600, RetryAfter: -1}, false},
		{"Active ; Expires = 30", subState{State: subActive, Expires: 30, RetryAfter: -1}, false},
		{"pending", subState{State: subPending, Expires: -1, RetryAfter: -1}, false},
		{"terminated;reason=deactivated", subState{State: subTerminated, Reason: "deactivated", Expires: -1, RetryAfter: -1}, false},
		{"terminated;reason=Probation;retry-after=20", subState{State: subTerminated, Reason: "probation", Expires: -1, RetryAfter: 20}, false},
		{"terminated;reason=noresource;x-foo=bar", subState{State: subTerminated, Reason: "noresource", Expires: -1, RetryAfter: -1}, false},
		{"active;expires=99999999999", subState{State: subActive, Expires: maxSubSeconds, RetryAfter: -1}, false},
		{"", subState{}, true},
		{"waiting;expires=5", subState{}, true},
		{"active;expires=soon", subState{}, true},
		{"terminated;retry-after=-1", subState{}, true},
	} {
		got, err := parseSubscriptionState(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrBadSubscriptionState) {
				t.Errorf("%q: err = %v, want ErrBadSubscriptionState", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// BenchmarkParseDialogInfo parses kamailio's NOTIFY body of a ringing
// phone and maps it onto a device state, as each NOTIFY does.
func BenchmarkParseDialogInfo(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "dialog-info", "kamailio-early.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		di, err := parseDialogInfo(body)
		if err != nil {
			b.Fatal(err)
		}
		var s dialogSet
		if _, err := s.apply(di); err != nil {
			b.Fatal(err)
		}
		if st, _ := s.deviceState(); st != monitor.DeviceRinging {
			b.Fatalf("state %s", st)
		}
	}
}
