package web

import (
	"fmt"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// Role is what a signed-in user may do. Each role includes the ones below
// it: viewer (read) < user (read, softphone) < operator (the operator
// panel: put calls through, dial extensions, pause and log in queue
// members) < admin (call control on the wallboard, wall-screen links).
type Role string

// Roles.
const (
	RoleViewer   Role = "viewer"
	RoleUser     Role = "user"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleUser:
		return 2
	case RoleOperator:
		return 3
	case RoleAdmin:
		return 4
	}
	return 0
}

// Allows reports whether r includes need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// User is a person who signs in with a password.
type User struct {
	// Name is the sign-in name.
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash (`switchboard passwd` prints one). It
	// is never logged or rendered.
	PasswordHash string `yaml:"password_hash"`
	// Role is admin, operator, user or viewer.
	Role Role `yaml:"role"`
	// Accounts lists the softphone accounts the user may use.
	Accounts []string `yaml:"accounts"`
	// Extension is the number of the user's own desk phone: the operator
	// panel's click-to-dial rings it first and, when it answers, dials
	// the extension clicked. Empty: the panel offers no dialling.
	Extension string `yaml:"extension"`
}

// Token is a read-only credential for a wall screen or a script, sent as
// `Authorization: Bearer <token>`.
type Token struct {
	// Name says who holds the token; it appears in logs instead of the
	// token.
	Name string `yaml:"name"`
	// Token is the secret, at least 16 characters; supply it from the
	// environment (`token: "${WALLBOARD_TOKEN}"`). Never logged.
	Token string `yaml:"token"`
	// Role must be viewer (the default): tokens never control calls.
	Role Role `yaml:"role"`
}

// CookieSecurity says when session cookies get the Secure attribute.
type CookieSecurity string

// Cookie security modes.
const (
	// CookieSecureAuto sets Secure when the request arrived over TLS.
	CookieSecureAuto CookieSecurity = "auto"
	// CookieSecureAlways always sets Secure (TLS terminated by a proxy).
	CookieSecureAlways CookieSecurity = "true"
	// CookieSecureNever never sets Secure (plain HTTP on a trusted LAN).
	CookieSecureNever CookieSecurity = "false"
)

// UnmarshalYAML accepts auto, true and false, bare or quoted.
func (c *CookieSecurity) UnmarshalYAML(n *yaml.Node) error {
	v := CookieSecurity(strings.ToLower(strings.TrimSpace(n.Value)))
	switch v {
	case "", CookieSecureAuto, CookieSecureAlways, CookieSecureNever:
		*c = v
		return nil
	}
	return fmt.Errorf("secure_cookies %q: want auto, true or false", n.Value)
}

// Defaults.
const (
	DefaultListen     = "127.0.0.1:8080"
	DefaultSessionTTL = 12 * time.Hour
	// minTokenLen keeps bearer tokens out of guessing range.
	minTokenLen = 16
)

// Config is the web server's section of the configuration. The zero value
// with one user is usable.
type Config struct {
	// Listen is the TCP address to serve on. Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Users sign in with a password.
	Users []User `yaml:"users"`
	// Tokens give read-only access by bearer token.
	Tokens []Token `yaml:"tokens"`
	// AllowedOrigins are extra host patterns (path.Match syntax, e.g.
	// "portal.example.com" or "*.example.com") whose pages may open the
	// /events WebSocket; the server's own origin is always allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// FrameAncestors are the CSP frame-ancestors sources allowed to embed
	// the pages (an intranet portal). Default 'self'.
	FrameAncestors []string `yaml:"frame_ancestors"`
	// EmbedOrigins are the intranet portals allowed to frame the /embed/
	// views and to talk to them over postMessage: exact origins
	// ("https://portal.example.com"), at most a subdomain pattern
	// ("https://*.example.com"). Setting it makes the session cookie
	// __Host-, Secure, SameSite=None and Partitioned, which needs HTTPS
	// (tls_cert, or a TLS-terminating proxy in trusted_proxies). Default
	// none: nothing is embeddable from another site.
	EmbedOrigins []string `yaml:"embed_origins"`
	// SessionTTL is how long a session lives since its last use. Default
	// 12h.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// DeviceTTL is how long a wall screen signed in by a one-time link
	// stays signed in since its last use; its cookie is renewed while in
	// use. Default 90 days (2160h), at most 400 days (9600h), which is as
	// long as browsers keep a cookie.
	DeviceTTL time.Duration `yaml:"device_ttl"`
	// SecureCookies is auto (Secure when served over TLS), true or false.
	// Default auto.
	SecureCookies CookieSecurity `yaml:"secure_cookies"`
	// TLSCert and TLSKey are PEM files; when both are set the server
	// speaks HTTPS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// Forwarded or X-Forwarded-For headers name the client. From any
	// other peer those headers are ignored, as anyone can send them.
	// Default none.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// PublicURL is the address users reach the server at
	// ("https://switchboard.example.com"), used for the links the server
	// hands out and allowed as a WebSocket origin. Default: the request's
	// own Host.
	PublicURL string `yaml:"public_url"`
	// Auth signs users in by the company's identity: an OpenID provider
	// (auth.oidc) or a trusted proxy's header (auth.proxy_header), beside
	// users and tokens.
	Auth AuthConfig `yaml:"auth"`
	// Limits caps connections, sockets, request bodies and sign-in work.
	Limits Limits `yaml:"web_limits"`
	// Panel sets up the operator panel (/panel): lamp groups and the
	// thresholds its queue KPIs are coloured against.
	Panel PanelConfig `yaml:"panel"`
	// TimeZone is the one time zone every page, the history's CSV export
	// and the pages' scripts show times in, whatever zone a browser is
	// in: an IANA name such as "Europe/Berlin". Default: the server's own
	// zone.
	TimeZone string `yaml:"timezone"`
}

// Limits are the web server's caps. Zero fields take their defaults.
type Limits struct {
	// MaxConnections caps the open TCP connections. Default 1024.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddress caps the open TCP connections of one client
	// address (IPv6: one /64); trusted proxies are exempt. Default 128.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// MaxSockets caps the open /events and /phone WebSockets together.
	// Default 1000.
	MaxSockets int `yaml:"max_sockets"`
	// MaxEventsPerUser caps the /events sockets of one signed-in user.
	// Default 16.
	MaxEventsPerUser int `yaml:"max_events_per_user"`
	// MaxEventsPerToken caps the /events sockets opened with one viewer
	// token (every wall screen that uses it). Default 64.
	MaxEventsPerToken int `yaml:"max_events_per_token"`
	// MaxPhonePerUser caps the /phone sockets (open softphone pages) of
	// one user. Default 4.
	MaxPhonePerUser int `yaml:"max_phone_per_user"`
	// HeaderTimeout bounds reading a request's headers. Default 10s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// BodyTimeout bounds reading a request's body, from the end of its
	// headers. Default 10s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// LoginConcurrency caps the password checks (bcrypt) running at once;
	// more sign-ins wait their turn. Default half the CPUs, at least 1.
	LoginConcurrency int `yaml:"login_concurrency"`
}

// Default limits.
const (
	DefaultMaxConnections           = 1024
	DefaultMaxConnectionsPerAddress = 128
	DefaultMaxSockets               = 1000
	DefaultMaxEventsPerUser         = 16
	DefaultMaxEventsPerToken        = 64
	DefaultMaxPhonePerUser          = 4
	DefaultHeaderTimeout            = 10 * time.Second
	DefaultBodyTimeout              = 10 * time.Second
)

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxConnections, DefaultMaxConnections)
	def(&l.MaxConnectionsPerAddress, DefaultMaxConnectionsPerAddress)
	def(&l.MaxSockets, DefaultMaxSockets)
	def(&l.MaxEventsPerUser, DefaultMaxEventsPerUser)
	def(&l.MaxEventsPerToken, DefaultMaxEventsPerToken)
	def(&l.MaxPhonePerUser, DefaultMaxPhonePerUser)
	def(&l.LoginConcurrency, max(1, runtime.NumCPU()/2))
	if l.HeaderTimeout == 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.BodyTimeout == 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	return l
}

func (l Limits) validate() error {
	for name, v := range map[string]int{
		"max_connections": l.MaxConnections, "max_connections_per_address": l.MaxConnectionsPerAddress,
		"max_sockets": l.MaxSockets, "max_events_per_user": l.MaxEventsPerUser,
		"max_events_per_token": l.MaxEventsPerToken, "max_phone_per_user": l.MaxPhonePerUser,
		"login_concurrency": l.LoginConcurrency,
	} {
		if v < 0 {
			return fmt.Errorf("web_limits.%s %d: want a positive number (0 for the default)", name, v)
		}
	}
	if l.HeaderTimeout < 0 || l.BodyTimeout < 0 {
		return fmt.Errorf("web_limits: header_timeout and body_timeout must not be negative")
	}
	return nil
}

// withDefaults returns c with every unset field at its default.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.DeviceTTL == 0 {
		c.DeviceTTL = DefaultDeviceTTL
	}
	if c.SecureCookies == "" {
		c.SecureCookies = CookieSecureAuto
	}
	if len(c.FrameAncestors) == 0 {
		c.FrameAncestors = []string{"'self'"}
	}
	c.Tokens = slices.Clone(c.Tokens)
	for i := range c.Tokens {
		if c.Tokens[i].Role == "" {
			c.Tokens[i].Role = RoleViewer
		}
	}
	c.Limits = c.Limits.withDefaults()
	c.Panel = c.Panel.withDefaults()
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	return c
}

// Validate reports the first problem in c. Unset fields take their
// defaults and are fine.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen %q: %v", c.Listen, err)
	}
	names := map[string]bool{}
	for i, u := range c.Users {
		if strings.TrimSpace(u.Name) == "" {
			return bad("users[%d]: name is required", i)
		}
		if names[u.Name] {
			return bad("users[%d]: duplicate name %q", i, u.Name)
		}
		names[u.Name] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			// The hash itself stays out of the message.
			return bad("users[%d] %s: password_hash is not a bcrypt hash (use `switchboard passwd`)", i, u.Name)
		}
		if !u.Role.Valid() {
			return bad("users[%d] %s: role %q: want admin, operator, user or viewer", i, u.Name, u.Role)
		}
		if u.Extension != "" && !dialable.MatchString(u.Extension) {
			return bad("users[%d] %s: extension %q: want the number of a phone (digits, a SIP user)", i, u.Name, clip(u.Extension))
		}
	}
	secrets := map[string]bool{}
	for i, t := range c.Tokens {
		if strings.TrimSpace(t.Name) == "" {
			return bad("tokens[%d]: name is required", i)
		}
		if len(t.Token) < minTokenLen {
			return bad("tokens[%d] %s: token must be at least %d characters", i, t.Name, minTokenLen)
		}
		if secrets[t.Token] {
			return bad("tokens[%d] %s: token is used twice", i, t.Name)
		}
		secrets[t.Token] = true
		if t.Role != RoleViewer {
			return bad("tokens[%d] %s: role %q: tokens are read-only, want viewer", i, t.Name, t.Role)
		}
	}
	for _, a := range c.FrameAncestors {
		if a == "" || strings.ContainsAny(a, ";,\r\n") {
			return bad("frame_ancestors %q: want a CSP source such as 'self' or https://portal.example.com", a)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "" || strings.ContainsAny(o, " \r\n") {
			return bad("allowed_origins %q: want a host pattern", o)
		}
	}
	if c.SessionTTL < time.Minute {
		return bad("session_ttl %s: want at least 1m", c.SessionTTL)
	}
	if c.DeviceTTL < time.Hour || c.DeviceTTL > maxDeviceTTL {
		return bad("device_ttl %s: want from 1h to 9600h (400 days, as long as browsers keep a cookie)", c.DeviceTTL)
	}
	switch c.SecureCookies {
	case CookieSecureAuto, CookieSecureAlways, CookieSecureNever:
	default:
		return bad("secure_cookies %q: want auto, true or false", c.SecureCookies)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return bad("tls_cert and tls_key go together")
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		return bad("%v", err)
	}
	if c.PublicURL != "" {
		if _, err := publicOrigin(c.PublicURL); err != nil {
			return bad("%v", err)
		}
	}
	for _, o := range c.EmbedOrigins {
		if _, err := parseEmbedOrigin(o); err != nil {
			return bad("%v", err)
		}
	}
	if len(c.EmbedOrigins) > 0 && c.TLSCert == "" && (len(c.TrustedProxies) == 0 || c.SecureCookies == CookieSecureNever) {
		return bad("embed_origins needs HTTPS: a portal's frame gets its cookie only when it is Secure and SameSite=None; " +
			"set tls_cert and tls_key, or put a TLS-terminating proxy in trusted_proxies; without HTTPS serve the portal and Switchboard from the same site instead")
	}
	if err := c.Auth.validate(); err != nil {
		return bad("%v", err)
	}
	if err := c.Limits.validate(); err != nil {
		return bad("%v", err)
	}
	if err := c.Panel.validate(); err != nil {
		return bad("panel: %v", err)
	}
	if _, _, _, err := displayZone(c.TimeZone); err != nil {
		return bad("%v", err)
	}
	return nil
}

// publicOrigin checks public_url and returns its host: an absolute http
// or https URL of the server's root, without credentials, query or
// fragment.
func publicOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return "", fmt.Errorf("public_url %q: want the server's root, such as https://switchboard.example.com", raw)
	}
	return u.Host, nil
}
