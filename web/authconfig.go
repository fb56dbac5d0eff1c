package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// AuthConfig is the `auth:` section: sign-in by the company's identity
// beside the configured passwords and viewer tokens.
type AuthConfig struct {
	// OIDC signs users in at an OpenID Connect provider.
	OIDC *OIDCConfig `yaml:"oidc"`
	// ProxyHeader believes the user a trusted reverse proxy names in a
	// header.
	ProxyHeader *ProxyHeaderConfig `yaml:"proxy_header"`
}

// RoleMap maps the portal's groups to Switchboard roles. A user in
// several mapped groups gets the highest of their roles; a user in none
// is refused.
type RoleMap map[string]Role

// roleOf returns the highest role groups are mapped to, or "" when none
// is.
func (m RoleMap) roleOf(groups []string) Role {
	var best Role
	for _, g := range groups {
		if r, ok := m[g]; ok && r.rank() > best.rank() {
			best = r
		}
	}
	return best
}

func (m RoleMap) validate(key string) error {
	if len(m) == 0 {
		return fmt.Errorf("%s: role_map is required (group: admin, user or viewer); without it nobody gets in", key)
	}
	for g, r := range m {
		if strings.TrimSpace(g) == "" {
			return fmt.Errorf("%s.role_map: an empty group name", key)
		}
		if !r.Valid() {
			return fmt.Errorf("%s.role_map %q: role %q: want admin, user or viewer", key, g, r)
		}
	}
	return nil
}

// OIDCConfig is an OpenID Connect provider (Keycloak, Entra ID, Authentik,
// Zitadel...) where users sign in with the authorization code flow.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// from Issuer + /.well-known/openid-configuration.
	Issuer string `yaml:"issuer"`
	// ClientID is Switchboard's client at the provider.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile holds the client's secret (the file's content, a
	// trailing newline ignored). Empty for a public client, which PKCE
	// protects.
	ClientSecretFile string `yaml:"client_secret_file"`
	// Scopes are asked for beside openid. Default profile, email, groups.
	Scopes []string `yaml:"scopes"`
	// RolesClaim is the ID token's claim listing the user's groups.
	// Default groups.
	RolesClaim string `yaml:"roles_claim"`
	// RoleMap maps groups to roles.
	RoleMap RoleMap `yaml:"role_map"`
	// UserClaim is the claim that names the user. Default
	// preferred_username.
	UserClaim string `yaml:"user_claim"`
	// AccountsClaim is the claim listing the softphone accounts the user
	// may use (a string or a list). Empty: none.
	AccountsClaim string `yaml:"accounts_claim"`
	// Label is the sign-in button's text. Default "Sign in with single
	// sign-on" in the page's language.
	Label string `yaml:"label"`
}

func (c OIDCConfig) withDefaults() OIDCConfig {
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"profile", "email", "groups"}
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "groups"
	}
	if c.UserClaim == "" {
		c.UserClaim = "preferred_username"
	}
	c.Issuer = strings.TrimSpace(c.Issuer)
	return c
}

func (c OIDCConfig) validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("auth.oidc.issuer %q: want the provider's issuer URL, such as https://id.example.com/realms/staff", c.Issuer)
	}
	if strings.TrimSpace(c.ClientID) == "" {
		return fmt.Errorf("auth.oidc.client_id is required")
	}
	if slices.Contains(c.Scopes, "") {
		return fmt.Errorf("auth.oidc.scopes: an empty scope")
	}
	return c.RoleMap.validate("auth.oidc")
}

// ProxyHeaderConfig believes a reverse proxy that signed the user in
// (oauth2-proxy, Authelia, a portal's gateway) and names them in a header.
type ProxyHeaderConfig struct {
	// Header names the user. Default X-Remote-User.
	Header string `yaml:"header"`
	// GroupsHeader lists the user's groups, separated by commas. Default
	// X-Remote-Groups.
	GroupsHeader string `yaml:"groups_header"`
	// AccountsHeader lists the user's softphone accounts, separated by
	// commas. Empty: none.
	AccountsHeader string `yaml:"accounts_header"`
	// TrustedProxies are the proxies (CIDRs or addresses) whose headers
	// are believed. From any other peer the headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// RoleMap maps groups to roles.
	RoleMap RoleMap `yaml:"role_map"`
}

func (c ProxyHeaderConfig) withDefaults() ProxyHeaderConfig {
	if c.Header == "" {
		c.Header = "X-Remote-User"
	}
	if c.GroupsHeader == "" {
		c.GroupsHeader = "X-Remote-Groups"
	}
	c.Header = http.CanonicalHeaderKey(c.Header)
	c.GroupsHeader = http.CanonicalHeaderKey(c.GroupsHeader)
	if c.AccountsHeader != "" {
		c.AccountsHeader = http.CanonicalHeaderKey(c.AccountsHeader)
	}
	return c
}

func (c ProxyHeaderConfig) validate() error {
	c = c.withDefaults()
	if len(c.TrustedProxies) == 0 {
		return fmt.Errorf("auth.proxy_header.trusted_proxies is required: the header is believed only from them")
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("auth.proxy_header.%w", err)
	}
	for _, h := range []string{c.Header, c.GroupsHeader} {
		if strings.ContainsAny(h, " :\r\n") {
			return fmt.Errorf("auth.proxy_header: header %q: want a header name", h)
		}
	}
	return c.RoleMap.validate("auth.proxy_header")
}

func (c AuthConfig) validate() error {
	if c.OIDC != nil {
		if err := c.OIDC.validate(); err != nil {
			return err
		}
	}
	if c.ProxyHeader != nil {
		if err := c.ProxyHeader.validate(); err != nil {
			return err
		}
	}
	return nil
}
