package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// panelState puts a call, extensions and a queue into e's hub: pbx's 202
// and 203, home's port 10, and pbx's queue support with member PJSIP/202.
func panelState(t *testing.T, e *env) {
	t.Helper()
	e.hub.Call(testCall("pbx", "1", monitor.Connected))
	now := time.Now()
	for _, x := range []monitor.Extension{
		{ID: "pbx:202@ext-local", Source: "pbx", Number: "202", Name: "Ben", State: monitor.DeviceIdle, Lamp: monitor.LampFree, Since: now},
		{ID: "pbx:203@ext-local", Source: "pbx", Number: "203", State: monitor.DeviceInUse, Lamp: monitor.LampBusy, Since: now},
		{ID: "home:port:10", Source: "home", Number: "**610", State: monitor.DeviceIdle, Lamp: monitor.LampFree, Since: now},
	} {
		if err := e.hub.Publish(&x); err != nil {
			t.Fatal(err)
		}
	}
	q := monitor.Queue{ID: "pbx:support", Source: "pbx", Name: "support", Updated: now,
		Members: []monitor.QueueMember{{Interface: "PJSIP/202", Name: "Ben", State: monitor.DeviceIdle}}}
	if err := e.hub.Publish(&q); err != nil {
		t.Fatal(err)
	}
}

// TestPanelRoles: the panel and its actions are for operators and
// admins; users, viewers and tokens get 403 and nothing reaches the PBX.
func TestPanelRoles(t *testing.T) {
	t.Parallel()
	routes := []struct{ method, path, body string }{
		{"GET", "/panel", ""},
		{"POST", "/api/calls/pbx:1/transfer", `{"extension":"pbx:202@ext-local"}`},
		{"POST", "/api/extensions/pbx:202@ext-local/dial", `{}`},
		{"POST", "/api/queues/pbx:support/pause", `{"member":"PJSIP/202","paused":true,"reason":"lunch"}`},
		{"POST", "/api/queues/pbx:support/login", `{"member":"PJSIP/205"}`},
		{"POST", "/api/queues/pbx:support/logout", `{"member":"PJSIP/202"}`},
	}
	for _, who := range []struct {
		name   string
		status int
	}{{"anna", 200}, {"olga", 200}, {"bob", 403}, {"vera", 403}, {"token", 403}} {
		t.Run(who.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.Users[0].Extension = "200"
			e := newEnv(t, cfg, monitor.HubConfig{})
			panelState(t, e)
			c := e.client(t)
			var hdr []string
			if who.name == "token" {
				hdr = []string{"Authorization", "Bearer " + testViewerToken}
			} else {
				hdr = []string{csrfHeader, e.login(t, c, who.name)}
			}
			for _, rt := range routes {
				var resp *http.Response
				var body string
				if rt.method == "GET" {
					resp, body = get(t, c, e.ts.URL+rt.path, hdr...)
				} else {
					resp, body = post(t, c, e.ts.URL+rt.path, rt.body, hdr...)
				}
				if resp.StatusCode != who.status {
					t.Errorf("%s %s: %d, want %d: %.200s", rt.method, rt.path, resp.StatusCode, who.status, body)
				}
			}
			if n := len(e.ctl.actions()); who.status == 403 && n > 0 {
				t.Errorf("a %s reached the PBX: %v", who.name, e.ctl.actions())
			}
			// The menu offers the panel to whoever may open it.
			if who.name != "token" {
				_, page := get(t, c, e.ts.URL+"/")
				has := parseHTML(t, page).Find(`nav a[href="/panel"]`).Length() == 1
				if has != (who.status == 200) {
					t.Errorf("menu has /panel: %t", has)
				}
			}
		})
	}
}

// TestPanelActions: each action reaches the source's controller as the
// PBX needs it, bad input is refused before, and errors are JSON.
func TestPanelActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		user    string
		path    string
		body    string
		ctlErr  error
		status  int
		wantDid string
		errHas  string
	}{
		{"transfer to a lamp", "olga", "/api/calls/pbx:1/transfer", `{"extension":"pbx:202@ext-local"}`, nil, 200, "transfer pbx:1 202", ""},
		{"transfer to a number", "olga", "/api/calls/pbx:1/transfer", `{"to":"299"}`, nil, 200, "transfer pbx:1 299", ""},
		{"transfer to another system's lamp", "olga", "/api/calls/pbx:1/transfer", `{"extension":"home:port:10"}`, nil, 409, "", "only be put through to an extension of pbx"},
		{"transfer to an unknown lamp", "olga", "/api/calls/pbx:1/transfer", `{"extension":"pbx:999@x"}`, nil, 404, "", "not known"},
		{"transfer refused", "olga", "/api/calls/pbx:1/transfer", `{"extension":"pbx:203@ext-local"}`, fmt.Errorf("%w: No such extension", monitor.ErrRefused), 409, "transfer pbx:1 203", "No such extension"},
		{"dial from own phone", "olga", "/api/extensions/pbx:202@ext-local/dial", `{}`, nil, 200, "originate 201 202", ""},
		{"dial without own phone", "anna", "/api/extensions/pbx:202@ext-local/dial", `{}`, nil, 409, "", "no phone of your own"},
		{"dial through a source without originate", "olga", "/api/extensions/home:port:10/dial", `{}`, nil, 501, "", ""},
		{"pause with reason", "olga", "/api/queues/pbx:support/pause", `{"member":"PJSIP/202","paused":true,"reason":"lunch"}`, nil, 200, "pause support PJSIP/202 true lunch", ""},
		{"unpause drops the reason", "olga", "/api/queues/pbx:support/pause", `{"member":"PJSIP/202","paused":false,"reason":"x"}`, nil, 200, "pause support PJSIP/202 false ", ""},
		{"pause a stranger", "olga", "/api/queues/pbx:support/pause", `{"member":"PJSIP/209","paused":true}`, nil, 404, "", "not a member"},
		{"reason with a newline", "olga", "/api/queues/pbx:support/pause", `{"member":"PJSIP/202","paused":true,"reason":"a\nAction: Logoff"}`, nil, 400, "", "one line"},
		{"reason too long", "olga", "/api/queues/pbx:support/pause", `{"member":"PJSIP/202","paused":true,"reason":"` + strings.Repeat("x", 65) + `"}`, nil, 400, "", "at most 64"},
		{"member with a newline", "olga", "/api/queues/pbx:support/login", `{"member":"PJSIP/2\nAction: Logoff"}`, nil, 400, "", ""},
		{"log in", "olga", "/api/queues/pbx:support/login", `{"member":"PJSIP/205","name":"Cem"}`, nil, 200, "add support PJSIP/205 Cem", ""},
		{"log out", "olga", "/api/queues/pbx:support/logout", `{"member":"PJSIP/202"}`, nil, 200, "remove support PJSIP/202", ""},
		{"log out refused", "olga", "/api/queues/pbx:support/logout", `{"member":"PJSIP/202"}`, fmt.Errorf("%w: Unable to remove interface: Not dynamic", monitor.ErrRefused), 409, "remove support PJSIP/202", "Not dynamic"},
		{"unknown queue", "olga", "/api/queues/pbx:nope/pause", `{"member":"PJSIP/202","paused":true}`, nil, 404, "", ""},
		{"not connected", "olga", "/api/queues/pbx:support/login", `{"member":"PJSIP/205"}`, monitor.ErrNotConnected, 503, "add support PJSIP/205 ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig(t), monitor.HubConfig{})
			panelState(t, e)
			e.ctl.err = tt.ctlErr
			c := e.client(t)
			tok := e.login(t, c, tt.user)
			resp, body := post(t, c, e.ts.URL+tt.path, tt.body, csrfHeader, tok)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			var out map[string]string
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if tt.status != 200 && (out["error"] == "" || out["message"] == "") {
				t.Errorf("error body %q lacks error or message", body)
			}
			if tt.errHas != "" && !strings.Contains(out["error"], tt.errHas) {
				t.Errorf("error %q lacks %q", out["error"], tt.errHas)
			}
			did := e.ctl.actions()
			if tt.wantDid == "" && len(did) > 0 || tt.wantDid != "" && !slices.Equal(did, []string{tt.wantDid}) {
				t.Errorf("controller did %q, want %q", did, tt.wantDid)
			}
		})
	}
}

// TestPanelNeedsCSRF: a signed-in operator's action without the token,
// or from another site, changes nothing.
func TestPanelNeedsCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	panelState(t, e)
	c := e.client(t)
	tok := e.login(t, c, "olga")
	body := `{"member":"PJSIP/202","paused":true}`
	if resp, b := post(t, c, e.ts.URL+"/api/queues/pbx:support/pause", body); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the token: %d %s", resp.StatusCode, b)
	}
	if resp, b := post(t, c, e.ts.URL+"/api/queues/pbx:support/pause", body, csrfHeader, tok, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("from another site: %d %s", resp.StatusCode, b)
	}
	if did := e.ctl.actions(); len(did) > 0 {
		t.Errorf("controller did %q", did)
	}
}

// TestPanelPage: the page carries what its script needs: whether the
// viewer may act, their own phone, the groups and the thresholds.
func TestPanelPage(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Panel = PanelConfig{Groups: []PanelGroup{{Name: "Reception", Extensions: []string{"20*"}}}, SLWarn: 90, SLBad: 70}
	e := newEnv(t, cfg, monitor.HubConfig{})
	c := e.client(t)
	e.login(t, c, "olga")
	_, page := get(t, c, e.ts.URL+"/panel")
	doc := parseHTML(t, page)
	if doc.Find(`[data-testid="panel"]`).Length() != 1 || doc.Find(`#panel-filter`).Length() != 1 {
		t.Fatal("no panel or filter")
	}
	var boot PanelBoot
	if err := json.Unmarshal([]byte(doc.Find(`#panel-data`).Text()), &boot); err != nil {
		t.Fatal(err)
	}
	if !boot.Act || boot.Own != "201" || len(boot.Groups) != 1 || boot.Groups[0].Name != "Reception" ||
		boot.Thresholds.SLWarn != 90 || boot.Thresholds.SLBad != 70 || boot.Thresholds.AbandonedWarn != DefaultAbandonedWarn || boot.Thresholds.WaitBad != 60 {
		t.Errorf("boot %+v", boot)
	}
}
