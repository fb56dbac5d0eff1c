package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// TestProxyHeader: the user a trusted proxy names gets the role of their
// groups; the same headers from any other peer are ignored; a named
// user in no mapped group is refused in words; state-changing requests
// still need the CSRF token the pages carry.
func TestProxyHeader(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.ProxyHeader = &ProxyHeaderConfig{
		TrustedProxies: []string{"192.0.2.10", "2001:db8::/64"},
		RoleMap:        RoleMap{"pbx-admins": RoleAdmin, "staff": RoleViewer, "agents": RoleUser},
		AccountsHeader: "X-Remote-Accounts",
	}
	e := newEnv(t, cfg, monitor.HubConfig{})
	h := e.srv.Handler()
	serve := func(method, path, peer string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://switchboard.test"+path, nil)
		req.RemoteAddr = peer
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		name, path, peer string
		hdr              []string
		want             int
		body             string
	}{
		{"admin from the proxy", "/settings/devices", "192.0.2.10:4000", []string{"X-Remote-User", "dora", "X-Remote-Groups", "staff, pbx-admins"}, http.StatusOK, "dora"},
		{"viewer from the proxy", "/settings/devices", "192.0.2.10:4000", []string{"X-Remote-User", "emil", "X-Remote-Groups", "staff"}, http.StatusForbidden, ""},
		{"viewer reads the board", "/", "[2001:db8::5]:4000", []string{"X-Remote-User", "emil", "X-Remote-Groups", "staff"}, http.StatusOK, "emil"},
		{"agent with accounts", "/softphone", "192.0.2.10:4000", []string{"X-Remote-User", "finn", "X-Remote-Groups", "agents", "X-Remote-Accounts", "1001"}, http.StatusOK, "1001"},
		{"header from another peer", "/", "192.0.2.99:4000", []string{"X-Remote-User", "dora", "X-Remote-Groups", "pbx-admins"}, http.StatusSeeOther, ""},
		{"no mapped group", "/", "192.0.2.10:4000", []string{"X-Remote-User", "gus", "X-Remote-Groups", "finance"}, http.StatusForbidden, "none of the groups"},
		{"proxy without the header", "/", "192.0.2.10:4000", nil, http.StatusSeeOther, ""},
		{"API by header", "/api/calls", "192.0.2.10:4000", []string{"X-Remote-User", "emil", "X-Remote-Groups", "staff"}, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(http.MethodGet, tc.path, tc.peer, tc.hdr...)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%s: %d, want %d with %q: %s", tc.path, rec.Code, tc.want, tc.body, clip(rec.Body.String()))
			}
		})
	}
	// A POST needs the page's CSRF token, as with a cookie: the proxy
	// signs the browser in for every site's requests alike.
	admin := []string{"X-Remote-User", "dora", "X-Remote-Groups", "pbx-admins", "Content-Type", "application/json"}
	rec := serve(http.MethodPost, "/api/wall-links", "192.0.2.10:4000", admin...)
	if rec.Code != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", rec.Code)
	}
	page := serve(http.MethodGet, "/", "192.0.2.10:4000", admin...)
	tok, _ := parseHTML(t, page.Body.String()).Find(`meta[name="csrf-token"]`).Attr("content")
	if tok == "" {
		t.Fatal("no CSRF token on the page of a proxy user")
	}
	if strings.Contains(page.Body.String(), `action="/logout"`) {
		t.Error("a proxy user is offered a sign-out that cannot end the proxy's sign-in")
	}
	req := httptest.NewRequest(http.MethodPost, "http://switchboard.test/api/wall-links", strings.NewReader(`{"name":"Hall"}`))
	req.RemoteAddr = "192.0.2.10:4000"
	for i := 0; i+1 < len(admin); i += 2 {
		req.Header.Set(admin[i], admin[i+1])
	}
	req.Header.Set(csrfHeader, tok)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 400 {
		t.Errorf("POST with the CSRF token: %d: %s", rec.Code, rec.Body.String())
	}
	// Password users keep signing in beside it.
	e.login(t, e.client(t), "anna")
}

func TestProxyHeaderConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ProxyHeaderConfig
		want string
	}{
		{"no proxies", ProxyHeaderConfig{RoleMap: RoleMap{"a": RoleUser}}, "trusted_proxies is required"},
		{"bad proxy", ProxyHeaderConfig{TrustedProxies: []string{"nope"}, RoleMap: RoleMap{"a": RoleUser}}, "trusted_proxies"},
		{"no role map", ProxyHeaderConfig{TrustedProxies: []string{"127.0.0.1"}}, "role_map is required"},
		{"bad role", ProxyHeaderConfig{TrustedProxies: []string{"127.0.0.1"}, RoleMap: RoleMap{"a": "boss"}}, `role "boss"`},
		{"fine", ProxyHeaderConfig{TrustedProxies: []string{"127.0.0.1"}, RoleMap: RoleMap{"a": RoleUser}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Auth.ProxyHeader = &tc.cfg
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}
