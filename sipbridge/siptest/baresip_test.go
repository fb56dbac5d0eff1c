package siptest

import "testing"

func TestRegState(t *testing.T) {
	const aor = "sip:1001@127.0.0.1:45070"
	tests := []struct {
		name string
		info string
		want string
	}{
		{"ok", "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:45070                   \x1b[32mOK \x1b[;m kamailio (5.6.3 (x86_64/linux)) Expires 60s\n\n", "OK"},
		{"failed", "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:45070                   \x1b[31mERR\x1b[;m kamailio Expires 0s\n\n", "ERR"},
		{"pending", "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:45070                   \x1b[33mzzz\x1b[;m  Expires 0s\n\n", "zzz"},
		{"plain", "  sip:1001@127.0.0.1:45070  OK  Expires 60s\n", "OK"},
		{"other aor", "> sip:1002@127.0.0.1:45070  \x1b[32mOK \x1b[;m\n", ""},
		{"none", "\n--- User Agents (0) ---\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := regState(tt.info, aor); got != tt.want {
				t.Errorf("regState = %q, want %q", got, tt.want)
			}
		})
	}
}
