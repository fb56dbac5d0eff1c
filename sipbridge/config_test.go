package sipbridge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Accounts: []AccountConfig{{Name: "a", Registrar: "pbx.example:5070", Username: "100", Password: "p"}}}.WithDefaults()
	if c.Listen != DefaultListen || c.RTPListenIP != "127.0.0.1" || c.RTPAnnounceIP != "127.0.0.1" || c.RTPPortMin != 20000 || c.RTPPortMax != 20999 {
		t.Fatalf("defaults %+v", c)
	}
	if c.MediaTimeout != DefaultMediaTimeout || c.RegisterTimeout != DefaultRegisterTimeout || c.UserAgent != DefaultUserAgent ||
		c.TransferTimeout != DefaultTransferTimeout || c.DTMFDuration != DefaultDTMFDuration {
		t.Fatalf("defaults %+v", c)
	}
	a := c.Accounts[0]
	if a.Expires != 600 || a.AuthUser != "100" || a.Domain != "pbx.example" {
		t.Fatalf("account defaults %+v", a)
	}
	ext := Config{ExternalHost: "203.0.113.5"}.WithDefaults()
	if ext.RTPAnnounceIP != "203.0.113.5" {
		t.Fatalf("announce %q", ext.RTPAnnounceIP)
	}
}

func TestRegistrarTarget(t *testing.T) {
	tests := []struct {
		registrar, transport string
		wantT, wantH         string
		wantP                int
		bad                  bool
	}{
		{"127.0.0.1:5070", "", "udp", "127.0.0.1", 5070, false},
		{"pbx.example", "", "udp", "pbx.example", 5060, false},
		{"pbx.example;transport=tcp", "", "tcp", "pbx.example", 5060, false},
		{"sips:pbx.example", "", "tls", "pbx.example", 5061, false},
		{"sip:100@[::1]:5080;transport=TCP", "", "tcp", "::1", 5080, false},
		{"pbx.example:5070", "tls", "tls", "pbx.example", 5070, false},
		{"pbx.example", "sctp", "", "", 0, true},
		{"pbx.example:99999", "", "", "", 0, true},
		{"", "", "", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.registrar, func(t *testing.T) {
			tr, h, p, err := AccountConfig{Registrar: tt.registrar, Transport: tt.transport}.registrarTarget()
			if tt.bad {
				if err == nil {
					t.Fatalf("no error for %q", tt.registrar)
				}
				return
			}
			if err != nil || tr != tt.wantT || h != tt.wantH || p != tt.wantP {
				t.Fatalf("got %s %s %d %v", tr, h, p, err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := AccountConfig{Name: "a", Registrar: "127.0.0.1", Username: "100", Password: "p"}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"good", Config{Accounts: []AccountConfig{good}}, true},
		{"bad listen", Config{Listen: "nope"}, false},
		{"bad rtp ip", Config{RTPListenIP: "host"}, false},
		{"bad range", Config{RTPPortMin: 30000, RTPPortMax: 29000}, false},
		{"negative timeout", Config{MediaTimeout: -time.Second}, false},
		{"retry order", Config{RetryMin: time.Minute, RetryMax: time.Second}, false},
		{"no name", Config{Accounts: []AccountConfig{{Registrar: "x", Username: "1", Password: "p"}}}, false},
		{"no password", Config{Accounts: []AccountConfig{{Name: "a", Registrar: "x", Username: "1"}}}, false},
		{"duplicate", Config{Accounts: []AccountConfig{good, good}}, false},
		{"bad proxy", Config{Accounts: []AccountConfig{{Name: "a", Registrar: "x", Username: "1", Password: "p", OutboundProxy: "x:0"}}}, false},
		{"refer patterns", Config{Accounts: []AccountConfig{{Name: "a", Registrar: "x", Username: "1", Password: "p", ReferAllowed: []string{"1???", "+49[1-9]*"}}}}, true},
		{"bad refer pattern", Config{Accounts: []AccountConfig{{Name: "a", Registrar: "x", Username: "1", Password: "p", ReferAllowed: []string{"[1-"}}}}, false},
		{"empty refer pattern", Config{Accounts: []AccountConfig{{Name: "a", Registrar: "x", Username: "1", Password: "p", ReferAllowed: []string{""}}}}, false},
		{"negative transfer timeout", Config{TransferTimeout: -time.Second}, false},
		{"dtmf too short", Config{DTMFDuration: 10 * time.Millisecond}, false},
		{"dtmf too long", Config{DTMFDuration: time.Minute}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestConfigYAMLAndPasswordFile(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c Config
	src := "listen: 127.0.0.1:5080\nrtp_port_min: 30000\nrtp_port_max: 30099\nmedia_timeout: 20s\ntransfer_timeout: 45s\ndtmf_duration: 160ms\n"
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if c.MediaTimeout != 20*time.Second || c.RTPPortMin != 30000 || c.TransferTimeout != 45*time.Second || c.DTMFDuration != 160*time.Millisecond {
		t.Fatalf("yaml %+v", c)
	}
	var a AccountConfig
	if err := yaml.Unmarshal([]byte("name: x\nregistrar: 127.0.0.1\nusername: '100'\npassword_file: "+pw+"\nrefer_allowed: ['1???']\nrefuse_refer: true\n"), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.ReferAllowed) != 1 || a.ReferAllowed[0] != "1???" || !a.RefuseRefer {
		t.Fatalf("refer keys %+v", a)
	}
	if s, err := a.secret(); err != nil || s != "s3cret" {
		t.Fatalf("secret = %q, %v", s, err)
	}
}

func TestBLFConfig(t *testing.T) {
	acct := func(expires int, ts ...BLFTarget) AccountConfig {
		return AccountConfig{Name: "office", Registrar: "pbx.example", Username: "100", Password: "p", BLF: ts, BLFExpires: expires}
	}
	for _, tc := range []struct {
		name string
		a    AccountConfig
		err  string
	}{
		{"none", acct(0), ""},
		{"numbers and uris", acct(0, BLFTarget{Target: "201", Name: "Anna", Group: "Sales"}, BLFTarget{Target: "202@other.example"}, BLFTarget{Target: "sip:203@pbx.example:5070"}), ""},
		{"own account named", acct(0, BLFTarget{Target: "201", Account: "office"}), ""},
		{"expires too short", acct(30, BLFTarget{Target: "201"}), "blf_expires 30 (want at least 60 seconds)"},
		{"empty target", acct(0, BLFTarget{Target: " "}), "blf 1: blf target missing"},
		{"no user", acct(0, BLFTarget{Target: "sip:pbx.example"}), "want a number, user, user@host or sip:user@host"},
		{"duplicate", acct(0, BLFTarget{Target: "201"}, BLFTarget{Target: "sip:201@PBX.example"}), "blf 2 watches 201@pbx.example as blf 1 already does"},
		{"other account", acct(0, BLFTarget{Target: "201", Account: "home"}), `blf 1 names account "home"`},
		{"bad server", func() AccountConfig { a := acct(0, BLFTarget{Target: "201"}); a.BLFServer = "pbx:99999"; return a }(), "blf_server: bad address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want ErrConfig with %q", err, tc.err)
			}
		})
	}
	if got := acct(0).WithDefaults().BLFExpires; got != DefaultExpires {
		t.Fatalf("blf_expires default %d", got)
	}
	u, err := BLFTarget{Target: "201"}.blfURI("pbx.example")
	if err != nil || u.String() != "sip:201@pbx.example" {
		t.Fatalf("blfURI = %v, %v", u.String(), err)
	}
}
