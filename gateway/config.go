package gateway

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are HMAC-SHA1 by their specification (draft-uberti-behave-turn-rest)
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/sipbridge"
)

// ICEServer is a STUN or TURN server the page and the gateway use.
type ICEServer struct {
	// URLs are stun:/turn:/turns: URLs.
	URLs []string `yaml:"urls" json:"urls"`
	// Username and Credential are for TURN.
	Username   string `yaml:"username" json:"username,omitempty"`
	Credential string `yaml:"credential" json:"credential,omitempty"`
}

// Config is the gateway section of the configuration (yaml `gateway:`).
type Config struct {
	// ICEServers are told to the page and used by the gateway. Default none:
	// host candidates and NAT1To1IPs only.
	ICEServers []ICEServer `yaml:"ice_servers"`
	// NAT1To1IPs are public addresses announced as host candidates instead
	// of the local ones, for a server behind a static NAT.
	NAT1To1IPs []string `yaml:"nat_1to1_ips"`
	// UDPPortMin and UDPPortMax bound the ICE UDP ports. Default 0: any.
	UDPPortMin uint16 `yaml:"udp_port_min"`
	UDPPortMax uint16 `yaml:"udp_port_max"`
	// UDPPort, when set, is the one UDP port of every page's ICE: one
	// socket per local address for all pages, demultiplexed by the ICE
	// user name (pion's UDP mux), instead of a socket per page. A
	// firewall then needs one UDP port open. Excludes UDPPortMin/Max.
	UDPPort uint16 `yaml:"udp_port"`
	// IncludeLoopback gathers loopback candidates and only those: for a
	// server and browser on one machine (tests, demos). Never in production.
	IncludeLoopback bool `yaml:"include_loopback"`
	// Codecs is the preference order for calls; default opus, G722, PCMU,
	// PCMA. Audio passes through, so a call uses one the SIP side offers.
	Codecs []string `yaml:"codecs"`
	// TURN is a TURN server that shares a secret with Switchboard: each
	// session gets credentials of its own that expire, never the secret.
	// Default none.
	TURN TURN `yaml:"turn"`
	// MaxCallsPerUser bounds the calls one user has at once, on all of
	// their pages together: placed, answered and dials on their way.
	// Default 4.
	MaxCallsPerUser int `yaml:"max_calls_per_user"`
	// MaxCallsPerAccount bounds the calls placed and answered from the
	// softphone on one SIP account at once, all users together. Default 16.
	MaxCallsPerAccount int `yaml:"max_calls_per_account"`
	// MaxDialsPerMinute bounds the calls one user places: that many at
	// once, then one more every 60s/MaxDialsPerMinute. Default 20.
	MaxDialsPerMinute int `yaml:"max_dials_per_minute"`
	// PageMessagesPerSecond bounds what one page may send: that many
	// messages a second, in bursts of up to twice as many; the rest are
	// ignored and the page is told (once a second). Default 20.
	PageMessagesPerSecond int `yaml:"page_messages_per_second"`
}

// Defaults of the caps.
const (
	DefaultMaxCallsPerUser       = 4
	DefaultMaxCallsPerAccount    = 16
	DefaultMaxDialsPerMinute     = 20
	DefaultPageMessagesPerSecond = 20
)

// TURN is a TURN server using the TURN REST API credentials (coturn's
// use-auth-secret, static-auth-secret): the user name is
// "EXPIRY:USER" (EXPIRY in Unix seconds) and the password the base64
// HMAC-SHA1 of that user name under the shared secret, so the TURN server
// checks them without asking anyone, and they are worthless after EXPIRY.
type TURN struct {
	// URLs are turn: or turns: URLs.
	URLs []string `yaml:"urls"`
	// Secret is the shared secret; SecretFile reads it from a file instead
	// (surrounding white space trimmed), read again for every session so
	// that a rotated secret takes effect at once.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// TTL is how long a session's credentials are good for. Default 12h;
	// a page open longer gets new ones when it reconnects.
	TTL time.Duration `yaml:"ttl"`
}

// DefaultTURNTTL is TURN.TTL when unset.
const DefaultTURNTTL = 12 * time.Hour

func (t TURN) enabled() bool { return len(t.URLs) > 0 }

func (t TURN) secret() (string, error) {
	if t.SecretFile == "" {
		return t.Secret, nil
	}
	b, err := os.ReadFile(t.SecretFile)
	if err != nil {
		return "", fmt.Errorf("turn secret_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (t TURN) validate() error {
	if !t.enabled() {
		if t.Secret != "" || t.SecretFile != "" {
			return fmt.Errorf("%w: turn: a secret without urls", ErrBadConfig)
		}
		return nil
	}
	for _, u := range t.URLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return fmt.Errorf("%w: turn url %q: want a turn: or turns: URL", ErrBadConfig, u)
		}
	}
	if (t.Secret == "") == (t.SecretFile == "") {
		return fmt.Errorf("%w: turn: give secret or secret_file (one of them)", ErrBadConfig)
	}
	if sec, err := t.secret(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	} else if sec == "" {
		return fmt.Errorf("%w: turn: the secret is empty", ErrBadConfig)
	}
	if t.TTL != 0 && t.TTL < time.Minute {
		return fmt.Errorf("%w: turn ttl %s: want at least 1m", ErrBadConfig, t.TTL)
	}
	return nil
}

// Credentials returns the TURN server with credentials for user that
// expire TTL after now.
func (t TURN) Credentials(user string, now time.Time) (ICEServer, error) {
	sec, err := t.secret()
	if err != nil {
		return ICEServer{}, err
	}
	ttl := t.TTL
	if ttl == 0 {
		ttl = DefaultTURNTTL
	}
	name := strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, []byte(sec))
	mac.Write([]byte(name))
	return ICEServer{URLs: slices.Clone(t.URLs), Username: name, Credential: base64.StdEncoding.EncodeToString(mac.Sum(nil))}, nil
}

// SessionICEServers returns the ICE servers of one softphone session for
// user at now: ICEServers as configured, then the TURN server with
// credentials of the session's own (see TURN). These are what the page
// is told and what the session's PeerConnection uses. When the TURN
// secret cannot be read, the configured servers are returned with the
// error.
func (c Config) SessionICEServers(user string, now time.Time) ([]ICEServer, error) {
	out := slices.Clone(c.ICEServers)
	if !c.TURN.enabled() {
		return out, nil
	}
	t, err := c.TURN.Credentials(user, now)
	if err != nil {
		return out, err
	}
	return append(out, t), nil
}

// supported are the browser-leg formats the gateway passes through, with
// the payload types offered on a SIP leg for them (RFC 3551 static types;
// 111 for opus as browsers use).
var supported = []sipbridge.Codec{sipbridge.CodecOpus, sipbridge.CodecG722, sipbridge.CodecPCMU, sipbridge.CodecPCMA}

// WithDefaults returns cfg with defaults filled in.
func (c Config) WithDefaults() Config {
	if len(c.Codecs) == 0 {
		c.Codecs = []string{"opus", "G722", "PCMU", "PCMA"}
	}
	if c.MaxCallsPerUser == 0 {
		c.MaxCallsPerUser = DefaultMaxCallsPerUser
	}
	if c.MaxCallsPerAccount == 0 {
		c.MaxCallsPerAccount = DefaultMaxCallsPerAccount
	}
	if c.MaxDialsPerMinute == 0 {
		c.MaxDialsPerMinute = DefaultMaxDialsPerMinute
	}
	if c.PageMessagesPerSecond == 0 {
		c.PageMessagesPerSecond = DefaultPageMessagesPerSecond
	}
	return c
}

// Validate reports the first problem of c.
func (c Config) Validate() error {
	for _, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("%w: ice_servers entry without urls", ErrBadConfig)
		}
		for _, u := range s.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				return fmt.Errorf("%w: ice server url %q: want a stun:, turn: or turns: URL", ErrBadConfig, u)
			}
		}
	}
	for _, ip := range c.NAT1To1IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("%w: nat_1to1_ips %q: %w", ErrBadConfig, ip, err)
		}
	}
	if (c.UDPPortMin == 0) != (c.UDPPortMax == 0) || c.UDPPortMin > c.UDPPortMax {
		return fmt.Errorf("%w: udp_port_min %d / udp_port_max %d: set both, min <= max", ErrBadConfig, c.UDPPortMin, c.UDPPortMax)
	}
	if c.UDPPort != 0 && c.UDPPortMin != 0 {
		return fmt.Errorf("%w: udp_port %d with udp_port_min/udp_port_max: give one port or a range, not both", ErrBadConfig, c.UDPPort)
	}
	for _, k := range []struct {
		name string
		v    int
	}{{"max_calls_per_user", c.MaxCallsPerUser}, {"max_calls_per_account", c.MaxCallsPerAccount}, {"max_dials_per_minute", c.MaxDialsPerMinute}, {"page_messages_per_second", c.PageMessagesPerSecond}} {
		if k.v < 0 || k.v > 100000 {
			return fmt.Errorf("%w: %s %d: want 1 to 100000 (0 for the default)", ErrBadConfig, k.name, k.v)
		}
	}
	for _, name := range c.Codecs {
		if _, ok := lookupCodec(name); !ok {
			return fmt.Errorf("%w: codec %q: want opus, G722, PCMU or PCMA", ErrBadConfig, name)
		}
	}
	return c.TURN.validate()
}

// codecs returns the configured codecs in order, with SIP payload types.
func (c Config) codecs() []sipbridge.Codec {
	var out []sipbridge.Codec
	for _, name := range c.Codecs {
		if k, ok := lookupCodec(name); ok && !slices.ContainsFunc(out, k.SameFormat) {
			out = append(out, k)
		}
	}
	return out
}

func lookupCodec(name string) (sipbridge.Codec, bool) {
	for _, k := range supported {
		if strings.EqualFold(k.Name, name) {
			return k, true
		}
	}
	return sipbridge.Codec{}, false
}
