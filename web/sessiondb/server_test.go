package sessiondb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/web"
)

// server runs a web server whose sign-ins are in the history database at
// path, as serve wires it; stop closes server and database (a restart).
func server(t *testing.T, path string, cfg web.Config) (base string, stop func()) {
	t.Helper()
	h, st := openAt(t, path)
	hub := monitor.NewHub(monitor.HubConfig{})
	srv, err := web.New(cfg, web.Deps{Hub: hub, History: h, Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ts.Close()
		hub.Close()
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return ts.URL, stop
}

func noRedirect() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs anna in by the form and returns her cookie's secret.
func signIn(t *testing.T, base string) string {
	t.Helper()
	c := noRedirect()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var formTok, formName string
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "switchboard_login_") {
			formTok, formName = ck.Value, ck.Name
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(url.Values{"csrf": {formTok}, "name": {"anna"}, "password": {"pw-anna-123456"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: formName, Value: formTok})
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "switchboard_session" {
			return ck.Value
		}
	}
	t.Fatalf("sign-in: %d, no session cookie", resp.StatusCode)
	return ""
}

func status(t *testing.T, base, path, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: secret})
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServerSignInsInTheDatabase: a user's sign-in and a wall screen's
// device survive a restart of the server on the same database; the
// database holds the SHA-256 of each secret and never the secret (not in
// the database file, not in its write-ahead log); a device revoked stays
// revoked after the next restart.
func TestServerSignInsInTheDatabase(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-anna-123456"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Users: []web.User{{Name: "anna", PasswordHash: string(hash), Role: web.RoleAdmin}}}
	dir := t.TempDir()
	path := filepath.Join(dir, "history.db")
	base, stop := server(t, path, cfg)
	anna := signIn(t, base)

	// A wall screen: a link made by anna, used once.
	req, _ := http.NewRequest(http.MethodPost, base+"/api/wall-links", strings.NewReader(`{"name":"Hall TV"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: anna})
	req.Header.Set("X-CSRF-Token", csrf(t, base, anna))
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var link struct{ URL string }
	_ = json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	resp, err = noRedirect().Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var tv string
	for _, ck := range resp.Cookies() {
		if ck.Name == "switchboard_session" {
			tv = ck.Value
		}
	}
	if tv == "" {
		t.Fatalf("wall link %s: %d, no cookie", link.URL, resp.StatusCode)
	}
	stop()

	var files []byte
	for _, name := range []string{"history.db", "history.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			files = append(files, b...)
		}
	}
	for who, secret := range map[string]string{"anna": anna, "the wall screen": tv} {
		if bytes.Contains(files, []byte(secret)) {
			t.Errorf("%s's secret is in the database files", who)
		}
		h := sha256.Sum256([]byte(secret))
		if !bytes.Contains(files, []byte(hex.EncodeToString(h[:]))) {
			t.Errorf("%s's hash is not in the database files", who)
		}
	}

	base, stop = server(t, path, cfg)
	for who, secret := range map[string]string{"anna": anna, "the wall screen": tv} {
		if got := status(t, base, "/api/today", secret); got != http.StatusOK {
			t.Errorf("%s after the restart: %d, want 200", who, got)
		}
	}
	// Revoke the screen on the devices page, then restart once more.
	_, st := openAt(t, path)
	devs, err := st.ListSessions(context.Background(), web.SessionDevice)
	if err != nil || len(devs) != 1 || devs[0].Name != "Hall TV" || devs[0].CreatedBy != "anna" {
		t.Fatalf("devices %+v %v", devs, err)
	}
	form := url.Values{"csrf": {csrf(t, base, anna)}}
	req, _ = http.NewRequest(http.MethodPost, base+"/settings/devices/"+devs[0].ID+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: anna})
	resp, err = noRedirect().Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()
	base, _ = server(t, path, cfg)
	if got := status(t, base, "/api/today", tv); got != http.StatusUnauthorized {
		t.Errorf("revoked screen after a restart: %d, want 401", got)
	}
	if got := status(t, base, "/api/today", anna); got != http.StatusOK {
		t.Errorf("anna after the second restart: %d, want 200", got)
	}
}

// csrf reads the CSRF token of the session secret from a page.
func csrf(t *testing.T, base, secret string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/settings/devices", nil)
	req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: secret})
	resp, err := noRedirect().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	page := b.String()
	i := strings.Index(page, `name="csrf-token" content="`)
	if i < 0 {
		t.Fatalf("no csrf token on the devices page: %d", resp.StatusCode)
	}
	page = page[i+len(`name="csrf-token" content="`):]
	return page[:strings.Index(page, `"`)]
}
