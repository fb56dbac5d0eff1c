package gateway

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{name: "defaults", cfg: Config{}, ok: true},
		{name: "full", cfg: Config{ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}, NAT1To1IPs: []string{"203.0.113.7"}, UDPPortMin: 40000, UDPPortMax: 40100, Codecs: []string{"pcmu"}}, ok: true},
		{name: "bad url", cfg: Config{ICEServers: []ICEServer{{URLs: []string{"http://x"}}}}},
		{name: "no urls", cfg: Config{ICEServers: []ICEServer{{}}}},
		{name: "bad ip", cfg: Config{NAT1To1IPs: []string{"example.org"}}},
		{name: "half range", cfg: Config{UDPPortMin: 40000}},
		{name: "reversed range", cfg: Config{UDPPortMin: 5, UDPPortMax: 4}},
		{name: "one udp port", cfg: Config{UDPPort: 40000}, ok: true},
		{name: "udp port and range", cfg: Config{UDPPort: 40000, UDPPortMin: 40000, UDPPortMax: 40100}},
		{name: "unknown codec", cfg: Config{Codecs: []string{"G729"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.WithDefaults().Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadConfig) {
				t.Errorf("error %v is not ErrBadConfig", err)
			}
		})
	}
	if got := (Config{}).WithDefaults().codecs(); len(got) != 4 || got[0].Name != "opus" || got[3].Name != "PCMA" {
		t.Errorf("default codecs = %+v", got)
	}
}

// TestTURNCredentials: the TURN REST API scheme coturn checks with
// use-auth-secret; the expected password was computed with openssl:
// printf "1700003600:anna" | openssl dgst -sha1 -hmac north-wind -binary | base64.
func TestTURNCredentials(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "turn-secret")
	if err := os.WriteFile(file, []byte("north-wind\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	for _, turn := range []TURN{
		{URLs: []string{"turn:turn.example.org:3478"}, Secret: "north-wind", TTL: time.Hour},
		{URLs: []string{"turn:turn.example.org:3478"}, SecretFile: file, TTL: time.Hour},
	} {
		cfg := Config{ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.org"}}}, TURN: turn}
		if err := cfg.WithDefaults().Validate(); err != nil {
			t.Fatal(err)
		}
		got, err := cfg.SessionICEServers("anna", now)
		if err != nil {
			t.Fatal(err)
		}
		want := []ICEServer{
			{URLs: []string{"stun:stun.example.org"}},
			{URLs: []string{"turn:turn.example.org:3478"}, Username: "1700003600:anna", Credential: "PRWk8wLFgwCZ8bqU7+Km/3aujyU="},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ice servers %+v, want %+v", got, want)
		}
		b, _ := json.Marshal(got)
		if strings.Contains(string(b), "north-wind") {
			t.Fatalf("the secret reaches the page: %s", b)
		}
	}
	if got, _ := (Config{}).SessionICEServers("anna", now); len(got) != 0 {
		t.Errorf("no TURN configured: %+v", got)
	}
	def, _ := TURN{URLs: []string{"turns:t.example:5349"}, Secret: "s"}.Credentials("bob", now)
	if want := "1700043200:bob"; def.Username != want {
		t.Errorf("default ttl: user %q, want %q", def.Username, want)
	}
	for name, turn := range map[string]TURN{
		"stun url":        {URLs: []string{"stun:x"}, Secret: "s"},
		"no secret":       {URLs: []string{"turn:x"}},
		"both secrets":    {URLs: []string{"turn:x"}, Secret: "s", SecretFile: file},
		"missing file":    {URLs: []string{"turn:x"}, SecretFile: filepath.Join(dir, "nope")},
		"secret, no urls": {Secret: "s"},
		"short ttl":       {URLs: []string{"turn:x"}, Secret: "s", TTL: time.Second},
	} {
		if err := (Config{TURN: turn}).WithDefaults().Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: Validate() = %v, want ErrBadConfig", name, err)
		}
	}
}

// TestWelcomeCarriesTURNCredentials: a page is told a TURN server with
// credentials of its own, made for its user, and never the shared secret.
func TestWelcomeCarriesTURNCredentials(t *testing.T) {
	cfg := testConfig()
	cfg.TURN = TURN{URLs: []string{"turn:127.0.0.1:3478"}, Secret: "north-wind", TTL: time.Hour}
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, cfg, sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	if strings.Contains(string(b.welcome.raw), "north-wind") {
		t.Fatalf("the TURN secret reaches the page: %s", b.welcome.raw)
	}
	var turn *ICEServer
	for i, s := range b.welcome.ICEServers {
		if len(s.URLs) > 0 && strings.HasPrefix(s.URLs[0], "turn:") {
			turn = &b.welcome.ICEServers[i]
		}
	}
	if turn == nil {
		t.Fatalf("welcome has no TURN server: %s", b.welcome.raw)
	}
	if !strings.HasSuffix(turn.Username, ":anna") || turn.Credential == "" {
		t.Errorf("TURN credentials %q / %q, want EXPIRY:anna and an HMAC", turn.Username, turn.Credential)
	}
}
