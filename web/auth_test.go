package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	tests := []struct {
		name, user, pw string
		status         int
		wantMsg        string
	}{
		{"ok", "anna", testPassword, http.StatusSeeOther, ""},
		{"bad password", "anna", "wrong", http.StatusUnauthorized, "Wrong name or password."},
		{"unknown user", "nobody", testPassword, http.StatusUnauthorized, "Wrong name or password."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.client(t)
			resp, body := e.loginAttempt(t, c, tt.user, tt.pw)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.wantMsg != "" {
				got := parseHTML(t, body).Find(`[data-testid="login-error"]`).Text()
				if got != tt.wantMsg {
					t.Errorf("message %q, want %q", got, tt.wantMsg)
				}
				return
			}
			var sc *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == sessionCookie {
					sc = ck
				}
			}
			if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure {
				t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", sc)
			}
			if r, _ := get(t, c, e.ts.URL+"/"); r.StatusCode != http.StatusOK {
				t.Errorf("wallboard after login: %d", r.StatusCode)
			}
		})
	}
}

func TestLoginFormNeedsItsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	resp, _ := postForm(t, c, e.ts.URL+"/login", url.Values{"name": {"anna"}, "password": {testPassword}, "csrf": {"forged"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
}

func TestLoginRedirectStaysLocal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/history?number=1": "/history?number=1", "": "/", "https://evil.test/": "/",
		"//evil.test/": "/", "/\\evil.test": "/", "javascript:alert(1)": "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	tests := []struct {
		path     string
		status   int
		location string
	}{
		{"/", http.StatusSeeOther, "/login?next=%2F"},
		{"/history?number=1", http.StatusSeeOther, "/login?next=%2Fhistory%3Fnumber%3D1"},
		{"/api/calls", http.StatusUnauthorized, ""},
		{"/metrics", http.StatusUnauthorized, ""},
		{"/events", http.StatusUnauthorized, ""},
		{"/healthz", http.StatusOK, ""},
		{"/login", http.StatusOK, ""},
		{"/static/app.css", http.StatusOK, ""},
		{"/static/nope.js", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		resp, _ := get(t, c, e.ts.URL+tt.path)
		if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location)
		}
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	tok := e.login(t, c, "anna")
	e.hub.Call(testCall("pbx", "1", monitor.Ringing))
	hangup := e.ts.URL + "/api/calls/pbx:1/hangup"

	if resp, _ := post(t, c, hangup, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("hangup without token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := post(t, c, hangup, "", csrfHeader, "wrong"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("hangup with wrong token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := postForm(t, c, e.ts.URL+"/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout form without token: %d, want 403", resp.StatusCode)
	}
	if got := e.ctl.actions(); len(got) != 0 {
		t.Fatalf("controller called without CSRF token: %v", got)
	}
	if resp, body := post(t, c, hangup, "", csrfHeader, tok); resp.StatusCode != http.StatusOK {
		t.Errorf("hangup with token: %d %s", resp.StatusCode, body)
	}
	// A cross-site request that a browser marks as such is refused even
	// with the token.
	if resp, _ := post(t, c, hangup, "", csrfHeader, tok, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site hangup: %d, want 403", resp.StatusCode)
	}
	if resp, _ := postForm(t, c, e.ts.URL+"/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, e.ts.URL+"/api/calls"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", resp.StatusCode)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.hub.Call(testCall("pbx", "1", monitor.Ringing))
	bearer := "Bearer " + testViewerToken
	c := e.client(t)
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		status int
	}{
		{"token reads calls", "GET", "/api/calls", bearer, 200},
		{"token reads history", "GET", "/api/history", bearer, 200},
		{"token reads metrics", "GET", "/metrics", bearer, 200},
		{"token cannot hang up", "POST", "/api/calls/pbx:1/hangup", bearer, 403},
		{"token cannot originate", "POST", "/api/originate", bearer, 403},
		{"token cannot make wall links", "POST", "/api/wall-links", bearer, 403},
		{"wrong token", "GET", "/api/calls", "Bearer not-the-token-at-all", 401},
		{"basic auth is no token", "GET", "/api/calls", "Basic YW5uYTp4", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.ts.URL+tt.path, strings.NewReader(`{"source":"pbx","from":"1","to":"2"}`))
			req.Header.Set("Authorization", tt.auth)
			if resp, body := do(t, c, req); resp.StatusCode != tt.status {
				t.Errorf("%d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
	// A viewer and a user sign in but cannot control calls.
	for _, name := range []string{"vera", "bob"} {
		vc := e.client(t)
		tok := e.login(t, vc, name)
		if resp, _ := post(t, vc, e.ts.URL+"/api/calls/pbx:1/hangup", "", csrfHeader, tok); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s hang up: %d, want 403", name, resp.StatusCode)
		}
	}
	if got := e.ctl.actions(); len(got) != 0 {
		t.Fatalf("controller called: %v", got)
	}
}

func TestWallLink(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	e := newEnv(t, testConfig(t), monitor.HubConfig{}, WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
	admin := e.client(t)
	tok := e.login(t, admin, "anna")

	create := func() string {
		t.Helper()
		resp, body := post(t, admin, e.ts.URL+"/api/wall-links", `{"name":"Hall TV"}`, csrfHeader, tok)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create link: %d %s", resp.StatusCode, body)
		}
		i := strings.Index(body, "/wall/")
		j := strings.Index(body[i:], `"`)
		return body[i : i+j]
	}
	path := create()

	wall := e.client(t)
	resp, _ := get(t, wall, e.ts.URL+path)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/wall" {
		t.Fatalf("first use: %d %q, want 303 to /wall", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page := get(t, wall, e.ts.URL+"/")
	if resp.StatusCode != http.StatusOK || parseHTML(t, page).Find(`[data-testid="wallboard"]`).Length() != 1 {
		t.Fatalf("wall screen wallboard: %d", resp.StatusCode)
	}
	if parseHTML(t, page).Find(`[data-testid="control"]`).Length() != 0 {
		t.Error("wall screen sees call control")
	}
	if resp, _ := get(t, e.client(t), e.ts.URL+path); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second use: %d, want 404", resp.StatusCode)
	}

	expired := create()
	skew.Store(int64(wallLinkTTL + time.Second))
	if resp, _ := get(t, e.client(t), e.ts.URL+expired); resp.StatusCode != http.StatusNotFound {
		t.Errorf("expired link: %d, want 404", resp.StatusCode)
	}
}

func TestEventsOriginCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	tests := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{e.ts.URL, true},
		{"https://portal.example.test", true},
		{"https://evil.example.test", false},
		{"null", false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			h := http.Header{"Authorization": {"Bearer " + testViewerToken}}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+"/events", &websocket.DialOptions{HTTPHeader: h})
			if tt.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				_ = conn.CloseNow()
				return
			}
			if err == nil {
				_ = conn.CloseNow()
				t.Fatal("foreign origin accepted")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("foreign origin: %v, want 403", resp)
			}
		})
	}
}
