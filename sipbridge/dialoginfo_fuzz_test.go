package sipbridge

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// FuzzParseDialogInfo feeds the testdata documents and checks that parsing
// never panics, keeps to its limits, and that whatever parses can be
// applied and mapped onto a device state.
func FuzzParseDialogInfo(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "dialog-info", "*.xml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		di, err := parseDialogInfo(b)
		if err != nil {
			return
		}
		if len(di.Dialogs) > maxDialogInfoDialogs {
			t.Fatalf("%d dialogs kept", len(di.Dialogs))
		}
		for _, d := range di.Dialogs {
			if len(d.Remote.Number) > maxDialogInfoText || len(d.Remote.Name) > maxDialogInfoText || len(d.ID) > maxDialogInfoText {
				t.Fatalf("text over the limit kept: %+v", d)
			}
		}
		di.Full = true
		var s dialogSet
		if ok, err := s.apply(di); !ok || err != nil {
			t.Fatalf("a full document did not apply: %v %v", ok, err)
		}
		st, _ := s.deviceState()
		switch st {
		case monitor.DeviceIdle, monitor.DeviceRinging, monitor.DeviceInUse, monitor.DeviceRingingInUse, monitor.DeviceOnHold:
		default:
			t.Fatalf("device state %q", st)
		}
	})
}

// FuzzParseSubscriptionState checks that any header value parses or is
// refused without a panic, and that what parses is in range.
func FuzzParseSubscriptionState(f *testing.F) {
	for _, s := range []string{"active;expires=600", "pending", "terminated;reason=deactivated", "terminated;reason=probation;retry-after=20",
		"terminated;reason=noresource", "Active ; Expires = 30", "active;expires=", ";;;", "terminated;reason=\"x\";retry-after=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		st, err := parseSubscriptionState(v)
		if err != nil {
			return
		}
		switch st.State {
		case subActive, subPending, subTerminated:
		default:
			t.Fatalf("state %q", st.State)
		}
		if st.Expires < -1 || st.Expires > maxSubSeconds || st.RetryAfter < -1 || st.RetryAfter > maxSubSeconds {
			t.Fatalf("out of range: %+v", st)
		}
	})
}
