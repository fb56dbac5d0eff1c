package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

func TestCallControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    string
		body    string
		ctlErr  error
		status  int
		wantDid string
	}{
		{"hangup", "/api/calls/pbx:1/hangup", "", nil, 200, "hangup pbx:1"},
		{"transfer", "/api/calls/pbx:1/transfer", `{"to":"+49301234"}`, nil, 200, "transfer pbx:1 +49301234"},
		{"originate", "/api/originate", `{"source":"pbx","from":"1001","to":"030555"}`, nil, 200, "originate 1001 030555"},
		{"unknown call", "/api/calls/pbx:404/hangup", "", nil, 404, ""},
		{"call ended meanwhile", "/api/calls/pbx:1/hangup", "", fmt.Errorf("ami hangup: %w", monitor.ErrNoSuchCall), 404, "hangup pbx:1"},
		{"unsupported", "/api/calls/pbx:1/hangup", "", monitor.ErrUnsupported, 501, "hangup pbx:1"},
		{"not connected", "/api/originate", `{"source":"pbx","from":"1001","to":"2"}`, monitor.ErrNotConnected, 503, "originate 1001 2"},
		{"source without control", "/api/calls/home:1/hangup", "", nil, 501, ""},
		{"unknown source", "/api/originate", `{"source":"nope","from":"1","to":"2"}`, nil, 404, ""},
		{"number with newline", "/api/calls/pbx:1/transfer", `{"to":"1\nAction: Logoff"}`, nil, 400, ""},
		{"empty number", "/api/originate", `{"source":"pbx","from":"","to":"2"}`, nil, 400, ""},
		{"unknown field", "/api/originate", `{"source":"pbx","from":"1","to":"2","x":1}`, nil, 400, ""},
		{"source error", "/api/calls/pbx:1/hangup", "", errors.New("boom"), 500, "hangup pbx:1"},
		{"refused by the PBX", "/api/calls/pbx:1/transfer", `{"to":"299"}`, fmt.Errorf("ami redirect: %w: Redirect failed, extension not found", monitor.ErrRefused), 409, "transfer pbx:1 299"},
		{"PBX says the channel is gone", "/api/calls/pbx:1/hangup", "", fmt.Errorf("%w: esl uuid_kill: %w: No such channel", monitor.ErrNoSuchCall, monitor.ErrRefused), 404, "hangup pbx:1"},
		{"link lost mid-action", "/api/originate", `{"source":"pbx","from":"1001","to":"2"}`, fmt.Errorf("esl bgapi originate: %w: closed", monitor.ErrActionLost), 502, "originate 1001 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testConfig(t), monitor.HubConfig{})
			e.ctl.err = tt.ctlErr
			e.hub.Call(testCall("pbx", "1", monitor.Connected))
			e.hub.Call(testCall("home", "1", monitor.Ringing))
			c := e.client(t)
			tok := e.login(t, c, "anna")
			resp, body := post(t, c, e.ts.URL+tt.path, tt.body, csrfHeader, tok)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			var out map[string]string
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if tt.status != 200 && out["error"] == "" {
				t.Errorf("error body %q has no error", body)
			}
			if tt.status == http.StatusConflict && !strings.Contains(out["error"], "extension not found") {
				t.Errorf("error body %q lacks the PBX's words", body)
			}
			did := e.ctl.actions()
			if tt.wantDid == "" && len(did) > 0 || tt.wantDid != "" && !slices.Equal(did, []string{tt.wantDid}) {
				t.Errorf("controller did %q, want %q", did, tt.wantDid)
			}
		})
	}
}

func TestAPICallsAndHistory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.hub.Call(testCall("home", "1", monitor.Ringing))
	for i := range 7 {
		c := testCall("home", fmt.Sprint("h", i), monitor.Ended)
		c.From.Number = fmt.Sprint("0301111", i)
		if i%2 == 0 {
			c.Answered = time.Time{}
			c.Reason = monitor.ReasonNoAnswer
		}
		e.hist.add(c)
	}
	c := e.client(t)
	bearer := []string{"Authorization", "Bearer " + testViewerToken}

	resp, body := get(t, c, e.ts.URL+"/api/calls", bearer...)
	var snap wireMsg
	if err := json.Unmarshal([]byte(body), &snap); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/api/calls: %d %v", resp.StatusCode, err)
	}
	if len(snap.Calls) != 1 || snap.Calls[0].ID != "home:1" || snap.Epoch == "" {
		t.Errorf("/api/calls: %+v", snap)
	}

	tests := []struct {
		query       string
		status      int
		total, rows int
	}{
		{"", 200, 7, 7},
		{"?outcome=missed", 200, 4, 4},
		{"?outcome=answered&limit=2", 200, 3, 2},
		{"?number=03011113", 200, 1, 1},
		{"?limit=3&offset=6", 200, 7, 1},
		{"?source=other", 200, 0, 0},
		{"?outcome=maybe", 400, 0, 0},
		{"?limit=0", 400, 0, 0},
		{"?limit=100000", 400, 0, 0},
		{"?offset=-1", 400, 0, 0},
	}
	for _, tt := range tests {
		resp, body := get(t, c, e.ts.URL+"/api/history"+tt.query, bearer...)
		if resp.StatusCode != tt.status {
			t.Errorf("history%s: %d, want %d: %s", tt.query, resp.StatusCode, tt.status, body)
			continue
		}
		if tt.status != 200 {
			continue
		}
		var page historyResponse
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if page.Total != tt.total || len(page.Calls) != tt.rows {
			t.Errorf("history%s: total %d rows %d, want %d %d", tt.query, page.Total, len(page.Calls), tt.total, tt.rows)
		}
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	check := func(want string) {
		t.Helper()
		resp, body := get(t, c, e.ts.URL+"/healthz")
		var h healthResponse
		if err := json.Unmarshal([]byte(body), &h); err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %d %v", resp.StatusCode, err)
		}
		if h.Status != want || len(h.Sources) != 2 {
			t.Fatalf("healthz %+v, want %s with 2 sources", h, want)
		}
	}
	check("ok")
	e.hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkDown, Error: "connection refused", Address: "192.0.2.1:1012"})
	check("degraded")
	if _, body := get(t, c, e.ts.URL+"/healthz"); strings.Contains(body, "192.0.2.1:1012") {
		t.Error("healthz shows a source address without sign-in")
	}
}

// TestHealthzHistoryDegraded: a history that cannot save makes /healthz
// degraded, with the problem in plain words and never the database's own
// error (which names files).
func TestHealthzHistoryDegraded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	for _, st := range []monitor.SourceStatus{{Name: "home", State: monitor.LinkConnected}, {Name: "pbx", State: monitor.LinkConnected}} {
		e.hub.SourceStatus(st)
	}
	read := func() healthResponse {
		t.Helper()
		_, body := get(t, c, e.ts.URL+"/healthz")
		if strings.Contains(body, "/var/lib") {
			t.Errorf("healthz shows a path: %s", body)
		}
		var h healthResponse
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := read(); h.Status != "ok" || h.History == nil || !h.History.OK {
		t.Fatalf("healthz %+v, want ok with the history ok", h)
	}
	e.hist.mu.Lock()
	e.hist.health = history.Health{Problem: "the call history cannot be written; 3 call changes are kept in the retry spool and saved once it can",
		Database: history.Postgres, Reachable: false, Spooled: 3, Error: "disk I/O error: /var/lib/switchboard/history.db"}
	e.hist.mu.Unlock()
	h := read()
	if h.Status != "degraded" || h.History.OK || h.History.Spooled != 3 || !strings.Contains(h.History.Problem, "cannot be written") ||
		h.History.Database != "postgres" || h.History.Reachable {
		t.Fatalf("healthz %+v (history %+v), want degraded", h, h.History)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	k := e.hub.Counters("home")
	k.Events.Add(42)
	k.ParseErrors.Add(3)
	k.Unknown.Add(2)
	k.Reconnects.Add(1)
	e.hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkDown})
	e.hub.Call(testCall("pbx", "1", monitor.Ringing))
	_, body := get(t, e.client(t), e.ts.URL+"/metrics", "Authorization", "Bearer "+testViewerToken)
	for _, want := range []string{
		`switchboard_source_events_total{source="home"} 42`,
		`switchboard_source_parse_errors_total{source="home"} 3`,
		`switchboard_source_unknown_events_total{source="home"} 2`,
		`switchboard_source_reconnects_total{source="home"} 1`,
		`switchboard_source_up{source="home",type="fritz"} 0`,
		`switchboard_source_up{source="pbx",type="ami"} 1`,
		`switchboard_active_calls{source="pbx"} 1`,
		`switchboard_hub_subscribers 0`,
		`switchboard_hub_events_published_total 4`,
		`switchboard_hub_dropped_subscribers_total{reason="slow"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.srv.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), RoleViewer)
	resp, _ := get(t, e.client(t), e.ts.URL+"/boom", "Authorization", "Bearer "+testViewerToken)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
}

func TestHandleMountsWithRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.srv.Handle("GET /phone-test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		if u.PasswordHash != "" {
			t.Error("UserFrom exposes the password hash")
		}
		_, _ = w.Write([]byte(u.Name + " " + string(u.Role) + " " + strings.Join(u.Accounts, ",")))
	}), RoleUser)
	bob := e.client(t)
	e.login(t, bob, "bob")
	if resp, body := get(t, bob, e.ts.URL+"/phone-test"); resp.StatusCode != 200 || body != "bob user 1001" {
		t.Errorf("user: %d %q", resp.StatusCode, body)
	}
	vera := e.client(t)
	e.login(t, vera, "vera")
	if resp, _ := get(t, vera, e.ts.URL+"/phone-test"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer: %d, want 403", resp.StatusCode)
	}
}
