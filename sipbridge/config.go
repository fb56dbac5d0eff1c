package sipbridge

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Defaults used when a Config or AccountConfig field is zero.
const (
	DefaultListen            = "127.0.0.1:5060"
	DefaultRTPPortMin        = 20000
	DefaultRTPPortMax        = 20999
	DefaultUserAgent         = "Switchboard"
	DefaultExpires           = 600
	DefaultMediaTimeout      = 15 * time.Second
	DefaultMediaStartTimeout = 60 * time.Second
	DefaultRingTimeout       = 120 * time.Second
	DefaultRetryMin          = time.Second
	DefaultRetryMax          = 2 * time.Minute
	DefaultRegisterTimeout   = 10 * time.Second
	DefaultTransferTimeout   = 30 * time.Second
	DefaultDTMFDuration      = 100 * time.Millisecond
	DefaultSessionExpires    = 30 * time.Minute
	// DefaultMaxRingingCalls is AccountConfig.MaxRingingCalls when unset.
	DefaultMaxRingingCalls = 4
	// MinSessionExpires is the smallest session interval RFC 4028
	// (section 4) allows, the default and floor of session_min_se.
	MinSessionExpires = 90 * time.Second
)

// Config is the `sip:` section: where the user agent listens, which
// addresses it announces and the RTP port range. Accounts are filled in by
// the caller from the top-level `accounts:` list.
type Config struct {
	// Listen is the SIP host:port bound for UDP and TCP; default
	// 127.0.0.1:5060. Port 0 picks a free port (tests).
	Listen string `yaml:"listen"`
	// ExternalHost is the host or IP put into Via/Contact when it differs
	// from the listen address (NAT 1:1); default the listen host.
	ExternalHost string `yaml:"external_host"`
	// RTPListenIP is the IP RTP sockets bind to; default the listen host.
	RTPListenIP string `yaml:"rtp_listen_ip"`
	// RTPAnnounceIP is the IP written into SDP c= lines; default
	// ExternalHost, else RTPListenIP.
	RTPAnnounceIP string `yaml:"rtp_announce_ip"`
	// RTPPortMin and RTPPortMax bound the RTP ports (inclusive); default
	// 20000-20999. Only even ports are used, RTCP may arrive on the same
	// port (RFC 5761) or on port+1.
	RTPPortMin int `yaml:"rtp_port_min"`
	RTPPortMax int `yaml:"rtp_port_max"`
	// UserAgent is the User-Agent header value; default "Switchboard".
	UserAgent string `yaml:"user_agent"`
	// MediaTimeout ends a call when no RTP arrived for this long after the
	// first packet; default 15s. MediaStartTimeout is the longer window
	// until the first packet; default 60s.
	MediaTimeout      time.Duration `yaml:"media_timeout"`
	MediaStartTimeout time.Duration `yaml:"media_start_timeout"`
	// RingTimeout gives up an unanswered outgoing call (CANCEL, reason
	// no-answer); default 120s.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// RetryMin and RetryMax bound the backoff between registration
	// attempts after a failure; default 1s and 2m.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// RegisterTimeout bounds one REGISTER exchange (including its digest
	// retry); a registrar that does not answer in time counts as down.
	// Default 10s.
	RegisterTimeout time.Duration `yaml:"register_timeout"`
	// TransferTimeout bounds how long a transfer this side started waits
	// for the far end's final NOTIFY after the REFER was accepted; then it
	// counts as failed and the call stays. Default 30s.
	TransferTimeout time.Duration `yaml:"transfer_timeout"`
	// DTMFDuration is how long each key sent with SendDTMF sounds, with a
	// pause as long after it (RFC 4733 events and the Duration of SIP
	// INFO); default 100ms, at least 40ms (ITU-T Q.24).
	DTMFDuration time.Duration `yaml:"dtmf_duration"`
	// SessionExpires is the session interval (RFC 4028 Session-Expires)
	// this side asks for on its calls and grants a caller that asks for
	// none; the refresher sends a re-INVITE or UPDATE at half of it, and a
	// session nobody refreshed ends with BYE. Default 30m.
	SessionExpires time.Duration `yaml:"session_expires"`
	// MinSE is the shortest session interval accepted from a far end:
	// shorter ones are answered 422 with this Min-SE. Default and
	// minimum 90s.
	MinSE time.Duration `yaml:"session_min_se"`
	// TrustedSIPSources are addresses ("192.0.2.10"), prefixes
	// ("10.0.0.0/8") and host names (resolved at start and at every
	// re-registration) that every account takes requests from, beside its
	// registrar and outbound proxy; requests that open something from
	// anywhere else are dropped unanswered (trust.go). Default none.
	TrustedSIPSources []string `yaml:"trusted_sip_sources"`
	// InstanceID is this node's RFC 5626 instance id (a UUID, bare or as
	// urn:uuid:…), sent as +sip.instance with reg-id on every REGISTER
	// Contact, so that the registrar keeps one binding per node and forks
	// incoming calls to every node. Empty sends neither (a single node
	// with no instance). `switchboard serve` fills it in: from the cluster
	// node name, else from a random id kept in data_dir, unless set here.
	InstanceID string `yaml:"instance_id"`
	// NodeTag is the cluster node's name, set by `switchboard serve` in a
	// cluster: the monitor ids of this node's calls end in "@" and it, as
	// a forked call rings one leg with one SIP Call-ID on every node, and
	// each leg must stay a call of its own in the shared hub and history.
	NodeTag string `yaml:"-"`
	// Accounts are the SIP accounts to register, from `accounts:`.
	Accounts []AccountConfig `yaml:"-"`
}

// AccountConfig is one entry of the top-level `accounts:` list: a SIP
// account the bridge registers and places calls from.
type AccountConfig struct {
	// Name identifies the account in config (`users[].accounts`), the
	// monitor (source name) and the page.
	Name string `yaml:"name"`
	// Registrar is host:port, host:port;transport=udp|tcp|tls, or a sip:
	// or sips: URI. The port defaults to 5060 (5061 for TLS).
	Registrar string `yaml:"registrar"`
	// Transport is udp, tcp or tls; it overrides a transport given in
	// Registrar; default udp.
	Transport string `yaml:"transport"`
	// Username is the SIP user (the user part of the AOR).
	Username string `yaml:"username"`
	// AuthUser is the digest user name when it differs from Username.
	AuthUser string `yaml:"auth_user"`
	// Password is the digest password (the loader expands ${ENV}).
	Password string `yaml:"password"`
	// PasswordFile names a file holding the password (trailing newline
	// ignored); used when Password is empty.
	PasswordFile string `yaml:"password_file"`
	// Domain is the AOR domain; default the registrar host.
	Domain string `yaml:"domain"`
	// OutboundProxy is host:port every request of this account is sent
	// to, when set.
	OutboundProxy string `yaml:"outbound_proxy"`
	// Expires is the registration lifetime asked for, in seconds; default
	// 600.
	Expires int `yaml:"expires"`
	// ReferAllowed lists what a REFER from the far end (being transferred)
	// may make this account call: patterns matched against the target's
	// number or user with path.Match (`*`, `?`, `[0-9]`), after visual
	// separators are removed; a target that matches none is refused with
	// 603 Decline. Empty allows every target. The new call always goes
	// through the account's registrar or outbound proxy, which decides
	// where the number leads.
	ReferAllowed []string `yaml:"refer_allowed"`
	// RefuseRefer refuses every REFER from the far end with 603 Decline.
	RefuseRefer bool `yaml:"refuse_refer"`
	// TrustedSIPSources are addresses, prefixes and host names this
	// account takes requests from beside its registrar and outbound proxy
	// and the sip section's list (a second proxy, a gateway that sends
	// calls straight to us). Default none.
	TrustedSIPSources []string `yaml:"trusted_sip_sources"`
	// MaxRingingCalls bounds the incoming calls of this account that ring
	// at once, unanswered; one more is answered 486 Busy Here. Default 4.
	MaxRingingCalls int `yaml:"max_ringing_calls"`
	// BLF are the busy lamps this account watches: each target is
	// subscribed to through the account (SUBSCRIBE, Event: dialog, RFC
	// 4235) and becomes an extension of the account's source.
	BLF []BLFTarget `yaml:"blf"`
	// BLFExpires is the subscription lifetime asked for, in seconds;
	// default 600, at least 60.
	BLFExpires int `yaml:"blf_expires"`
	// BLFServer is host:port the busy-lamp SUBSCRIBEs are sent to when
	// the presence server is not the registrar; default the outbound
	// proxy, else the registrar.
	BLFServer string `yaml:"blf_server"`
}

// BLFTarget is one busy lamp: a phone whose dialogs an account subscribes
// to.
type BLFTarget struct {
	// Target is whom to watch: a number or user (at the account's
	// domain), user@host, or a sip:/sips: URI.
	Target string `yaml:"target"`
	// Name is the person's name shown with the lamp; optional.
	Name string `yaml:"name"`
	// Group is the panel's group of the lamp; optional.
	Group string `yaml:"group"`
	// Account names the account that subscribes, in the top-level `blf:`
	// list; an account's own list leaves it empty.
	Account string `yaml:"account"`
}

// MinBLFExpires is the shortest blf_expires: a shorter subscription would
// spend more on refreshes than it shows.
const MinBLFExpires = 60

// blfURI is the target's SIP URI for an account in domain.
func (t BLFTarget) blfURI(domain string) (sip.Uri, error) {
	s := strings.TrimSpace(t.Target)
	if s == "" {
		return sip.Uri{}, fmt.Errorf("blf target missing")
	}
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		if !strings.Contains(s, "@") {
			s += "@" + domain
		}
		s = "sip:" + s
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return sip.Uri{}, fmt.Errorf("blf target %q: %w", t.Target, err)
	}
	if u.User == "" || u.Host == "" || strings.ContainsAny(u.User, " <>\"") {
		return sip.Uri{}, fmt.Errorf("blf target %q: want a number, user, user@host or sip:user@host", t.Target)
	}
	return u, nil
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	if c.RTPListenIP == "" {
		c.RTPListenIP = host
	}
	if c.RTPAnnounceIP == "" {
		c.RTPAnnounceIP = c.ExternalHost
		if c.RTPAnnounceIP == "" {
			c.RTPAnnounceIP = c.RTPListenIP
		}
	}
	if c.RTPPortMin == 0 && c.RTPPortMax == 0 {
		c.RTPPortMin, c.RTPPortMax = DefaultRTPPortMin, DefaultRTPPortMax
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.MediaTimeout == 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.MediaStartTimeout == 0 {
		c.MediaStartTimeout = DefaultMediaStartTimeout
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = DefaultRingTimeout
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RegisterTimeout == 0 {
		c.RegisterTimeout = DefaultRegisterTimeout
	}
	if c.TransferTimeout == 0 {
		c.TransferTimeout = DefaultTransferTimeout
	}
	if c.DTMFDuration == 0 {
		c.DTMFDuration = DefaultDTMFDuration
	}
	if c.SessionExpires == 0 {
		c.SessionExpires = DefaultSessionExpires
	}
	if c.MinSE == 0 {
		c.MinSE = MinSessionExpires
	}
	for i := range c.Accounts {
		c.Accounts[i] = c.Accounts[i].WithDefaults()
	}
	return c
}

// Validate reports the first problem of c (defaults applied first).
func (c Config) Validate() error {
	c = c.WithDefaults()
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: sip listen %q: %w", ErrConfig, c.Listen, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%w: sip listen port %q", ErrConfig, port)
	}
	if host == "" {
		return fmt.Errorf("%w: sip listen %q needs a host", ErrConfig, c.Listen)
	}
	if _, err := netip.ParseAddr(c.RTPListenIP); err != nil {
		return fmt.Errorf("%w: rtp_listen_ip %q is not an IP address", ErrConfig, c.RTPListenIP)
	}
	if _, err := netip.ParseAddr(c.RTPAnnounceIP); err != nil {
		return fmt.Errorf("%w: rtp_announce_ip %q is not an IP address", ErrConfig, c.RTPAnnounceIP)
	}
	if c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMax-c.RTPPortMin < 1 {
		return fmt.Errorf("%w: rtp port range %d-%d (want 1024-65535, at least two ports)", ErrConfig, c.RTPPortMin, c.RTPPortMax)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"media_timeout", c.MediaTimeout}, {"media_start_timeout", c.MediaStartTimeout}, {"ring_timeout", c.RingTimeout}, {"retry_min", c.RetryMin}, {"retry_max", c.RetryMax}, {"register_timeout", c.RegisterTimeout}, {"transfer_timeout", c.TransferTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s %v is negative", ErrConfig, d.name, d.v)
		}
	}
	if c.DTMFDuration < 40*time.Millisecond || c.DTMFDuration > 5*time.Second {
		return fmt.Errorf("%w: dtmf_duration %v (want 40ms-5s)", ErrConfig, c.DTMFDuration)
	}
	if _, err := parseSources(c.TrustedSIPSources); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.InstanceID != "" {
		if _, err := ParseInstanceID(c.InstanceID); err != nil {
			return fmt.Errorf("%w: instance_id: %w", ErrConfig, err)
		}
	}
	if c.MinSE < MinSessionExpires {
		return fmt.Errorf("%w: session_min_se %v below the %v of RFC 4028", ErrConfig, c.MinSE, MinSessionExpires)
	}
	if c.SessionExpires < c.MinSE {
		return fmt.Errorf("%w: session_expires %v below session_min_se %v", ErrConfig, c.SessionExpires, c.MinSE)
	}
	if c.RetryMax < c.RetryMin {
		return fmt.Errorf("%w: retry_max %v below retry_min %v", ErrConfig, c.RetryMax, c.RetryMin)
	}
	seen := make(map[string]bool, len(c.Accounts))
	for _, a := range c.Accounts {
		if err := a.Validate(); err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("%w: account %q defined twice", ErrConfig, a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// WithDefaults returns a with every zero field set to its default.
func (a AccountConfig) WithDefaults() AccountConfig {
	if a.Expires == 0 {
		a.Expires = DefaultExpires
	}
	if a.BLFExpires == 0 {
		a.BLFExpires = DefaultExpires
	}
	if a.AuthUser == "" {
		a.AuthUser = a.Username
	}
	if a.MaxRingingCalls == 0 {
		a.MaxRingingCalls = DefaultMaxRingingCalls
	}
	if a.Domain == "" {
		if _, host, _, err := a.registrarTarget(); err == nil {
			a.Domain = host
		}
	}
	return a
}

// Validate reports the first problem of a (defaults applied first).
func (a AccountConfig) Validate() error {
	a = a.WithDefaults()
	if a.Name == "" {
		return fmt.Errorf("%w: account without name", ErrConfig)
	}
	if a.Username == "" {
		return fmt.Errorf("%w: account %s: username missing", ErrConfig, a.Name)
	}
	if _, _, _, err := a.registrarTarget(); err != nil {
		return fmt.Errorf("%w: account %s: %w", ErrConfig, a.Name, err)
	}
	if a.Password == "" && a.PasswordFile == "" {
		return fmt.Errorf("%w: account %s: password or password_file missing", ErrConfig, a.Name)
	}
	if a.Expires < 0 {
		return fmt.Errorf("%w: account %s: expires %d is negative", ErrConfig, a.Name, a.Expires)
	}
	if a.OutboundProxy != "" {
		if _, _, err := splitHostPortDefault(a.OutboundProxy, 5060); err != nil {
			return fmt.Errorf("%w: account %s: outbound_proxy: %w", ErrConfig, a.Name, err)
		}
	}
	if _, err := parseSources(a.TrustedSIPSources); err != nil {
		return fmt.Errorf("%w: account %s: %w", ErrConfig, a.Name, err)
	}
	if a.MaxRingingCalls < 0 || a.MaxRingingCalls > 1000 {
		return fmt.Errorf("%w: account %s: max_ringing_calls %d (want 1 to 1000)", ErrConfig, a.Name, a.MaxRingingCalls)
	}
	for _, p := range a.ReferAllowed {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("%w: account %s: refer_allowed pattern %q: %w", ErrConfig, a.Name, p, path.ErrBadPattern)
		}
	}
	if a.BLFServer != "" {
		if _, _, err := splitHostPortDefault(a.BLFServer, 5060); err != nil {
			return fmt.Errorf("%w: account %s: blf_server: %w", ErrConfig, a.Name, err)
		}
	}
	if a.BLFExpires < MinBLFExpires {
		return fmt.Errorf("%w: account %s: blf_expires %d (want at least %d seconds)", ErrConfig, a.Name, a.BLFExpires, MinBLFExpires)
	}
	seen := make(map[string]int, len(a.BLF))
	for i, t := range a.BLF {
		u, err := t.blfURI(a.Domain)
		if err != nil {
			return fmt.Errorf("%w: account %s: blf %d: %w", ErrConfig, a.Name, i+1, err)
		}
		if t.Account != "" && t.Account != a.Name {
			return fmt.Errorf("%w: account %s: blf %d names account %q", ErrConfig, a.Name, i+1, t.Account)
		}
		key := strings.ToLower(u.User + "@" + u.Host)
		if j, dup := seen[key]; dup {
			return fmt.Errorf("%w: account %s: blf %d watches %s as blf %d already does", ErrConfig, a.Name, i+1, key, j)
		}
		seen[key] = i + 1
	}
	return nil
}

// referAllowed reports whether a REFER may make the account call number
// (see ReferAllowed and RefuseRefer).
func (a AccountConfig) referAllowed(number string) bool {
	if a.RefuseRefer {
		return false
	}
	if len(a.ReferAllowed) == 0 {
		return true
	}
	n := stripVisual(number)
	for _, p := range a.ReferAllowed {
		if ok, _ := path.Match(p, n); ok {
			return true
		}
	}
	return false
}

// secret returns the account's password, reading PasswordFile if needed.
// It is never logged.
func (a AccountConfig) secret() (string, error) {
	if a.Password != "" || a.PasswordFile == "" {
		return a.Password, nil
	}
	b, err := os.ReadFile(a.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("account %s password_file: %w", a.Name, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// registrarTarget splits Registrar into transport ("udp", "tcp", "tls"),
// host and port. Transport overrides what Registrar says.
func (a AccountConfig) registrarTarget() (transport, host string, port int, err error) {
	s := strings.TrimSpace(a.Registrar)
	if s == "" {
		return "", "", 0, fmt.Errorf("registrar missing")
	}
	transport = "udp"
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "sips:"):
		s, transport = s[5:], "tls"
	case strings.HasPrefix(lower, "sip:"):
		s = s[4:]
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[at+1:]
	}
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		for _, p := range strings.Split(s[semi+1:], ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(k, "transport") {
				transport = strings.ToLower(v)
			}
		}
		s = s[:semi]
	}
	if a.Transport != "" {
		transport = strings.ToLower(a.Transport)
	}
	switch transport {
	case "udp", "tcp", "tls":
	default:
		return "", "", 0, fmt.Errorf("transport %q (want udp, tcp or tls)", transport)
	}
	def := 5060
	if transport == "tls" {
		def = 5061
	}
	host, port, err = splitHostPortDefault(s, def)
	if err != nil {
		return "", "", 0, fmt.Errorf("registrar %q: %w", a.Registrar, err)
	}
	return transport, host, port, nil
}

// splitHostPortDefault splits host[:port], IPv6 in brackets, with def as
// the port when none is given.
func splitHostPortDefault(s string, def int) (string, int, error) {
	if s == "" {
		return "", 0, fmt.Errorf("empty address")
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare host or a bracketed IPv6 literal.
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if host == "" || strings.ContainsAny(host, "[]/ ") {
			return "", 0, fmt.Errorf("bad address %q", s)
		}
		return host, def, nil
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 || host == "" {
		return "", 0, fmt.Errorf("bad address %q", s)
	}
	return host, int(p), nil
}
