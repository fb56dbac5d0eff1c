package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// TestSecurityHeaders: every response says nosniff, a Referrer-Policy
// and a Permissions-Policy that lets only the softphone ask for the
// microphone; what a signed-in user gets is never cached.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	e.login(t, c, "bob")
	for _, tc := range []struct {
		path    string
		signed  bool
		mic     bool
		noStore bool
	}{
		{"/", true, false, true},
		{"/softphone", true, true, true},
		{"/history", true, false, true},
		{"/api/calls", true, false, true},
		{"/api/today", true, false, true},
		{"/login", false, false, true},
		{"/static/app.css", false, false, false},
		{"/healthz", false, false, false},
		{"/nowhere", true, false, true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			cl := e.client(t)
			if tc.signed {
				cl = c
			}
			resp, _ := get(t, cl, e.ts.URL+tc.path)
			h := resp.Header
			if h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", h.Get("X-Content-Type-Options"))
			}
			if h.Get("Referrer-Policy") == "" {
				t.Error("no Referrer-Policy")
			}
			pp := h.Get("Permissions-Policy")
			if got := strings.Contains(pp, "microphone=(self)"); got != tc.mic || !strings.Contains(pp, "camera=()") {
				t.Errorf("Permissions-Policy %q, microphone wanted %v", pp, tc.mic)
			}
			if got := h.Get("Cache-Control") == "no-store"; tc.noStore && !got {
				t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
			}
		})
	}
	// A redirect of a signed-in request is not cached either.
	resp, _ := get(t, c, e.ts.URL+"/login")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("/login signed in: %d", resp.StatusCode)
	}
}

// TestForwardedScheme: behind a TLS-terminating proxy listed in
// trusted_proxies, X-Forwarded-Proto: https gives Secure cookies, HSTS
// and https links; the same header from anyone else changes nothing.
func TestForwardedScheme(t *testing.T) {
	cfg := testConfig(t)
	cfg.TrustedProxies = []string{"192.0.2.10"}
	e := newEnv(t, cfg, monitor.HubConfig{})
	h := e.srv.Handler()
	for _, tc := range []struct {
		name, peer string
		hdr        [2]string
		secure     bool
	}{
		{"trusted proxy, X-Forwarded-Proto", "192.0.2.10:5000", [2]string{"X-Forwarded-Proto", "https"}, true},
		{"trusted proxy, Forwarded", "192.0.2.10:5000", [2]string{"Forwarded", "for=198.51.100.7;proto=https"}, true},
		{"trusted proxy, plain http", "192.0.2.10:5000", [2]string{"X-Forwarded-Proto", "http"}, false},
		{"anyone else", "198.51.100.7:5000", [2]string{"X-Forwarded-Proto", "https"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://switchboard.test/login", nil)
			req.RemoteAddr = tc.peer
			req.Header.Set(tc.hdr[0], tc.hdr[1])
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			cookies := rec.Result().Cookies()
			if len(cookies) == 0 {
				t.Fatal("no cookie")
			}
			if cookies[0].Secure != tc.secure {
				t.Errorf("cookie Secure %v, want %v", cookies[0].Secure, tc.secure)
			}
			if got := rec.Header().Get("Strict-Transport-Security") != ""; got != tc.secure {
				t.Errorf("HSTS %v, want %v", got, tc.secure)
			}
			r2 := httptest.NewRequest(http.MethodGet, "http://switchboard.test/", nil)
			r2.RemoteAddr, r2.Host = tc.peer, "switchboard.test"
			r2.Header.Set(tc.hdr[0], tc.hdr[1])
			want := "http://switchboard.test"
			if tc.secure {
				want = "https://switchboard.test"
			}
			if got := e.srv.baseURL(r2); got != want {
				t.Errorf("links start %q, want %q", got, want)
			}
		})
	}
}
