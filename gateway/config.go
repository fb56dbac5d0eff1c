package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

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
	// IncludeLoopback gathers loopback candidates and only those: for a
	// server and browser on one machine (tests, demos). Never in production.
	IncludeLoopback bool `yaml:"include_loopback"`
	// Codecs is the preference order for calls; default opus, G722, PCMU,
	// PCMA. Audio passes through, so a call uses one the SIP side offers.
	Codecs []string `yaml:"codecs"`
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
				return fmt.Errorf("%w: ice server url %q: want stun:, turn: or turns:", ErrBadConfig, u)
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
	for _, name := range c.Codecs {
		if _, ok := lookupCodec(name); !ok {
			return fmt.Errorf("%w: codec %q: want opus, G722, PCMU or PCMA", ErrBadConfig, name)
		}
	}
	return nil
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
