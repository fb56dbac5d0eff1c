package sipbridge

import (
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

func TestReferAllowed(t *testing.T) {
	tests := []struct {
		name   string
		acct   AccountConfig
		number string
		want   bool
	}{
		{"no patterns allow all", AccountConfig{}, "0900123", true},
		{"internal numbers", AccountConfig{ReferAllowed: []string{"1???"}}, "1002", true},
		{"too long", AccountConfig{ReferAllowed: []string{"1???"}}, "10020", false},
		{"premium refused", AccountConfig{ReferAllowed: []string{"1???", "0[1-8]*"}}, "0900123", false},
		{"national allowed", AccountConfig{ReferAllowed: []string{"1???", "0[1-8]*"}}, "030 1234-56", true},
		{"international prefix", AccountConfig{ReferAllowed: []string{"+49*"}}, "+4930123", true},
		{"empty number", AccountConfig{ReferAllowed: []string{"1???"}}, "", false},
		{"refuse all", AccountConfig{RefuseRefer: true}, "1002", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.acct.referAllowed(tt.number); got != tt.want {
				t.Fatalf("referAllowed(%q) = %v, want %v", tt.number, got, tt.want)
			}
		})
	}
}

func TestReferURI(t *testing.T) {
	tests := []struct {
		name      string
		registrar string
		transport string
		domain    string
		target    string
		want      string
	}{
		{"number at the registrar's host and port", "127.0.0.1:5070", "", "", "1002", "sip:1002@127.0.0.1:5070"},
		{"default port stays implicit", "pbx.example", "", "", "1002", "sip:1002@pbx.example"},
		{"own domain has no port", "10.0.0.1:5070", "", "office.example", "1002", "sip:1002@office.example"},
		{"tcp account", "127.0.0.1:5070", "tcp", "", "1002", "sip:1002@127.0.0.1:5070;transport=tcp"},
		{"user@host as given", "127.0.0.1:5070", "", "", "anna@example.org", "sip:anna@example.org"},
		{"sip uri as given", "127.0.0.1:5070", "", "", "sip:1002@10.1.1.1:5080", "sip:1002@10.1.1.1:5080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := AccountConfig{Name: "a", Registrar: tt.registrar, Transport: tt.transport, Username: "1000", Password: "p", Domain: tt.domain}.WithDefaults()
			a, err := newAccount(&Bridge{}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			u, err := a.referURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.String(); got != tt.want {
				t.Fatalf("referURI(%q) = %s, want %s", tt.target, got, tt.want)
			}
		})
	}
}

func TestTransferTexts(t *testing.T) {
	target := monitor.Party{Number: "1002"}
	for status, want := range map[int]string{486: "1002 is busy", 404: "1002 was not found", 603: "1002 declined", 480: "1002 cannot be reached", 487: "1002 did not answer", 488: "no common audio format with 1002", 500: "500 Server Error"} {
		if got := transferFailureText(target, status, "Server Error"); !strings.Contains(got, want) || !strings.HasSuffix(got, "the call stays with you") {
			t.Errorf("transferFailureText(%d) = %q, want %q in it", status, got, want)
		}
	}
	for status, want := range map[int]string{403: "refused by the other side", 501: "cannot transfer calls", 481: "no longer knows this call", 407: "credentials", 500: "500 Oops"} {
		if got := referRefusedText(status, "Oops"); !strings.Contains(got, want) {
			t.Errorf("referRefusedText(%d) = %q, want %q in it", status, got, want)
		}
	}
	if partyName(monitor.Party{Name: "Anna", Number: "1"}) != "Anna" || partyName(monitor.Party{}) != "the other party" {
		t.Error("partyName")
	}
}
