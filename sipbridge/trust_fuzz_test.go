package sipbridge

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzParseSources feeds trusted_sip_sources entries (one per line) to the
// parser: it never panics, and what it accepts is a prefix that contains
// its own address or a host name without a port.
func FuzzParseSources(f *testing.F) {
	for _, s := range []string{"192.0.2.10", "10.0.0.0/8\npbx.example.net", "[2001:db8::1]", "::ffff:1.2.3.4/104", "a:1", "fe80::1%lo", "x..y", strings.Repeat("a.", 140)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		l, err := parseSources(strings.Split(in, "\n"))
		if err != nil {
			return
		}
		for _, p := range l.prefixes {
			if !p.IsValid() || !p.Contains(p.Addr()) {
				t.Fatalf("prefix %v", p)
			}
		}
		for _, h := range l.hosts {
			if strings.ContainsAny(h, ":/ []%") || !validHostName(h) {
				t.Fatalf("host %q", h)
			}
			if _, err := netip.ParseAddr(h); err == nil {
				t.Fatalf("address %q taken as a host name", h)
			}
		}
	})
}
