package web

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestForwardedClient(t *testing.T) {
	t.Parallel()
	trusted, err := parseProxies([]string{"10.0.0.0/8", "192.0.2.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		hdr        []string
		want       string
	}{
		{"no proxy", "198.51.100.7", nil, "198.51.100.7"},
		{"untrusted peer's header ignored", "198.51.100.7", []string{"X-Forwarded-For", "203.0.113.1"}, "198.51.100.7"},
		{"trusted proxy, one hop", "10.1.2.3", []string{"X-Forwarded-For", "203.0.113.1"}, "203.0.113.1"},
		{"client's own made-up hop is skipped", "10.1.2.3", []string{"X-Forwarded-For", "1.2.3.4, 203.0.113.1"}, "203.0.113.1"},
		{"chain of trusted proxies", "192.0.2.1", []string{"X-Forwarded-For", "203.0.113.1, 10.9.9.9"}, "203.0.113.1"},
		{"several header lines", "10.1.2.3", []string{"X-Forwarded-For", "203.0.113.1", "X-Forwarded-For", "10.2.2.2"}, "203.0.113.1"},
		{"all hops trusted: the farthest", "10.1.2.3", []string{"X-Forwarded-For", "10.5.5.5"}, "10.5.5.5"},
		{"garbage hop stops at the proxy", "10.1.2.3", []string{"X-Forwarded-For", "203.0.113.1, not-an-ip"}, "10.1.2.3"},
		{"empty header", "10.1.2.3", []string{"X-Forwarded-For", ""}, "10.1.2.3"},
		{"Forwarded", "10.1.2.3", []string{"Forwarded", `for=203.0.113.1;proto=https;by=10.1.2.3`}, "203.0.113.1"},
		{"Forwarded IPv6 with port, quoted", "::1", []string{"Forwarded", `for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded unknown hop", "10.1.2.3", []string{"Forwarded", `for=203.0.113.1, for=unknown`}, "10.1.2.3"},
		{"Forwarded obfuscated hop", "10.1.2.3", []string{"Forwarded", `for=_hidden`}, "10.1.2.3"},
		{"Forwarded wins over X-Forwarded-For", "10.1.2.3", []string{"Forwarded", "for=203.0.113.1", "X-Forwarded-For", "203.0.113.2"}, "203.0.113.1"},
		{"Forwarded element without for", "10.1.2.3", []string{"Forwarded", "proto=https"}, "10.1.2.3"},
		{"quoted comma", "10.1.2.3", []string{"Forwarded", `for="203.0.113.1";x="a,b"`}, "203.0.113.1"},
		{"IPv4-mapped", "10.1.2.3", []string{"X-Forwarded-For", "::ffff:203.0.113.1"}, "203.0.113.1"},
		{"zone refused", "10.1.2.3", []string{"X-Forwarded-For", "fe80::1%eth0"}, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				h.Add(tt.hdr[i], tt.hdr[i+1])
			}
			got := forwardedClient(netip.MustParseAddr(tt.peer), h, trusted)
			if got.String() != tt.want {
				t.Errorf("client %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "10.0.0.1/8/8"} {
		if _, err := parseProxies([]string{bad}); err == nil {
			t.Errorf("parseProxies(%q) accepted", bad)
		}
	}
	ps, err := parseProxies([]string{"10.0.0.1/8", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"10.200.0.1": true, "11.0.0.1": false, "2001:db8:1::5": true, "::ffff:10.0.0.9": true} {
		if got := ps.contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("contains(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestAddrKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"198.51.100.7":      "198.51.100.7",
		"2001:db8:1:2:3::4": "2001:db8:1:2::/64",
		"2001:db8:1:2:ff::": "2001:db8:1:2::/64",
	} {
		if got := addrKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("addrKey(%s) = %s, want %s", in, got, want)
		}
	}
	if addrKey(netip.Addr{}) != "unknown" {
		t.Error("zero address")
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1<<20)
	tests := []struct{ in, want string }{
		{"anna", "anna"},
		{strings.Repeat("a", maxLogValue), strings.Repeat("a", maxLogValue)},
		{long, strings.Repeat("x", maxLogValue) + "…(1048576 bytes)"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{strings.Repeat("é", 40), strings.Repeat("é", 32) + "…(80 bytes)"},
	}
	for _, tt := range tests {
		got := clip(tt.in)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("clip(%.20q…) = %.90q, want %.90q", tt.in, got, tt.want)
		}
	}
}
