package web

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
)

// embedEnv serves testConfig over TLS with embed_origins set.
func embedEnv(t *testing.T, origins ...string) (*env, *http.Client) {
	t.Helper()
	cfg := testConfig(t)
	cfg.EmbedOrigins = origins
	cfg.TLSCert, cfg.TLSKey = selfSigned(t)
	e := &env{hub: monitor.NewHub(monitor.HubConfig{}), hist: &fakeHistory{}, ctl: &fakeController{}}
	srv, err := New(cfg, Deps{Hub: e.hub, History: e.hist}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewTLSServer(srv.Handler())
	t.Cleanup(func() {
		e.hub.Close()
		e.ts.Close()
	})
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := e.ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e, c
}

// TestEmbedCookieFlags: with embed_origins the session cookie is
// __Host-, Secure, SameSite=None and Partitioned on the wire, and so is
// the sign-in form's, which a framed sign-in page needs.
func TestEmbedCookieFlags(t *testing.T) {
	e, c := embedEnv(t, "https://portal.example.test")
	resp, _ := get(t, c, e.ts.URL+"/login")
	lines := resp.Header.Values("Set-Cookie")
	if len(lines) == 0 || !strings.Contains(lines[0], "SameSite=None") || !strings.Contains(lines[0], "Partitioned") || !strings.Contains(lines[0], "Secure") {
		t.Errorf("sign-in form cookie: %q", lines)
	}
	resp, _ = e.loginAttempt(t, c, "bob", testPassword)
	var session string
	for _, l := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(l, embedSessionCookie+"=") {
			session = l
		}
	}
	for _, want := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=None", "Partitioned"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie %q lacks %s", session, want)
		}
	}
	if strings.Contains(session, "Domain=") {
		t.Errorf("a __Host- cookie with a Domain: %q", session)
	}
	if resp, _ := get(t, c, e.ts.URL+"/embed/phone"); resp.StatusCode != http.StatusOK {
		t.Errorf("embed phone with the __Host- cookie: %d", resp.StatusCode)
	}
	// Without embed_origins the cookie is as before.
	plain := newEnv(t, testConfig(t), monitor.HubConfig{})
	pc := plain.client(t)
	resp, _ = plain.loginAttempt(t, pc, "bob", testPassword)
	for _, l := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(l, sessionCookie+"=") && (strings.Contains(l, "Partitioned") || !strings.Contains(l, "SameSite=Lax")) {
			t.Errorf("session cookie without embedding: %q", l)
		}
	}
}

// TestEmbedViews: the embed views are framed by the portals only, carry
// the portals for embedframe.js, have no menu, follow ?theme=, and only
// the phone may ask for the microphone; other pages keep
// frame_ancestors.
func TestEmbedViews(t *testing.T) {
	e, c := embedEnv(t, "https://portal.example.test", "https://*.intra.example.test")
	e.login(t, c, "bob")
	for _, tc := range []struct {
		path      string
		framed    bool
		mic       bool
		embedPage bool
	}{
		{"/embed/phone?theme=light", true, true, true},
		{"/embed/calls", true, false, true},
		{"/embed/wallboard?theme=dark", true, false, true},
		{"/", false, false, false},
		{"/softphone", false, true, false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, c, e.ts.URL+tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d", resp.StatusCode)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			portal := strings.Contains(csp, "frame-ancestors 'self' https://portal.example.test https://*.intra.example.test")
			if portal != tc.framed || (!tc.framed && !strings.Contains(csp, "frame-ancestors 'self'")) {
				t.Errorf("CSP %q, portal framing wanted %v", csp, tc.framed)
			}
			if mic := strings.Contains(resp.Header.Get("Permissions-Policy"), "microphone=(self)"); mic != tc.mic {
				t.Errorf("Permissions-Policy %q", resp.Header.Get("Permissions-Policy"))
			}
			doc := parseHTML(t, body)
			if got := doc.Find(`meta[name="embed-origins"]`).Length() == 1; got != tc.embedPage {
				t.Errorf("embed-origins meta: %v", got)
			}
			if tc.embedPage {
				if doc.Find("header.topbar").Length() != 0 {
					t.Error("an embed view with the menu")
				}
				if u, _ := url.Parse(tc.path); u.Query().Get("theme") != "" {
					if th, _ := doc.Find("html").Attr("data-theme"); th != u.Query().Get("theme") {
						t.Errorf("data-theme %q", th)
					}
				}
				if !strings.Contains(body, "embedframe.js") {
					t.Error("no embedframe.js")
				}
			}
		})
	}
	// A framed view's visitor lands on a sign-in page the portal may
	// frame too.
	anon := &http.Client{Transport: e.ts.Client().Transport, CheckRedirect: c.CheckRedirect}
	resp, _ := get(t, anon, e.ts.URL+"/embed/phone")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=%2Fembed%2Fphone") {
		t.Fatalf("anonymous embed view: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, anon, e.ts.URL+"/login?next=/embed/phone")
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "https://portal.example.test") {
		t.Errorf("sign-in page CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
}

func TestEmbedConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		origins []string
		tls     bool
		proxy   bool
		want    string
	}{
		{"https portal with TLS", []string{"https://portal.example.test"}, true, false, ""},
		{"behind a TLS proxy", []string{"https://portal.example.test"}, false, true, ""},
		{"subdomain pattern", []string{"https://*.example.test"}, true, false, ""},
		{"loopback http portal", []string{"http://127.0.0.2:8443"}, true, false, ""},
		{"no HTTPS", []string{"https://portal.example.test"}, false, false, "needs HTTPS"},
		{"http portal", []string{"http://portal.example.test"}, true, false, "served over https"},
		{"a path", []string{"https://portal.example.test/intranet"}, true, false, "want an origin"},
		{"star in the middle", []string{"https://a.*.example.test"}, true, false, "want an origin"},
		{"bare star", []string{"*"}, true, false, "want an origin"},
		{"quote", []string{"'self'"}, true, false, "want an origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.EmbedOrigins = tc.origins
			if tc.tls {
				cfg.TLSCert, cfg.TLSKey = "cert.pem", "key.pem"
			}
			if tc.proxy {
				cfg.TrustedProxies = []string{"10.0.0.1"}
			}
			err := cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEmbedCallsLines: /embed/calls lists every active call, those on
// the lines ?line= names, or with ?mine=1 those on the user's own
// softphone accounts (none for a user without).
func TestEmbedCallsLines(t *testing.T) {
	e, c := embedEnv(t, "https://portal.example.test")
	e.hub.SourceStatus(monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected})
	for key, line := range map[string]string{"1": "1001", "2": "sales", "3": "1001"} {
		call := testCall("pbx", key, monitor.Connected)
		call.Line = line
		e.hub.Call(call)
	}
	e.login(t, c, "bob") // accounts: 1001
	for _, tc := range []struct {
		query string
		want  int
		lines string
	}{
		{"", 3, "null"},
		{"?line=sales", 1, `["sales"]`},
		{"?line=sales&line=1001", 3, `["sales","1001"]`},
		{"?mine=1", 2, `["1001"]`},
		{"?line=nobody", 0, `["nobody"]`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp, body := get(t, c, e.ts.URL+"/embed/calls"+tc.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d", resp.StatusCode)
			}
			doc := parseHTML(t, body)
			if n := doc.Find(`#calls [data-testid="call"]`).Length(); n != tc.want {
				t.Errorf("%d calls listed, want %d", n, tc.want)
			}
			if !strings.Contains(doc.Find("#wallboard-data").Text(), `"lines":`+tc.lines) {
				t.Errorf("boot data %s, want lines %s", doc.Find("#wallboard-data").Text(), tc.lines)
			}
		})
	}
	jar, _ := cookiejar.New(nil)
	vc := &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: c.CheckRedirect}
	e.login(t, vc, "vera") // a viewer without accounts
	_, body := get(t, vc, e.ts.URL+"/embed/calls?mine=1")
	if doc := parseHTML(t, body); doc.Find(`#calls [data-testid="call"]`).Length() != 0 || !strings.Contains(doc.Find("#wallboard-data").Text(), `"lines":[]`) {
		t.Errorf("mine for a user without accounts: %s", doc.Find("#wallboard-data").Text())
	}
}

// TestTwoSignInForms: two sign-in forms loaded at once in one browser
// (a portal's phone and wallboard frames, or two tabs) each keep their
// own token, so signing in with the first one still works; a form
// token that is no token of ours is refused.
func TestTwoSignInForms(t *testing.T) {
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	token := func() string {
		_, page := get(t, c, e.ts.URL+"/login")
		tok, _ := parseHTML(t, page).Find(`form[data-testid="login-form"] input[name="csrf"]`).Attr("value")
		return tok
	}
	first, second := token(), token()
	if first == "" || second == "" {
		t.Fatal("no form token")
	}
	for _, tok := range []string{`"><x`, second + "x", ""} {
		resp, _ := postForm(t, c, e.ts.URL+"/login", url.Values{"csrf": {tok}, "name": {"bob"}, "password": {testPassword}, "next": {"/"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("form token %q: %d, want 403", tok, resp.StatusCode)
		}
	}
	resp, _ := postForm(t, c, e.ts.URL+"/login", url.Values{"csrf": {first}, "name": {"bob"}, "password": {testPassword}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in with the first of two forms: %d", resp.StatusCode)
	}
}
