package sipbridge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestNodeInstanceID(t *testing.T) {
	a, b := NodeInstanceID("node-a"), NodeInstanceID("node-b")
	if a == b {
		t.Fatalf("two nodes share the instance id %s", a)
	}
	if again := NodeInstanceID("node-a"); again != a {
		t.Errorf("node-a gave %s then %s", a, again)
	}
	if id, err := ParseInstanceID(a); err != nil || id != a || a[14] != '5' {
		t.Errorf("node id %s (version %c): %v", a, a[14], err)
	}
}

func TestParseInstanceID(t *testing.T) {
	const id = "8c6f0d6e-4b5a-4d0b-9f3e-2a1b3c4d5e6f"
	for _, tc := range []struct {
		in, want string
	}{
		{id, id},
		{"urn:uuid:" + id, id},
		{"URN:UUID:" + strings.ToUpper(id), id},
		{"  " + id + "\n", id},
		{"", ""},
		{"urn:uuid:", ""},
		{"{" + id + "}", ""},
		{"urn:uuid:" + id[:35] + "g", ""},
		{"node-a", ""},
	} {
		got, err := ParseInstanceID(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrBadInstanceID) {
				t.Errorf("ParseInstanceID(%q) = %q, %v; want ErrBadInstanceID", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseInstanceID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestLoadInstanceIDKeepsOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "sip-instance-id")
	first, err := LoadInstanceID(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseInstanceID(first); err != nil {
		t.Fatalf("made %q: %v", first, err)
	}
	second, err := LoadInstanceID(path)
	if err != nil || second != first {
		t.Errorf("second start read %q, %v; want %q", second, err, first)
	}
	other, err := LoadInstanceID(filepath.Join(t.TempDir(), "sip-instance-id"))
	if err != nil || other == first {
		t.Errorf("another data dir got %q, %v", other, err)
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadInstanceID(path); !errors.Is(err, ErrBadInstanceID) {
		t.Errorf("garbage file: %v, want ErrBadInstanceID", err)
	}
}

func TestRegisterContactParams(t *testing.T) {
	const id = "8c6f0d6e-4b5a-4d0b-9f3e-2a1b3c4d5e6f"
	base := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1", Port: 5062}}
	if got := registerContact(base, "", true); got.Value() != "<sip:1000@127.0.0.1:5062>" {
		t.Errorf("without instance: %s", got.Value())
	}
	got := registerContact(base, id, true)
	if want := `<sip:1000@127.0.0.1:5062>;+sip.instance="<urn:uuid:` + id + `>";reg-id=1`; got.Value() != want {
		t.Errorf("with instance:\n got %s\nwant %s", got.Value(), want)
	}
	if got := registerContact(base, id, false); got.Value() != `<sip:1000@127.0.0.1:5062>;+sip.instance="<urn:uuid:`+id+`>"` {
		t.Errorf("without reg-id: %s", got.Value())
	}
	if base.Params.Length() != 0 {
		t.Errorf("the stack's contact was changed: %s", base.String())
	}
}

func TestGrantedExpiresPicksOurInstance(t *testing.T) {
	const ours, theirs = "8c6f0d6e-4b5a-4d0b-9f3e-2a1b3c4d5e6f", "11111111-2222-4333-8444-555555555555"
	contact := registerContact(sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1000", Host: "127.0.0.1", Port: 5062}}, ours, true)
	res := sip.NewResponse(200, "OK")
	// Both nodes' bindings, the other's first, on the same host and port
	// as seen from the registrar (one NAT address).
	res.AppendHeader(sip.NewHeader("Contact", `<sip:1000@127.0.0.1:5062>;expires=20;+sip.instance="<urn:uuid:`+theirs+`>";reg-id=1`))
	res.AppendHeader(sip.NewHeader("Contact", `<sip:1000@127.0.0.1:5062>;expires=55;+sip.instance="<urn:uuid:`+ours+`>";reg-id=1`))
	parsed, err := sip.ParseMessage([]byte(res.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := grantedExpires(parsed.(*sip.Response), contact, 60); got != 55 {
		t.Errorf("granted %d, want our binding's 55", got)
	}
}
