package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
)

// fakePhone records who opened a session.
type fakePhone struct{ users chan gateway.PhoneUser }

func (f *fakePhone) ServeSession(_ context.Context, u gateway.PhoneUser, conn *websocket.Conn) error {
	f.users <- u
	return conn.Close(websocket.StatusNormalClosure, "")
}

func newPhoneEnv(t *testing.T) (*env, *fakePhone) {
	t.Helper()
	e := &env{hub: monitor.NewHub(monitor.HubConfig{}), hist: &fakeHistory{}, ctl: &fakeController{}}
	ph := &fakePhone{users: make(chan gateway.PhoneUser, 4)}
	srv, err := New(testConfig(t), Deps{Hub: e.hub, History: e.hist, Phone: ph}, WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.hub.Close()
		e.ts.Close()
	})
	return e, ph
}

func TestSoftphonePage(t *testing.T) {
	e, _ := newPhoneEnv(t)
	c := e.client(t)
	e.login(t, c, "bob")
	resp, body := get(t, c, e.ts.URL+"/softphone")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	doc := parseHTML(t, body)
	for _, id := range []string{"phone", "accounts", "dial-input", "keypad", "call", "hangup", "mute", "incoming", "answer", "decline", "call-timer", "mic-select", "speaker-select", "recent", "remote-audio",
		"calls", "hold", "transfer", "transfer-panel", "transfer-input", "transfer-blind", "transfer-consult", "consult-panel",
		"transfer-complete", "transfer-abort", "waiting", "waiting-answer", "waiting-decline", "keypad-mode", "shortcuts"} {
		if doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("no element data-testid=%q", id)
		}
	}
	if got := doc.Find(`[data-testid="account"]`).AttrOr("data-account", ""); got != "1001" {
		t.Errorf("account shown = %q, want bob's 1001", got)
	}
	for _, icon := range []string{"none", "active", "local-hold", "remote-hold", "inactive", "error"} {
		if doc.Find("symbol#icon-"+icon).Length() != 1 {
			t.Errorf("no icon for media state %s", icon)
		}
	}
	if n := doc.Find(`.keypad .key`).Length(); n != 12 {
		t.Errorf("keypad has %d keys", n)
	}
	if !strings.Contains(doc.Find("#phone-boot").Text(), `"accounts":["1001"]`) {
		t.Errorf("boot data = %s", doc.Find("#phone-boot").Text())
	}

	v := e.client(t)
	e.login(t, v, "vera")
	if resp, _ := get(t, v, e.ts.URL+"/softphone"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer got status %d, want 403", resp.StatusCode)
	}
}

func TestPhoneWebSocket(t *testing.T) {
	e, ph := newPhoneEnv(t)
	c := e.client(t)
	e.login(t, c, "bob")
	wsURL := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/phone"
	ctx := t.Context()

	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if u := <-ph.users; u.Name != "bob" || len(u.Accounts) != 1 || u.Accounts[0] != "1001" {
		t.Errorf("session user = %+v", u)
	}

	if _, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {"http://evil.example"}}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: err %v, want 403", err)
	}
	if _, resp, err := websocket.Dial(ctx, wsURL, nil); err == nil || resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		t.Errorf("signed out: err %v, want refused", err)
	}
}
