package sipbridge

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestParseSources(t *testing.T) {
	tests := []struct {
		in       []string
		prefixes []string
		hosts    []string
		err      string
	}{
		{in: nil},
		{in: []string{"192.0.2.10"}, prefixes: []string{"192.0.2.10/32"}},
		{in: []string{" 10.1.2.3/8 "}, prefixes: []string{"10.0.0.0/8"}},
		{in: []string{"2001:db8::1", "[2001:db8::2]"}, prefixes: []string{"2001:db8::1/128", "2001:db8::2/128"}},
		{in: []string{"::ffff:192.0.2.1"}, prefixes: []string{"192.0.2.1/32"}},
		{in: []string{"PBX.example.net."}, hosts: []string{"pbx.example.net"}},
		{in: []string{"sip-1.provider.example"}, hosts: []string{"sip-1.provider.example"}},
		{in: []string{""}, err: "empty entry"},
		{in: []string{"10.0.0.1:5060"}, err: "without a port"},
		{in: []string{"pbx.example.net:5060"}, err: "without a port"},
		{in: []string{"10.0.0.0/33"}, err: "not a prefix"},
		{in: []string{"fe80::1%eth0"}, err: "zone"},
		{in: []string{"-bad.example"}, err: "not an address"},
		{in: []string{"a b"}, err: "not an address"},
		{in: []string{"sip:pbx.example"}, err: "not an address"},
		{in: []string{"192.0.2.1."}, err: "final dot"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, ","), func(t *testing.T) {
			l, err := parseSources(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range l.prefixes {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.prefixes, " ") || strings.Join(l.hosts, " ") != strings.Join(tt.hosts, " ") {
				t.Errorf("got prefixes %v hosts %v, want %v %v", got, l.hosts, tt.prefixes, tt.hosts)
			}
		})
	}
}

func TestTrustSet(t *testing.T) {
	own, err := parseSources([]string{"10.20.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	global, err := parseSources([]string{"192.0.2.7", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTrustSet("127.0.0.1", "[::1]", own, global)
	// localhost resolves from /etc/hosts, nothing leaves the machine.
	if err := ts.resolve(context.Background(), net.DefaultResolver); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},  // the registrar (and localhost)
		{"::1", true},        // the outbound proxy
		{"10.20.99.1", true}, // the account's prefix
		{"10.21.0.1", false},
		{"192.0.2.7", true}, // the global list
		{"::ffff:192.0.2.7", true},
		{"192.0.2.8", false},
		{"127.0.0.2", false}, // another loopback address is a stranger
	} {
		if got := ts.trusts(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("trusts(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	// A name that stops resolving keeps what it had.
	ts.hosts = append(ts.hosts, "no-such-host.invalid")
	if err := ts.resolve(context.Background(), net.DefaultResolver); err == nil {
		t.Error("resolve of an unknown name: no error")
	}
	if !ts.trusts(netip.MustParseAddr("127.0.0.1")) {
		t.Error("trust lost after a failed lookup")
	}
}

func TestTrustedSourcesConfig(t *testing.T) {
	base := func() Config {
		return Config{Accounts: []AccountConfig{{Name: "a", Registrar: "127.0.0.1:5060", Username: "1", Password: "p"}}}
	}
	c := base()
	c.TrustedSIPSources = []string{"10.0.0.1:5060"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "without a port") {
		t.Errorf("global entry with a port: %v", err)
	}
	c = base()
	c.Accounts[0].TrustedSIPSources = []string{"10.0.0.0/99"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "account a") {
		t.Errorf("account entry: %v", err)
	}
	c = base()
	c.Accounts[0].MaxRingingCalls = -1
	if err := c.Validate(); err == nil {
		t.Error("negative max_ringing_calls accepted")
	}
	if got := base().WithDefaults().Accounts[0].MaxRingingCalls; got != DefaultMaxRingingCalls {
		t.Errorf("default max_ringing_calls %d", got)
	}
}
