package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
)

// holdPhone holds each session until its ctx ends (then sends the page
// away, as the gateway does) or the page goes, and says which came
// first: "ctx" or "conn". Either ends the session and hangs up its call.
type holdPhone struct {
	started chan string
	ended   chan string
}

func newHoldPhone() *holdPhone {
	return &holdPhone{started: make(chan string, 16), ended: make(chan string, 16)}
}

func (p *holdPhone) ServeSession(ctx context.Context, u gateway.PhoneUser, conn *websocket.Conn) error {
	p.started <- u.Name
	// The gateway's first message.
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"welcome"}`)); err != nil {
		return err
	}
	rctx := conn.CloseRead(context.WithoutCancel(ctx))
	select {
	case <-ctx.Done():
		p.ended <- "ctx"
		return conn.Close(websocket.StatusGoingAway, "server shutting down")
	case <-rctx.Done():
		p.ended <- "conn"
		return nil
	}
}

func newSocketEnv(t *testing.T, cfg Config, opts ...Option) (*env, *holdPhone) {
	t.Helper()
	e := &env{hub: monitor.NewHub(monitor.HubConfig{}), hist: &fakeHistory{}, ctl: &fakeController{}}
	ph := newHoldPhone()
	opts = append([]Option{WithLogger(quietLogger())}, opts...)
	srv, err := New(cfg, Deps{Hub: e.hub, History: e.hist, Phone: ph}, opts...)
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

// dialPhone opens /phone with c's session.
func dialPhone(t *testing.T, ctx context.Context, e *env, c *http.Client) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+"/phone",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	if err != nil {
		t.Fatalf("dial /phone: %v (%v)", err, resp)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// wantClosed reads conn until it ends and wants code and reason within
// one second.
func wantClosed(t *testing.T, ctx context.Context, conn *websocket.Conn, code websocket.StatusCode, reason string) {
	t.Helper()
	wantClosedWithin(t, ctx, time.Second, conn, code, reason)
}

// wantClosedWithin is wantClosed with a deadline of d.
func wantClosedWithin(t *testing.T, ctx context.Context, d time.Duration, conn *websocket.Conn, code websocket.StatusCode, reason string) {
	t.Helper()
	dl, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var err error
	for err == nil {
		_, _, err = conn.Read(dl)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Reason, reason) {
		t.Fatalf("socket ended with %v, want %d %q within %s", err, code, reason, d)
	}
}

// wantOpen checks conn still answers a ping; it leaves a reader on conn,
// so conn is not read again.
func wantOpen(t *testing.T, ctx context.Context, conn *websocket.Conn, what string) {
	t.Helper()
	go func() {
		// Someone must read for the pong to be seen.
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
		}
	}()
	if err := conn.Ping(ctx); err != nil {
		t.Errorf("%s: ping: %v, want the socket open", what, err)
	}
}

func waitSignal(t *testing.T, ctx context.Context, ch <-chan string, what string) string {
	t.Helper()
	dl, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	select {
	case v := <-ch:
		return v
	case <-dl.Done():
		t.Fatalf("%s: not within 1 s", what)
		return ""
	}
}

// TestPhoneClosedOnSignOut: the case. After POST /logout the
// softphone socket of that session is closed at once with 1008 "signed
// out" (no session check is due for an hour) and its session's context
// ends, which hangs up its call; a socket of the same user's other
// session stays.
func TestPhoneClosedOnSignOut(t *testing.T) {
	t.Parallel()
	e, ph := newSocketEnv(t, testConfig(t), WithEventTimings(0, time.Hour))
	ctx := testCtx(t)
	c := e.client(t)
	tok := e.login(t, c, "bob")
	conn := dialPhone(t, ctx, e, c)
	waitSignal(t, ctx, ph.started, "session start")
	other := e.client(t)
	e.login(t, other, "bob")
	keep := dialPhone(t, ctx, e, other)
	waitSignal(t, ctx, ph.started, "second session start")

	if resp, _ := postForm(t, c, e.ts.URL+"/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	wantClosed(t, ctx, conn, websocket.StatusPolicyViolation, closeSignedOut)
	waitSignal(t, ctx, ph.ended, "session end")
	wantOpen(t, ctx, keep, "the other session's softphone")
	// The signed-out session opens nothing any more, and says so as the
	// APIs do.
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+"/phone",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %v %v, want 401", err, resp)
	}
}

// TestPhoneSessionExpires: /phone checks its session like /events does;
// a session past session_ttl ends the socket with "session expired".
func TestPhoneSessionExpires(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	e, ph := newSocketEnv(t, testConfig(t), WithEventTimings(0, 10*time.Millisecond),
		WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
	ctx := testCtx(t)
	c := e.client(t)
	e.login(t, c, "bob")
	conn := dialPhone(t, ctx, e, c)
	waitSignal(t, ctx, ph.started, "session start")
	skew.Store(int64(DefaultSessionTTL + time.Minute))
	wantClosed(t, ctx, conn, websocket.StatusPolicyViolation, closeExpired)
	waitSignal(t, ctx, ph.ended, "session end")
}

// TestCredentialChangeClosesSockets: a new password or role for a user
// (SetCredentials, as a reloaded configuration) ends their sessions and
// closes their /phone and /events sockets at once; a token that is gone
// closes its /events sockets; nobody else is disturbed.
func TestCredentialChangeClosesSockets(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	e, ph := newSocketEnv(t, cfg, WithEventTimings(0, time.Hour))
	ctx := testCtx(t)
	bob := e.client(t)
	e.login(t, bob, "bob")
	bobPhone := dialPhone(t, ctx, e, bob)
	waitSignal(t, ctx, ph.started, "session start")
	bobEvents := dialEvents(t, ctx, e.ts.URL, "", cookieHeader(t, bob, e.ts.URL))
	mustRead(t, ctx, bobEvents)
	vera := e.client(t)
	e.login(t, vera, "vera")
	veraEvents := dialEvents(t, ctx, e.ts.URL, "", cookieHeader(t, vera, e.ts.URL))
	mustRead(t, ctx, veraEvents)
	tokEvents := dialEvents(t, ctx, e.ts.URL, "", nil)
	mustRead(t, ctx, tokEvents)

	users := append([]User(nil), cfg.Users...)
	users[1].PasswordHash = hashPassword(t, "a new password")
	if err := e.srv.SetCredentials(users, nil); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, ctx, bobPhone, websocket.StatusPolicyViolation, closeRevoked)
	wantClosed(t, ctx, bobEvents, websocket.StatusPolicyViolation, closeRevoked)
	wantClosed(t, ctx, tokEvents, websocket.StatusPolicyViolation, closeTokenGone)
	waitSignal(t, ctx, ph.ended, "bob's phone session end")
	wantOpen(t, ctx, veraEvents, "vera's /events")
	if resp, _ := get(t, bob, e.ts.URL+"/api/calls"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's old session: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, e.client(t), e.ts.URL+"/api/calls", "Authorization", "Bearer "+testViewerToken); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d, want 401", resp.StatusCode)
	}
	// A role change signs out too.
	veraEvents = dialEvents(t, ctx, e.ts.URL, "", cookieHeader(t, vera, e.ts.URL))
	mustRead(t, ctx, veraEvents)
	users[2].Role = RoleUser
	if err := e.srv.SetCredentials(users, nil); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, ctx, veraEvents, websocket.StatusPolicyViolation, closeRevoked)
	if err := e.srv.SetCredentials([]User{{Name: "x", PasswordHash: "not bcrypt", Role: RoleAdmin}}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("invalid credentials: %v, want ErrInvalidConfig", err)
	}
}

// TestSocketCaps: each cap refuses the socket over it with 1008 and the
// cap in plain words, counts it in /metrics, and lets a socket in again
// once one has closed.
func TestSocketCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		limits Limits
		dial   func(t *testing.T, ctx context.Context, e *env, c *http.Client) *websocket.Conn
		reason string
		metric string
	}{
		{
			name:   "phone pages per user",
			limits: Limits{MaxPhonePerUser: 2},
			dial:   dialPhone,
			reason: "at most 2 softphone pages per user",
			metric: `switchboard_web_sockets_refused_total{endpoint="phone",limit="user"} 1`,
		},
		{
			name:   "events per user",
			limits: Limits{MaxEventsPerUser: 2},
			dial: func(t *testing.T, ctx context.Context, e *env, c *http.Client) *websocket.Conn {
				t.Helper()
				return dialEvents(t, ctx, e.ts.URL, "", cookieHeader(t, c, e.ts.URL))
			},
			reason: "at most 2 /events sockets per user",
			metric: `switchboard_web_sockets_refused_total{endpoint="events",limit="user"} 1`,
		},
		{
			name:   "events per token",
			limits: Limits{MaxEventsPerToken: 2},
			dial: func(t *testing.T, ctx context.Context, e *env, _ *http.Client) *websocket.Conn {
				t.Helper()
				return dialEvents(t, ctx, e.ts.URL, "", nil)
			},
			reason: "at most 2 /events sockets per token",
			metric: `switchboard_web_sockets_refused_total{endpoint="events",limit="token"} 1`,
		},
		{
			name:   "all sockets",
			limits: Limits{MaxSockets: 2},
			dial:   dialPhone,
			reason: "server full: at most 2 sockets",
			metric: `switchboard_web_sockets_refused_total{endpoint="phone",limit="total"} 1`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.Limits = tt.limits
			e, _ := newSocketEnv(t, cfg)
			ctx := testCtx(t)
			c := e.client(t)
			e.login(t, c, "bob")
			first := tt.dial(t, ctx, e, c)
			tt.dial(t, ctx, e, c)
			// No deadline of its own: the cap is what is tested here.
			wantClosedWithin(t, ctx, time.Minute, tt.dial(t, ctx, e, c), websocket.StatusPolicyViolation, tt.reason)
			_, metrics := get(t, c, e.ts.URL+"/metrics")
			if !strings.Contains(metrics, tt.metric) {
				t.Errorf("metrics lack %s", tt.metric)
			}
			if err := first.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
			// The server ends the closed socket's stream on its own time:
			// try until a socket is let in again (its first message comes).
			for {
				conn := tt.dial(t, ctx, e, c)
				_, _, err := conn.Read(ctx)
				if err == nil {
					break
				}
				if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
					t.Fatalf("after one closed: %v", err)
				}
			}
		})
	}
}

// TestSocketUpgradeErrorsAreJSON: refusals before the upgrade answer as
// every API error does: 401 without a session, 403 for a foreign origin,
// 426 for a plain GET, each with a JSON error.
func TestSocketUpgradeErrorsAreJSON(t *testing.T) {
	t.Parallel()
	e, _ := newSocketEnv(t, testConfig(t))
	bob := e.client(t)
	e.login(t, bob, "bob")
	upgrade := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	tests := []struct {
		name   string
		c      *http.Client
		path   string
		hdr    []string
		status int
	}{
		{"phone without a session", e.client(t), "/phone", upgrade, http.StatusUnauthorized},
		{"phone, plain GET", bob, "/phone", nil, http.StatusUpgradeRequired},
		{"phone from a foreign origin", bob, "/phone", append([]string{"Origin", "http://evil.example"}, upgrade...), http.StatusForbidden},
		{"events without a session", e.client(t), "/events", upgrade, http.StatusUnauthorized},
		{"events, plain GET", bob, "/events", nil, http.StatusUpgradeRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.c, e.ts.URL+tt.path, tt.hdr...)
			var out map[string]string
			if resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
				json.Unmarshal([]byte(body), &out) != nil || out["error"] == "" {
				t.Fatalf("%d %s %q, want %d with a JSON error", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status)
			}
		})
	}
}

// TestPhoneWatchWaitsInNoGoroutine: an open softphone page is watched for
// its sign-in and for the shutdown without a goroutine of web's waiting
// on it (a timer and hooks do it); a server holds thousands of them.
func TestPhoneWatchWaitsInNoGoroutine(t *testing.T) {
	e, ph := newSocketEnv(t, testConfig(t), WithEventTimings(0, time.Hour))
	ctx := testCtx(t)
	c := e.client(t)
	e.login(t, c, "bob")
	conn := dialPhone(t, ctx, e, c)
	waitSignal(t, ctx, ph.started, "session start")
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.Contains(g, "web.(*Server).watchPhone") || strings.Contains(g, "web.(*Server).untilStop") || strings.Contains(g, "web.(*phoneWatch)") {
			t.Errorf("a goroutine waits for the page:\n%s", g)
		}
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")
	waitSignal(t, ctx, ph.ended, "session end")
}
