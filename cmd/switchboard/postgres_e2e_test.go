package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/monitor/history/pgtest"
)

// pgNodeConfig is a node of TestServeTwoNodesSharePostgres: its own
// Fritz!Box source and data directory, the history in the PostgreSQL
// database of $SB_TEST_PG_DSN.
func pgNodeConfig(t *testing.T, source, router, hash string) string {
	t.Helper()
	return fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
history:
  driver: postgres
  dsn: "${SB_TEST_PG_DSN}"
sources:
  - name: %s
    type: fritz
    address: %s
    location: UTC
    reconnect_min: 20ms
    reconnect_max: 200ms
    link_grace: 100ms
users:
  - name: anna
    password_hash: %q
    role: admin
tokens:
  - name: test
    token: %s
    role: viewer
`, t.TempDir(), source, router, hash, testToken)
}

// withSession sends a request to base+path with the session cookie
// secret and returns its status and body.
func withSession(t *testing.T, ctx context.Context, method, target, secret string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: "switchboard_session", Value: secret})
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sessionSecret is the session cookie's value in c's jar for base.
func sessionSecret(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "switchboard_session" {
			return ck.Value
		}
	}
	t.Fatal("no session cookie after signing in")
	return ""
}

// tryLogin tries to sign user in at base and returns the status: 303
// signed in, 401 a wrong password, 429 throttled.
func tryLogin(t *testing.T, ctx context.Context, base, user, password string) int {
	t.Helper()
	_, status := postLogin(t, ctx, base, user, password)
	return status
}

// historyHealth is the history part of a node's /healthz.
func historyHealth(t *testing.T, ctx context.Context, base string) (database string, reachable, ok bool) {
	t.Helper()
	status, body := getWithToken(t, ctx, base+"healthz")
	if status != http.StatusOK {
		t.Fatalf("healthz: %d %s", status, body)
	}
	var h struct {
		History struct {
			OK        bool   `json:"ok"`
			Database  string `json:"database"`
			Reachable bool   `json:"reachable"`
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	return h.History.Database, h.History.Reachable, h.History.OK
}

// degradedHistory checks that a node's /healthz, for anyone, says
// degraded while its history's database is gone, why in plain words, and
// names no address of the database.
func degradedHistory(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status  string `json:"status"`
		History struct {
			Problem string `json:"problem"`
		} `json:"history"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	p := h.History.Problem
	if h.Status != "degraded" || !strings.Contains(p, "call history") || strings.Contains(p, "127.0.0.1") || strings.Contains(p, "/") {
		t.Fatalf("healthz with PostgreSQL gone: status %q, history problem %q", h.Status, p)
	}
}

// fritzCalls has router ring and hang up n missed calls from numbers
// base+0 … base+n-1, one after the other on connection id 0.
func fritzCalls(router *fritztest.Server, base, n int) {
	for i := range n {
		now := time.Now().UTC().Format("02.01.06 15:04:05")
		router.Send(fmt.Sprintf("%s;RING;0;0%d;5551234;SIP0;", now, base+i))
		router.Send(now + ";DISCONNECT;0;0;")
	}
}

// callsFrom counts the calls of calls from source.
func callsFrom(calls map[monitor.CallID]monitor.Call, source monitor.SourceName) int {
	n := 0
	for _, c := range calls {
		if c.Source == source {
			n++
		}
	}
	return n
}

// TestServeTwoNodesSharePostgres runs two real `switchboard serve`
// processes on one PostgreSQL database (a throw-away cluster of the
// test's own): a sign-in made on node 1 is good on node 2, and signing
// out on node 2 ends it on node 1; the calls each node's Fritz!Box
// reports are in the history both show; and the PostgreSQL server
// stopped and started again while calls end loses none of them and
// doubles none (historyCalls fails on a call saved twice); failed
// sign-ins on node 1 count on node 2.
func TestServeTwoNodesSharePostgres(t *testing.T) {
	pgtest.RequireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dsn, err := cl.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SB_TEST_PG_DSN", dsn)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-anna"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := fritztest.New(t), fritztest.New(t)
	n1 := startSwitchboard(t, pgNodeConfig(t, "office1", r1.Addr(), string(hash)))
	n2 := startSwitchboard(t, pgNodeConfig(t, "office2", r2.Addr(), string(hash)))
	for _, r := range []*fritztest.Server{r1, r2} {
		if err := r.WaitConn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*process{n1, n2} {
		if db, reachable, ok := historyHealth(t, ctx, n.url); db != "postgres" || !reachable || !ok {
			t.Fatalf("%s healthz history: database %q reachable %v ok %v", n.url, db, reachable, ok)
		}
	}

	// Signed in on node 1, the cookie works on node 2.
	secret := sessionSecret(t, signIn(t, ctx, n1.url, "anna", "pw-anna"), n1.url)
	for _, n := range []*process{n1, n2} {
		if status, _ := withSession(t, ctx, http.MethodGet, n.url+"api/today", secret, nil); status != http.StatusOK {
			t.Fatalf("%s with node 1's cookie: %d, want 200", n.url, status)
		}
	}
	// Signed out on node 2 (with the CSRF token of its page), the
	// cookie is dead on node 1 too.
	status, page := withSession(t, ctx, http.MethodGet, n2.url+"history", secret, nil)
	_, after, found := strings.Cut(page, `name="csrf-token" content="`)
	token, _, _ := strings.Cut(after, `"`)
	if status != http.StatusOK || !found || token == "" {
		t.Fatalf("node 2's page: %d, csrf token found %v", status, found)
	}
	if status, _ := withSession(t, ctx, http.MethodPost, n2.url+"logout", secret, url.Values{"csrf": {token}}); status != http.StatusSeeOther {
		t.Fatalf("logout on node 2: %d, want 303", status)
	}
	for _, n := range []*process{n1, n2} {
		if status, _ := withSession(t, ctx, http.MethodGet, n.url+"api/today", secret, nil); status != http.StatusUnauthorized {
			t.Fatalf("%s after the logout on node 2: %d, want 401", n.url, status)
		}
	}

	// A call ended on one node is in the history of the other.
	fritzCalls(r1, 301000, 3)
	fritzCalls(r2, 302000, 2)
	poll(t, ctx, "every call in node 2's history", func() bool {
		h := historyCalls(t, ctx, n2.url)
		return callsFrom(h, "office1") == 3 && callsFrom(h, "office2") == 2
	})

	// PostgreSQL goes away while calls end on both nodes, and comes back.
	if err := cl.Stop(); err != nil {
		t.Fatal(err)
	}
	fritzCalls(r1, 301100, 4)
	fritzCalls(r2, 302100, 4)
	poll(t, ctx, "node 1's /healthz to see PostgreSQL gone", func() bool {
		_, reachable, ok := historyHealth(t, ctx, n1.url)
		return !reachable && !ok
	})
	degradedHistory(t, ctx, n1.url)
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fritzCalls(r1, 301200, 1)
	for _, n := range []*process{n1, n2} {
		poll(t, ctx, "every call in "+n.url+"'s history", func() bool {
			h := historyCalls(t, ctx, n.url)
			return callsFrom(h, "office1") == 8 && callsFrom(h, "office2") == 6
		})
		poll(t, ctx, n.url+"'s history healthy again", func() bool {
			_, reachable, ok := historyHealth(t, ctx, n.url)
			return reachable && ok
		})
	}
	// Five wrong passwords on node 1 use up the tries of anna from this
	// address on node 2 as well: node 2 throttles even the right one.
	for i := range 5 {
		if status := tryLogin(t, ctx, n1.url, "anna", "wrong"); status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on node 1: %d, want 401", i, status)
		}
	}
	if status := tryLogin(t, ctx, n2.url, "anna", "pw-anna"); status != http.StatusTooManyRequests {
		t.Fatalf("the right password on node 2 after five failures on node 1: %d, want 429", status)
	}

	h := historyCalls(t, ctx, n1.url)
	if len(h) != 14 {
		t.Fatalf("%d calls in the history, want 14", len(h))
	}
	for _, c := range h {
		if c.State != monitor.Ended || c.Reason != monitor.ReasonNoAnswer {
			t.Errorf("call %s: %s %s", c.ID, c.State, c.Reason)
		}
	}
}
