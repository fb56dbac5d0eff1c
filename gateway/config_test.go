package gateway

import (
	"errors"
	"testing"
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
