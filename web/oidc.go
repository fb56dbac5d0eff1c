package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OpenID Connect sign-in: the authorization code flow with PKCE (RFC
// 7636), state and nonce (OpenID Connect Core 1.0, sections 3.1.2.1 and
// 15.5.2), the ID token verified against the provider's keys, which
// go-oidc fetches again when a token names a key it has not seen (key
// rotation), and RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0) where the provider's discovery names an end_session_endpoint.

// Errors of the OIDC sign-in.
var (
	// ErrProvider is returned when the OpenID provider cannot be reached
	// or answers what cannot be used.
	ErrProvider = errors.New("the sign-in provider cannot be reached")
	// ErrSSORefused is returned for an identity the provider vouched for
	// that Switchboard does not admit (no mapped group, no name, a token
	// that does not verify).
	ErrSSORefused = fmt.Errorf("%w: single sign-on refused", ErrForbidden)
)

const (
	// oidcCookie carries state, nonce and the PKCE verifier from the
	// redirect to the provider to the callback. It is sent only to
	// oidcPath.
	oidcCookie = "switchboard_oidc"
	oidcPath   = "/login/oidc"
	// oidcFlowTTL is how long a sign-in at the provider may take.
	oidcFlowTTL = 10 * time.Minute
	// handoffTTL is how long a frame has to pick up a sign-in made in a
	// popup.
	handoffTTL = time.Minute
	// maxHandoffs bounds the sign-ins waiting to be picked up.
	maxHandoffs = 1024
	// discoveryTimeout bounds reading the provider's discovery document.
	discoveryTimeout = 10 * time.Second
)

// SessionSSO is a person signed in by the OpenID provider: role and
// softphone accounts come from the provider's groups, stored with the
// sign-in, and no password is configured for them.
const SessionSSO SessionKind = "sso"

// oidcLogin is the server's client of one OpenID provider.
type oidcLogin struct {
	cfg    OIDCConfig
	secret string
	client *http.Client
	// source names the provider in the sign-ins it made; fingerprint
	// changes when the mapping of groups changes, which ends them.
	source, fingerprint string

	mu         sync.Mutex
	prov       *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	endSession string
}

func newOIDCLogin(cfg OIDCConfig, client *http.Client) (*oidcLogin, error) {
	cfg = cfg.withDefaults()
	o := &oidcLogin{cfg: cfg, client: client, source: "oidc:" + cfg.Issuer}
	if cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(cfg.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("%w: auth.oidc.client_secret_file: %w", ErrInvalidConfig, err)
		}
		o.secret = strings.TrimRight(string(b), "\r\n")
		if o.secret == "" {
			return nil, fmt.Errorf("%w: auth.oidc.client_secret_file %s is empty", ErrInvalidConfig, cfg.ClientSecretFile)
		}
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: discoveryTimeout}
	}
	groups := make([]string, 0, len(cfg.RoleMap))
	for g := range cfg.RoleMap {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	h := sha256.New()
	for _, part := range []string{cfg.Issuer, cfg.ClientID, cfg.RolesClaim, cfg.UserClaim, cfg.AccountsClaim} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	for _, g := range groups {
		h.Write([]byte(g + "=" + string(cfg.RoleMap[g])))
		h.Write([]byte{0})
	}
	o.fingerprint = hex.EncodeToString(h.Sum(nil))
	return o, nil
}

// ctx hands the provider's HTTP client to go-oidc and oauth2.
func (o *oidcLogin) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, o.client), o.client)
}

// provider reads the discovery document once it is first needed, so
// that a provider down while Switchboard starts only delays SSO; a
// failure is tried again at the next sign-in.
func (o *oidcLogin) provider(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.prov != nil {
		return o.prov, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	// The key set keeps the client of this context (not its deadline)
	// for the key fetches of later verifications.
	p, err := oidc.NewProvider(o.ctx(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrProvider, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, nil, fmt.Errorf("%w: discovery: %w", ErrProvider, err)
	}
	o.prov, o.endSession = p, extra.EndSession
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID})
	return o.prov, o.verifier, nil
}

// endSessionURL is where a browser goes to sign out at the provider
// too, or "" when the provider does not support it (or was never
// reached).
func (o *oidcLogin) endSessionURL(back string) string {
	o.mu.Lock()
	end := o.endSession
	o.mu.Unlock()
	if end == "" {
		return ""
	}
	u, err := url.Parse(end)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", o.cfg.ClientID)
	q.Set("post_logout_redirect_uri", back)
	u.RawQuery = q.Encode()
	return u.String()
}

func (o *oidcLogin) oauth2(p *oidc.Provider, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.cfg.ClientID, ClientSecret: o.secret, Endpoint: p.Endpoint(),
		RedirectURL: redirect, Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...),
	}
}

// grant is the fingerprint an SSO sign-in of u is stored with: the user
// as signed in and the provider's mapping, so a changed role_map or
// claim ends the sign-ins made under the old one.
func (o *oidcLogin) grant(u User) string {
	sum := sha256.Sum256([]byte(grantOf(u) + "\x00" + o.fingerprint))
	return hex.EncodeToString(sum[:])
}

// oidcFlow is what the browser carries from the redirect to the
// callback.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Popup    bool   `json:"p,omitempty"`
}

func encodeFlow(f oidcFlow) string {
	b, _ := json.Marshal(f) // a struct of strings always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeFlow reads the oidcCookie; bad input is an error, never a panic.
func decodeFlow(v string) (oidcFlow, error) {
	var f oidcFlow
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return f, fmt.Errorf("%w: sign-in cookie: %w", ErrBadRequest, err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%w: sign-in cookie: %w", ErrBadRequest, err)
	}
	if f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return f, fmt.Errorf("%w: sign-in cookie: incomplete", ErrBadRequest)
	}
	return f, nil
}

// oidcStart sends the browser to the provider. ?next= is the local path
// to come back to; ?popup=1 is a sign-in opened by a framed page, which
// ends in a window that hands the sign-in to the frame.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return ErrNotFound
	}
	p, _, err := s.oidc.provider(r.Context())
	if err != nil {
		s.log.Warn("OpenID provider unreachable", "issuer", s.oidc.cfg.Issuer, "err", err)
		return err
	}
	f := oidcFlow{State: randomToken(24), Nonce: randomToken(24), Verifier: oauth2.GenerateVerifier(),
		Next: localPath(r.URL.Query().Get("next")), Popup: r.URL.Query().Get("popup") == "1"}
	// Lax, not Strict: the provider's redirect back is a cross-site
	// top-level navigation, which must carry it.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // HttpOnly and SameSite set; Secure follows the request's scheme
		Name: oidcCookie, Value: encodeFlow(f), Path: oidcPath, MaxAge: int(oidcFlowTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookie(r),
	})
	to := s.oidc.oauth2(p, s.baseURL(r)+oidcPath+"/callback").AuthCodeURL(f.State,
		oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	w.Header().Set("Cache-Control", "no-store")
	if f.Popup {
		// The popup must keep its opener (the portal's frame) through
		// to the hand-off page.
		w.Header().Set("Cross-Origin-Opener-Policy", "unsafe-none")
	}
	http.Redirect(w, r, to, http.StatusFound) //nolint:gosec // the provider's authorization endpoint, from its discovery document
	return nil
}

// oidcCallback takes the provider's answer: the state must be the one
// this browser was sent with, the code is exchanged with the PKCE
// verifier, and the ID token must verify (signature by the provider's
// keys, issuer, audience, expiry) and carry this browser's nonce.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return ErrNotFound
	}
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return problem(ErrBadRequest, "sso.error.expired")
	}
	f, err := decodeFlow(c.Value)
	if err != nil {
		return problem(ErrBadRequest, "sso.error.expired")
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		s.log.Info("single sign-on refused: state does not match", "remote", s.clientAddr(r))
		return problem(ErrBadRequest, "sso.error.expired")
	}
	s.clearCookie(w, r, oidcCookie, oidcPath)
	if e := q.Get("error"); e != "" {
		s.log.Info("single sign-on refused by the provider", "error", clip(e), "description", clip(q.Get("error_description")))
		return problem(ErrSSORefused, "sso.error.provider", "Error", clip(e))
	}
	u, err := s.oidcIdentity(r.Context(), r, q.Get("code"), f)
	if err != nil {
		return err
	}
	if f.Popup {
		code, ok := s.handoffs.put(u)
		if !ok {
			return fmt.Errorf("%w: too many sign-ins waiting to be picked up", ErrSessionStore)
		}
		// The framed page that opened this window picks the sign-in up;
		// its cookie lives in the portal's partition, which this
		// top-level window cannot write to.
		w.Header().Set("Cross-Origin-Opener-Policy", "unsafe-none")
		s.render(w, r, http.StatusOK, SSOHandoff(SSOHandoffView{Meta: s.meta(r, T(r.Context(), "sso.done.title"), "", "signin.js"), Code: code}))
		return nil
	}
	if err := s.ssoSignIn(w, r, u, s.oidc.source, s.oidc.grant(u)); err != nil {
		return err
	}
	http.Redirect(w, r, localPath(f.Next), http.StatusSeeOther)
	return nil
}

// oidcIdentity exchanges code and turns the verified ID token's claims
// into a user.
func (s *Server) oidcIdentity(ctx context.Context, r *http.Request, code string, f oidcFlow) (User, error) {
	o := s.oidc
	p, verifier, err := o.provider(ctx)
	if err != nil {
		return User{}, err
	}
	if code == "" {
		return User{}, problem(ErrBadRequest, "sso.error.expired")
	}
	tok, err := o.oauth2(p, s.baseURL(r)+oidcPath+"/callback").Exchange(o.ctx(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		s.log.Warn("single sign-on: the code could not be exchanged", "issuer", o.cfg.Issuer, "err", err)
		return User{}, fmt.Errorf("%w: token exchange: %w", ErrProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return User{}, fmt.Errorf("%w: the token response has no id_token", ErrProvider)
	}
	idt, err := verifier.Verify(o.ctx(ctx), raw)
	if err != nil {
		s.log.Warn("single sign-on refused: ID token does not verify", "issuer", o.cfg.Issuer, "err", err, "remote", s.clientAddr(r))
		return User{}, problem(ErrSSORefused, "sso.error.token")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		s.log.Warn("single sign-on refused: nonce does not match", "issuer", o.cfg.Issuer, "remote", s.clientAddr(r))
		return User{}, problem(ErrSSORefused, "sso.error.token")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return User{}, problem(ErrSSORefused, "sso.error.token")
	}
	return s.ssoUser(claimStrings(claims[o.cfg.UserClaim]), claimStrings(claims[o.cfg.RolesClaim]),
		claimStrings(claims[o.cfg.AccountsClaim]), o.cfg.RoleMap, "oidc")
}

// ssoUser maps a vouched-for identity to a user, or refuses it in words.
func (s *Server) ssoUser(names, groups, accounts []string, roles RoleMap, via string) (User, error) {
	if len(names) != 1 || strings.TrimSpace(names[0]) == "" {
		s.log.Warn("single sign-on refused: no user name", "via", via)
		return User{}, problem(ErrSSORefused, "sso.error.no_name")
	}
	name := clip(names[0])
	role := roles.roleOf(groups)
	if role == "" {
		s.log.Info("single sign-on refused: in no mapped group", "user", name, "via", via, "groups", len(groups))
		return User{}, problem(ErrSSORefused, "sso.error.no_group", "User", name)
	}
	return User{Name: name, Role: role, Accounts: accounts}, nil
}

// claimStrings reads a claim that is a string or a list of strings;
// anything else counts as absent.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ssoSignIn stores a sign-in for u made by source and sends its cookie.
func (s *Server) ssoSignIn(w http.ResponseWriter, r *http.Request, u User, source, grant string) error {
	addr := s.clientAddr(r)
	secret, rec, err := s.newSession(r.Context(), StoredSession{Kind: SessionSSO, Name: u.Name, Role: u.Role,
		Accounts: u.Accounts, Grant: grant, CreatedBy: source, Address: addr.String()})
	if err != nil {
		return err
	}
	s.metrics.logins.WithLabelValues(loginOK).Inc()
	s.setSessionCookie(w, r, secret, s.cfg.SessionTTL)
	s.applyUserLanguage(w, r, u.Name)
	s.log.Info("signed in", "user", u.Name, "role", u.Role, "via", source, "session", rec.ID, "remote", addr)
	return nil
}

// oidcClaim is where a framed page picks up the sign-in its popup made:
// the one-time code is traded for a session cookie in the frame's own
// (partitioned) cookie jar.
func (s *Server) oidcClaim(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return ErrNotFound
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	u, ok := s.handoffs.take(r.PostFormValue("code"))
	if !ok {
		return problem(ErrBadRequest, "sso.error.expired")
	}
	if err := s.ssoSignIn(w, r, u, s.oidc.source, s.oidc.grant(u)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": u.Name, "role": string(u.Role)})
	return nil
}

// handoffs are sign-ins made in a popup, waiting for their frame.
type handoffs struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]handoff
}

type handoff struct {
	u       User
	expires time.Time
}

func newHandoffs(now func() time.Time) *handoffs {
	return &handoffs{now: now, m: map[string]handoff{}}
}

// put keeps u for handoffTTL under a new one-time code; false when too
// many wait.
func (h *handoffs) put(u User) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for k, v := range h.m {
		if !now.Before(v.expires) {
			delete(h.m, k)
		}
	}
	if len(h.m) >= maxHandoffs {
		return "", false
	}
	code := randomToken(24)
	h.m[code] = handoff{u: u, expires: now.Add(handoffTTL)}
	return code, true
}

// take returns the user of code once, if it has not expired.
func (h *handoffs) take(code string) (User, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[code]
	delete(h.m, code)
	if !ok || !h.now().Before(v.expires) {
		return User{}, false
	}
	return v.u, true
}
