package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

// newStoreEnv is newEnv with the sign-ins in st, so that two servers (a
// restart) can share them.
func newStoreEnv(t testing.TB, cfg Config, st SessionStore, opts ...Option) *env {
	t.Helper()
	e := &env{hub: monitor.NewHub(monitor.HubConfig{}), hist: &fakeHistory{}, ctl: &fakeController{}}
	e.hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkConnected})
	opts = append([]Option{WithLogger(quietLogger())}, opts...)
	srv, err := New(cfg, Deps{Hub: e.hub, History: e.hist, Sessions: st}, opts...)
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

// sessionCookieOf returns the session cookie resp sets, or nil.
func sessionCookieOf(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

// getWithCookie sends secret as the session cookie, like a browser that
// kept it.
func getWithCookie(t *testing.T, base, path, secret string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: secret})
	resp, _ := do(t, &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
	return resp
}

// TestSessionSurvivesRestart: a sign-in made on one server is good on the
// next one sharing the store (a restart), the store holds only the
// secret's hash, and a user whose password changed while the server was
// down is signed out by the next start.
func TestSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	st := NewMemorySessions()
	first := newStoreEnv(t, cfg, st)
	c := first.client(t)
	resp, _ := first.loginAttempt(t, c, "bob", testPassword)
	ck := sessionCookieOf(resp)
	if ck == nil || ck.MaxAge != int(DefaultSessionTTL.Seconds()) {
		t.Fatalf("session cookie %+v, want one for session_ttl", ck)
	}
	rec, err := st.LookupSession(context.Background(), hashSecret(ck.Value))
	if err != nil {
		t.Fatalf("the store does not hold the cookie's hash: %v", err)
	}
	for _, v := range []string{rec.ID, string(rec.Hash), rec.Grant} {
		if strings.Contains(v, ck.Value) || v == csrfOf(ck.Value) {
			t.Errorf("the store holds the secret or the CSRF token: %q", v)
		}
	}
	if rec.Kind != SessionUser || rec.Name != "bob" || rec.Role != RoleUser {
		t.Errorf("stored %+v", rec)
	}

	second := newStoreEnv(t, cfg, st)
	if resp := getWithCookie(t, second.ts.URL, "/api/calls", ck.Value); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the restart: %d, want 200", resp.StatusCode)
	}
	changed := testConfig(t)
	changed.Users[1].PasswordHash = hashPassword(t, "a new password")
	third := newStoreEnv(t, changed, st)
	if resp := getWithCookie(t, third.ts.URL, "/api/calls", ck.Value); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a restart with a new password: %d, want 401", resp.StatusCode)
	}
	if _, err := st.LookupSession(context.Background(), rec.Hash); !errors.Is(err, ErrNoSession) {
		t.Errorf("the stale session is still stored: %v", err)
	}
}

// TestSessionRenewal: a sign-in in use is renewed (its cookie sent again
// with the whole lifetime) once renewEvery has passed, not at every
// request; one not used for its lifetime has ended.
func TestSessionRenewal(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	st := NewMemorySessions()
	e := newStoreEnv(t, testConfig(t), st, WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
	c := e.client(t)
	resp, _ := e.loginAttempt(t, c, "vera", testPassword)
	secret := sessionCookieOf(resp).Value
	if ck := sessionCookieOf(getWithCookie(t, e.ts.URL, "/api/calls", secret)); ck != nil {
		t.Errorf("renewed at once: %+v", ck)
	}
	skew.Store(int64(renewEvery(DefaultSessionTTL) + time.Second))
	ck := sessionCookieOf(getWithCookie(t, e.ts.URL, "/api/calls", secret))
	if ck == nil || ck.Value != secret || ck.MaxAge != int(DefaultSessionTTL.Seconds()) || !ck.HttpOnly {
		t.Fatalf("after %s: cookie %+v, want the same secret again for session_ttl", renewEvery(DefaultSessionTTL), ck)
	}
	rec, _ := st.LookupSession(context.Background(), hashSecret(secret))
	// Renewed: it lives session_ttl from the renewal, past the first end.
	skew.Store(int64(DefaultSessionTTL + time.Second))
	if resp := getWithCookie(t, e.ts.URL, "/api/calls", secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("within session_ttl of its last use (expires %s): %d", rec.Expires, resp.StatusCode)
	}
	skew.Store(int64(3*DefaultSessionTTL + time.Minute))
	if resp := getWithCookie(t, e.ts.URL, "/api/calls", secret); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unused for session_ttl: %d, want 401", resp.StatusCode)
	}
}

// makeDevice has admin (signed in with tok) make a link for name and
// opens it with a fresh client; it returns the device's cookie secret.
func makeDevice(t *testing.T, e *env, admin *http.Client, tok, name string) string {
	t.Helper()
	resp, body := post(t, admin, e.ts.URL+"/api/wall-links", `{"name":"`+name+`"}`, csrfHeader, tok)
	var link wallLinkResponse
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &link) != nil || link.Name != name {
		t.Fatalf("create link: %d %s", resp.StatusCode, body)
	}
	u, _ := url.Parse(link.URL)
	resp, _ = get(t, e.client(t), e.ts.URL+u.Path)
	ck := sessionCookieOf(resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/wall" || ck == nil {
		t.Fatalf("use link: %d %q %+v", resp.StatusCode, resp.Header.Get("Location"), ck)
	}
	if ck.MaxAge != int(DefaultDeviceTTL.Seconds()) {
		t.Errorf("device cookie lives %ds, want device_ttl %ds", ck.MaxAge, int(DefaultDeviceTTL.Seconds()))
	}
	return ck.Value
}

// TestDevices: a wall-screen link signs a screen in as a named device
// that outlives session_ttl, is listed on the devices page, and is
// revoked there: its /events socket is closed at once with 1008 "device
// revoked" and it is signed out for good.
func TestDevices(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	st := NewMemorySessions()
	e := newStoreEnv(t, testConfig(t), st, WithEventTimings(0, time.Hour),
		WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
	ctx := testCtx(t)
	admin := e.client(t)
	tok := e.login(t, admin, "anna")
	for _, bad := range []string{``, `   `, strings.Repeat("x", maxDeviceName+1), "two\nlines"} {
		body, _ := json.Marshal(map[string]string{"name": bad})
		if resp, _ := post(t, admin, e.ts.URL+"/api/wall-links", string(body), csrfHeader, tok); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("name %q: %d, want 400", bad, resp.StatusCode)
		}
	}
	tv := makeDevice(t, e, admin, tok, "Hall TV")
	kitchen := makeDevice(t, e, admin, tok, "Kitchen")

	// A device is a viewer, and lives longer than a session.
	skew.Store(int64(2 * DefaultSessionTTL))
	if resp := getWithCookie(t, e.ts.URL, "/api/calls", tv); resp.StatusCode != http.StatusOK {
		t.Fatalf("device after twice session_ttl: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/api/originate", strings.NewReader(`{}`))
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tv})
	req.Header.Set(csrfHeader, csrfOf(tv))
	if resp, _ := do(t, &http.Client{}, req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("device originates: %d, want 403", resp.StatusCode)
	}

	h := http.Header{"Cookie": {sessionCookie + "=" + tv}, "Origin": {e.ts.URL}}
	conn := dialEvents(t, ctx, e.ts.URL, "", h)
	mustRead(t, ctx, conn)
	keep := dialEvents(t, ctx, e.ts.URL, "", http.Header{"Cookie": {sessionCookie + "=" + kitchen}, "Origin": {e.ts.URL}})
	mustRead(t, ctx, keep)

	// The admin's own session has ended meanwhile.
	tok = e.login(t, admin, "anna")
	_, page := get(t, admin, e.ts.URL+"/settings/devices")
	doc := parseHTML(t, page)
	var id string
	doc.Find(`[data-testid="device"]`).Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-name", "") == "Hall TV" {
			id = s.AttrOr("data-id", "")
			if got := strings.TrimSpace(s.Find(`[data-testid="device-sockets"]`).Text()); got != "yes" {
				t.Errorf("Hall TV showing now: %q, want yes", got)
			}
		}
	})
	if doc.Find(`[data-testid="device"]`).Length() != 2 || id == "" {
		t.Fatalf("devices page lists %d devices (Hall TV %q):\n%s", doc.Find(`[data-testid="device"]`).Length(), id, page)
	}
	resp, _ := postForm(t, admin, e.ts.URL+"/settings/devices/"+id+"/revoke", url.Values{"csrf": {tok}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	wantClosed(t, ctx, conn, websocket.StatusPolicyViolation, closeDeviceRevoked)
	wantOpen(t, ctx, keep, "the other screen's /events")
	if resp := getWithCookie(t, e.ts.URL, "/api/calls", tv); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked device: %d, want 401", resp.StatusCode)
	}
	_, page = get(t, admin, e.ts.URL+"/settings/devices?revoked=Hall+TV")
	doc = parseHTML(t, page)
	if n := doc.Find(`[data-testid="device"]`).Length(); n != 1 || !strings.Contains(doc.Find(`[data-testid="device-revoked"]`).Text(), "Hall TV was signed out") {
		t.Errorf("after revoking: %d devices listed, notice %q", n, doc.Find(`[data-testid="device-revoked"]`).Text())
	}
	if resp, _ := postForm(t, admin, e.ts.URL+"/settings/devices/"+id+"/revoke", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke again: %d, want 404", resp.StatusCode)
	}
	// A password change of the admin who made them leaves the screens on.
	users := testConfig(t).Users
	users[0].PasswordHash = hashPassword(t, "another")
	if err := e.srv.SetCredentials(users, nil); err != nil {
		t.Fatal(err)
	}
	if resp := getWithCookie(t, e.ts.URL, "/api/calls", kitchen); resp.StatusCode != http.StatusOK {
		t.Errorf("device after its maker's password changed: %d, want 200", resp.StatusCode)
	}
}

// TestDevicesPageForm: the devices page makes a link from its form and
// shows it once; a viewer gets the 403 page in words.
func TestDevicesPageForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	admin := e.client(t)
	tok := e.login(t, admin, "anna")
	resp, page := postForm(t, admin, e.ts.URL+"/settings/devices", url.Values{"csrf": {tok}, "name": {"  Hall TV "}})
	doc := parseHTML(t, page)
	link := doc.Find(`[data-testid="wall-link-url"]`).AttrOr("value", "")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(link, "/wall/") || !strings.Contains(doc.Find(`[data-testid="wall-link-made"]`).Text(), "Hall TV") {
		t.Fatalf("make link: %d %q", resp.StatusCode, link)
	}
	resp, page = postForm(t, admin, e.ts.URL+"/settings/devices", url.Values{"csrf": {tok}, "name": {""}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(parseHTML(t, page).Find(`[data-testid="devices-error"]`).Text(), "Name the screen") {
		t.Errorf("empty name: %d\n%s", resp.StatusCode, page)
	}
	vera := e.client(t)
	e.login(t, vera, "vera")
	resp, page = get(t, vera, e.ts.URL+"/settings/devices")
	doc = parseHTML(t, page)
	if resp.StatusCode != http.StatusForbidden || doc.Find(`[data-testid="nav"]`).Length() != 1 ||
		!strings.Contains(doc.Find(`[data-testid="error-message"]`).Text(), "signed in as vera (viewer)") {
		t.Errorf("viewer on the devices page: %d %q", resp.StatusCode, doc.Find(`[data-testid="error-message"]`).Text())
	}
}

// failingSessions is a store that cannot be read or written.
type failingSessions struct{ *MemorySessions }

var errDiskGone = errors.New("disk I/O error")

func (*failingSessions) LookupSession(context.Context, SessionHash) (StoredSession, error) {
	return StoredSession{}, errDiskGone
}

func (*failingSessions) CreateSession(context.Context, StoredSession) error { return errDiskGone }

// TestSessionStoreDown: a store that fails is no sign-out: pages and the
// API answer 503 (a wall screen keeps trying), a sign-in says it cannot
// be stored.
func TestSessionStoreDown(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t, testConfig(t), &failingSessions{NewMemorySessions()})
	resp := getWithCookie(t, e.ts.URL, "/api/today", "some-secret")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("lookup failing: %d, want 503", resp.StatusCode)
	}
	resp, body := e.loginAttempt(t, e.client(t), "anna", testPassword)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "cannot store sign-ins") {
		t.Errorf("sign-in with the store failing: %d", resp.StatusCode)
	}
}

// TestInvalidToken: a bearer token that is not configured says so, as
// RFC 6750 asks.
func TestInvalidToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	for _, auth := range []string{"Bearer not-the-token-at-all", "Basic YW5uYTp4"} {
		resp, body := get(t, e.client(t), e.ts.URL+"/api/calls", "Authorization", auth)
		var got map[string]string
		_ = json.Unmarshal([]byte(body), &got)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(got["error"], "invalid token") ||
			resp.Header.Get("WWW-Authenticate") != `Bearer realm="switchboard", error="invalid_token"` {
			t.Errorf("%s: %d %s %q", auth, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestDeviceTTLValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ttl time.Duration
		ok  bool
	}{{0, true}, {time.Hour, true}, {maxDeviceTTL, true}, {time.Minute, false}, {maxDeviceTTL + time.Hour, false}} {
		cfg := Config{DeviceTTL: tt.ttl}
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("device_ttl %s: %v, want ok=%v", tt.ttl, err, tt.ok)
		}
	}
}
