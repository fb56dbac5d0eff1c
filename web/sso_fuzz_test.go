package web

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzOIDCFlow: the sign-in cookie's reader takes any value without a
// panic, and what it accepts is complete and encodes back to itself.
func FuzzOIDCFlow(f *testing.F) {
	f.Add(encodeFlow(oidcFlow{State: "s", Nonce: "n", Verifier: "v", Next: "/history", Popup: true}))
	f.Add("e30")
	f.Add("not base64!")
	f.Add(encodeFlow(oidcFlow{State: "s"}))
	f.Fuzz(func(t *testing.T, v string) {
		fl, err := decodeFlow(v)
		if err != nil {
			return
		}
		if fl.State == "" || fl.Nonce == "" || fl.Verifier == "" {
			t.Fatalf("incomplete flow accepted: %+v", fl)
		}
		again, err := decodeFlow(encodeFlow(fl))
		if err != nil || again != fl {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, fl)
		}
	})
}

// FuzzForwardedProto: the scheme is http or https whatever the headers
// say, and only a trusted proxy can make it https.
func FuzzForwardedProto(f *testing.F) {
	for _, s := range [][2]string{
		{"https", ""}, {"http, https", ""}, {"", "for=192.0.2.1;proto=https"},
		{"", `proto="https";for="[2001:db8::1]", proto=http`}, {"HTTPS", `;;,"`},
	} {
		f.Add(s[0], s[1])
	}
	trusted, _ := parseProxies([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xfp, fwd string) {
		h := http.Header{}
		if xfp != "" {
			h.Set("X-Forwarded-Proto", xfp)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		got := forwardedProto(netip.MustParseAddr("10.0.0.1"), h, trusted)
		if got != "http" && got != "https" {
			t.Fatalf("scheme %q", got)
		}
		if forwardedProto(netip.MustParseAddr("192.0.2.1"), h, trusted) != "http" {
			t.Fatal("an untrusted peer chose the scheme")
		}
	})
}

// FuzzProxyGroups: the groups header gives no empty group and none with
// a comma or surrounding space.
func FuzzProxyGroups(f *testing.F) {
	f.Add("staff, pbx-admins")
	f.Add(",,, ,")
	f.Add("a,b\tc")
	f.Fuzz(func(t *testing.T, v string) {
		for _, g := range splitList([]string{v}) {
			if g == "" || strings.Contains(g, ",") || strings.TrimSpace(g) != g {
				t.Fatalf("group %q from %q", g, v)
			}
		}
	})
}

func TestForwardedProto(t *testing.T) {
	trusted, _ := parseProxies([]string{"10.0.0.0/8"})
	proxy, other := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		name     string
		peer     netip.Addr
		xfp, fwd string
		want     string
	}{
		{"X-Forwarded-Proto from the proxy", proxy, "https", "", "https"},
		{"outermost hop counts", proxy, "https, http", "", "https"},
		{"Forwarded wins over X-Forwarded-Proto", proxy, "http", "for=192.0.2.7;proto=https", "https"},
		{"Forwarded quoted", proxy, "", `for="[2001:db8::1]";proto="https"`, "https"},
		{"Forwarded first element only", proxy, "", "proto=http, proto=https", "http"},
		{"nothing said", proxy, "", "", "http"},
		{"from anyone else", other, "https", "proto=https", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.xfp != "" {
				h.Set("X-Forwarded-Proto", tc.xfp)
			}
			if tc.fwd != "" {
				h.Set("Forwarded", tc.fwd)
			}
			if got := forwardedProto(tc.peer, h, trusted); got != tc.want {
				t.Errorf("%q", got)
			}
		})
	}
}

func TestOIDCConfig(t *testing.T) {
	ok := OIDCConfig{Issuer: "https://id.example.test/realms/staff", ClientID: "switchboard", RoleMap: RoleMap{"agents": RoleUser}}
	for _, tc := range []struct {
		name string
		edit func(*OIDCConfig)
		want string
	}{
		{"fine", func(*OIDCConfig) {}, ""},
		{"no issuer", func(c *OIDCConfig) { c.Issuer = "" }, "auth.oidc.issuer"},
		{"issuer not a URL", func(c *OIDCConfig) { c.Issuer = "id.example.test" }, "auth.oidc.issuer"},
		{"no client", func(c *OIDCConfig) { c.ClientID = " " }, "client_id is required"},
		{"no role map", func(c *OIDCConfig) { c.RoleMap = nil }, "role_map is required"},
		{"bad role", func(c *OIDCConfig) { c.RoleMap = RoleMap{"x": "root"} }, `role "root"`},
		{"empty scope", func(c *OIDCConfig) { c.Scopes = []string{"profile", ""} }, "empty scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			cfg := testConfig(t)
			cfg.Auth.OIDC = &c
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := newOIDCLogin(OIDCConfig{Issuer: ok.Issuer, ClientID: "x", ClientSecretFile: "/nonexistent/secret"}, nil); err == nil {
		t.Error("a client secret file that cannot be read was accepted")
	}
}
