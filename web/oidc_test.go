package web

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/switchboard/switchboard/monitor"
)

// portalUser is a person at the test's OpenID provider: a name, the
// portal's groups and the softphone accounts a custom claim lists.
type portalUser struct {
	sub, name        string
	groups, accounts []string
}

func (u portalUser) ID() string { return u.sub }

func (u portalUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]any{"sub": u.sub, "preferred_username": u.name})
}

type portalClaims struct {
	*mockoidc.IDTokenClaims
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Groups            []string `json:"groups,omitempty"`
	SIPAccounts       []string `json:"sip_accounts,omitempty"`
}

func (u portalUser) Claims(_ []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	return portalClaims{IDTokenClaims: c, PreferredUsername: u.name, Groups: u.groups, SIPAccounts: u.accounts}, nil
}

// Token tampering of the test provider.
const (
	tokenHonest  int32 = iota
	tokenForged        // signed by a key that is not the provider's, under its key ID
	tokenExpired       // signed by the provider, but expired an hour ago
	tokenRotated       // signed by the provider's new key, which its JWKS now lists
)

// testProvider is a real OpenID provider on loopback (mockoidc), with
// RP-initiated logout added and a switch that tampers with its ID
// tokens. Every authorization request it saw is kept.
type testProvider struct {
	m      *mockoidc.MockOIDC
	tamper atomic.Int32

	mu        sync.Mutex
	authorize []url.Values
	logouts   []url.Values
}

func startProvider(t *testing.T) *testProvider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Keypair.KeyID(); err != nil { // computed once, before the handlers share it
		t.Fatal(err)
	}
	p := &testProvider{m: m}
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.KeyID(); err != nil {
		t.Fatal(err)
	}
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case mockoidc.AuthorizationEndpoint:
				_ = r.ParseForm()
				p.mu.Lock()
				p.authorize = append(p.authorize, r.Form)
				p.mu.Unlock()
			case "/oidc/logout":
				p.mu.Lock()
				p.logouts = append(p.logouts, r.URL.Query())
				p.mu.Unlock()
				http.Redirect(w, r, r.URL.Query().Get("post_logout_redirect_uri"), http.StatusFound)
				return
			case mockoidc.JWKSEndpoint:
				if p.tamper.Load() == tokenRotated {
					b, err := rotated.JWKS()
					if err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write(b)
					return
				}
			case mockoidc.DiscoveryEndpoint:
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var doc map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				doc["end_session_endpoint"] = m.Issuer() + "/logout"
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(doc)
				return
			case mockoidc.TokenEndpoint:
				if mode := p.tamper.Load(); mode != tokenHonest {
					rec := httptest.NewRecorder()
					next.ServeHTTP(rec, r)
					body, err := tamper(rec.Body.Bytes(), mode, m.Keypair, forger, rotated)
					if err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(rec.Code)
					_, _ = w.Write(body)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	// The provider's own mux, as mockoidc's Start builds it, plus the
	// logout endpoint.
	mux := http.NewServeMux()
	for path, h := range map[string]http.HandlerFunc{
		mockoidc.AuthorizationEndpoint: m.Authorize, mockoidc.TokenEndpoint: m.Token,
		mockoidc.UserinfoEndpoint: m.Userinfo, mockoidc.JWKSEndpoint: m.JWKS,
		mockoidc.DiscoveryEndpoint: m.Discovery, "/oidc/logout": http.NotFound,
	} {
		mux.Handle(path, mw(h))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.Server = &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Server.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = m.Server.Close()
		<-done
	})
	return p
}

// tamper rewrites the id_token of a token response.
func tamper(body []byte, mode int32, kp *mockoidc.Keypair, forger *rsa.PrivateKey, rotated *mockoidc.Keypair) ([]byte, error) {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	raw, _ := resp["id_token"].(string)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		return nil, err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kp.Kid
	key := kp.PrivateKey
	switch mode {
	case tokenForged:
		key = forger
	case tokenRotated:
		key = rotated.PrivateKey
		tok.Header["kid"] = rotated.Kid
	case tokenExpired:
		claims["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		claims["nbf"] = time.Now().Add(-2 * time.Hour).Unix()
		claims["exp"] = time.Now().Add(-time.Hour).Unix()
	}
	signed, err := tok.SignedString(key)
	if err != nil {
		return nil, err
	}
	resp["id_token"] = signed
	return json.Marshal(resp)
}

func (p *testProvider) authorizeRequests() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.authorize...)
}

func (p *testProvider) logoutRequests() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.logouts...)
}

// oidcEnv is a server that signs in at p beside the password users of
// testConfig; its sign-ins are kept in sessions.
func oidcEnv(t *testing.T, p *testProvider, sessions *MemorySessions) *env {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte(p.m.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Auth.OIDC = &OIDCConfig{
		Issuer: p.m.Issuer(), ClientID: p.m.ClientID, ClientSecretFile: secret,
		RoleMap:       RoleMap{"switchboard-admins": RoleAdmin, "agents": RoleUser},
		AccountsClaim: "sip_accounts",
	}
	e := &env{hub: monitor.NewHub(monitor.HubConfig{}), hist: &fakeHistory{}, ctl: &fakeController{}}
	srv, err := New(cfg, Deps{Hub: e.hub, History: e.hist, Sessions: sessions}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.hub.Close()
		e.ts.Close()
	})
	return e
}

// browser is an HTTP client with a cookie jar that follows redirects,
// as a browser does through the provider and back.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// ssoLogin signs c in as u through the provider, starting at next.
func ssoLogin(t *testing.T, e *env, p *testProvider, c *http.Client, u portalUser, next string) (*http.Response, string) {
	t.Helper()
	p.m.QueueUser(u)
	return get(t, c, e.ts.URL+"/login/oidc?next="+url.QueryEscape(next))
}

func ssoSessions(t *testing.T, st *MemorySessions) map[string]StoredSession {
	t.Helper()
	list, err := st.ListSessions(t.Context(), SessionSSO)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]StoredSession{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

var (
	alice = portalUser{sub: "a-1", name: "alice", groups: []string{"staff", "switchboard-admins"}, accounts: []string{"1001"}}
	bert  = portalUser{sub: "b-2", name: "bert", groups: []string{"agents"}, accounts: []string{"1002", "sales"}}
	carl  = portalUser{sub: "c-3", name: "carl", groups: []string{"finance"}}
)

// TestOIDCSignIn signs two people in at a real provider on loopback:
// code flow with PKCE (S256), state and nonce; their groups give their
// roles and the accounts claim their softphone accounts.
func TestOIDCSignIn(t *testing.T) {
	p := startProvider(t)
	st := NewMemorySessions()
	e := oidcEnv(t, p, st)

	_, page := get(t, e.client(t), e.ts.URL+"/login")
	if href, ok := parseHTML(t, page).Find(`[data-testid="login-sso"]`).Attr("href"); !ok || !strings.HasPrefix(href, "/login/oidc") {
		t.Errorf("sign-in page: no single sign-on link (%q)", href)
	}

	ca := browser(t)
	resp, _ := ssoLogin(t, e, p, ca, alice, "/history")
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/history" {
		t.Fatalf("alice: ended at %s with %d, want /history 200", resp.Request.URL, resp.StatusCode)
	}
	cb := browser(t)
	if resp, body := ssoLogin(t, e, p, cb, bert, "/"); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("bert: ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, body)
	}
	for _, q := range p.authorizeRequests() {
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
			t.Errorf("authorization request without PKCE, nonce or state: %v", q)
		}
		if !strings.Contains(q.Get("scope"), "openid") {
			t.Errorf("scope %q lacks openid", q.Get("scope"))
		}
	}
	if resp, _ := get(t, ca, e.ts.URL+"/settings/devices"); resp.StatusCode != http.StatusOK {
		t.Errorf("alice (admins) on an admin page: %d, want 200", resp.StatusCode)
	}
	if resp, _ := get(t, cb, e.ts.URL+"/settings/devices"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bert (agents) on an admin page: %d, want 403", resp.StatusCode)
	}
	if resp, _ := get(t, cb, e.ts.URL+"/softphone"); resp.StatusCode != http.StatusOK {
		t.Errorf("bert (agents) on the softphone: %d, want 200", resp.StatusCode)
	}
	got := ssoSessions(t, st)
	if s := got["alice"]; s.Role != RoleAdmin || strings.Join(s.Accounts, ",") != "1001" || s.CreatedBy != "oidc:"+p.m.Issuer() {
		t.Errorf("alice's sign-in: %+v", s)
	}
	if s := got["bert"]; s.Role != RoleUser || strings.Join(s.Accounts, ",") != "1002,sales" {
		t.Errorf("bert's sign-in: %+v", s)
	}
	// Password users and viewer tokens work beside it.
	e.login(t, e.client(t), "anna")
	if resp, _ := get(t, e.client(t), e.ts.URL+"/api/calls", "Authorization", "Bearer "+testViewerToken); resp.StatusCode != http.StatusOK {
		t.Errorf("viewer token beside single sign-on: %d", resp.StatusCode)
	}
}

// TestOIDCKeyRotation: after the provider changes its signing key (a
// new key ID, the old key gone from its JWKS) sign-ins go on working:
// go-oidc fetches the key set again for a key ID it has not seen.
func TestOIDCKeyRotation(t *testing.T) {
	p := startProvider(t)
	e := oidcEnv(t, p, NewMemorySessions())
	if resp, _ := ssoLogin(t, e, p, browser(t), bert, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the rotation: %d", resp.StatusCode)
	}
	p.tamper.Store(tokenRotated)
	if resp, body := ssoLogin(t, e, p, browser(t), bert, "/"); resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Errorf("after the rotation: %d at %s: %s", resp.StatusCode, resp.Request.URL, clip(body))
	}
}

// TestOIDCRefused: a person in no mapped group, a forged or expired ID
// token, and a callback whose state is not this browser's sign nobody
// in, and say why in words.
func TestOIDCRefused(t *testing.T) {
	p := startProvider(t)
	st := NewMemorySessions()
	e := oidcEnv(t, p, st)

	resp, body := ssoLogin(t, e, p, browser(t), carl, "/")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "none of the groups") || !strings.Contains(body, "carl") {
		t.Errorf("carl (no mapped group): %d, want 403 saying so: %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name string
		mode int32
	}{{"forged", tokenForged}, {"expired", tokenExpired}} {
		p.tamper.Store(tc.mode)
		resp, body := ssoLogin(t, e, p, browser(t), alice, "/")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "could not be verified") {
			t.Errorf("%s ID token: %d, want 403 saying so: %s", tc.name, resp.StatusCode, body)
		}
	}
	p.tamper.Store(tokenHonest)

	// A callback with another state (a link someone sent) is refused.
	c := e.client(t)
	resp, _ = get(t, c, e.ts.URL+"/login/oidc")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	resp, body = get(t, c, e.ts.URL+"/login/oidc/callback?code=x&state=not-mine")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "sign in again") {
		t.Errorf("callback with a foreign state: %d: %s", resp.StatusCode, body)
	}
	resp, _ = get(t, e.client(t), e.ts.URL+"/login/oidc/callback?code=x&state=y")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback without the flow's cookie: %d, want 400", resp.StatusCode)
	}
	if n := len(ssoSessions(t, st)); n != 0 {
		t.Errorf("%d sign-ins stored, want none", n)
	}
}

// TestOIDCLogout ends the session here and at the provider
// (end_session_endpoint), and the browser lands on the sign-in page.
func TestOIDCLogout(t *testing.T) {
	p := startProvider(t)
	st := NewMemorySessions()
	e := oidcEnv(t, p, st)
	c := browser(t)
	_, page := ssoLogin(t, e, p, c, bert, "/")
	csrf, _ := parseHTML(t, page).Find(`meta[name="csrf-token"]`).Attr("content")
	resp, _ := postForm(t, c, e.ts.URL+"/logout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
		t.Errorf("logout ended at %s with %d, want /login", resp.Request.URL, resp.StatusCode)
	}
	lo := p.logoutRequests()
	if len(lo) != 1 || lo[0].Get("client_id") != p.m.ClientID || lo[0].Get("post_logout_redirect_uri") != e.ts.URL+"/login" {
		t.Errorf("logout at the provider: %v", lo)
	}
	if n := len(ssoSessions(t, st)); n != 0 {
		t.Errorf("%d sign-ins left after logout", n)
	}
	if resp, _ := get(t, e.client(t), e.ts.URL+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect to sign in", resp.StatusCode)
	}
}

// TestOIDCPopupHandoff: a sign-in opened as a popup by a framed page
// ends in a page with a one-time code, which the frame (another cookie
// jar, as a partitioned frame has) trades for its own session, once.
func TestOIDCPopupHandoff(t *testing.T) {
	p := startProvider(t)
	e := oidcEnv(t, p, NewMemorySessions())
	p.m.QueueUser(bert)
	popup := browser(t)
	resp, page := get(t, popup, e.ts.URL+"/login/oidc?popup=1&next=/")
	code, ok := parseHTML(t, page).Find(`[data-testid="sso-handoff"]`).Attr("data-code")
	if resp.StatusCode != http.StatusOK || !ok || code == "" {
		t.Fatalf("popup: %d, no hand-off code: %s", resp.StatusCode, page)
	}
	if coop := resp.Header.Get("Cross-Origin-Opener-Policy"); coop != "unsafe-none" {
		t.Errorf("hand-off page COOP %q: the opener must stay reachable", coop)
	}
	frame := e.client(t)
	claim := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login/oidc/claim", bytes.NewBufferString(url.Values{"code": {code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, _ := do(t, frame, req)
		return r
	}
	if r := claim(); r.StatusCode != http.StatusOK {
		t.Fatalf("claim: %d", r.StatusCode)
	}
	if r, _ := get(t, frame, e.ts.URL+"/softphone"); r.StatusCode != http.StatusOK {
		t.Errorf("frame after the claim: %d, want 200", r.StatusCode)
	}
	if r := claim(); r.StatusCode != http.StatusBadRequest {
		t.Errorf("second claim of one code: %d, want 400", r.StatusCode)
	}
}
