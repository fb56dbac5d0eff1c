package cluster

import (
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		p    monitor.Payload
		want string
	}{
		{&monitor.Call{ID: "a1", Source: "home"}, "switchboard.events.call.home.a1"},
		{&monitor.Call{ID: "1700000000.12", Source: "pbx one"}, "switchboard.events.call.pbx=20one.1700000000=2E12"},
		{&monitor.SourceStatus{Name: "box.*>"}, "switchboard.events.source.box=2E=2A=3E.box=2E=2A=3E"},
		{&monitor.UserEvent{Source: "pbx", Name: "x"}, "switchboard.events.user.pbx"},
		{&monitor.Call{ID: "", Source: ""}, "switchboard.events.call.=.="},
	}
	for _, tt := range tests {
		if got := Subject(tt.p); got != tt.want {
			t.Errorf("Subject(%+v) = %s, want %s", tt.p, got, tt.want)
		}
	}
}

func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "home", "box.1", "a=b", "=", "=2E", "ü x*>", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := Token(s)
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
				t.Fatalf("Token(%q) = %q has %q", s, tok, c)
			}
		}
		if back := untoken(tok); back != s {
			t.Fatalf("untoken(Token(%q)) = %q", s, back)
		}
		// untoken reads anything without failing.
		_ = untoken(s)
	})
}

func TestControlSubjects(t *testing.T) {
	tests := []struct {
		source monitor.SourceName
		call   monitor.CallID
		want   string
	}{
		{"pbx", "", "switchboard.control.pbx"},
		{"fs-out", "fs-out:5a1d0065-4e7b", "switchboard.control.fs-out.fs-out=3A5a1d0065-4e7b"},
		{"fs.*", "a.>", "switchboard.control.fs=2E=2A.a=2E=3E"},
	}
	for _, tt := range tests {
		got := ControlSubject(tt.source)
		if tt.call != "" {
			got = CallControlSubject(tt.source, tt.call)
		}
		if got != tt.want {
			t.Errorf("subject of %s %s = %s, want %s", tt.source, tt.call, got, tt.want)
		}
	}
}
