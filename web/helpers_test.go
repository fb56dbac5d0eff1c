package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/history"
)

const (
	testViewerToken = "viewer-token-0123456789"
	testPassword    = "correct horse"
)

func hashPassword(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// testConfig has an admin "anna", an operator "olga" whose own phone is
// 201, a user "bob" and a viewer "vera", all with testPassword, and one
// viewer token.
func testConfig(t testing.TB) Config {
	t.Helper()
	h := hashPassword(t, testPassword)
	return Config{
		Users: []User{
			{Name: "anna", PasswordHash: h, Role: RoleAdmin},
			{Name: "bob", PasswordHash: h, Role: RoleUser, Accounts: []string{"1001"}},
			{Name: "vera", PasswordHash: h, Role: RoleViewer},
			{Name: "olga", PasswordHash: h, Role: RoleOperator, Extension: "201"},
		},
		Tokens:         []Token{{Name: "hall", Token: testViewerToken}},
		AllowedOrigins: []string{"portal.example.test"},
	}
}

// fakeHistory is an in-memory history store.
type fakeHistory struct {
	mu     sync.Mutex
	calls  []monitor.Call // newest first
	err    error
	health history.Health
}

// Health returns the health the test set; the zero value is ok.
func (h *fakeHistory) Health() history.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.health.Problem == "" {
		return history.Health{OK: true}
	}
	return h.health
}

func (h *fakeHistory) add(c monitor.Call) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append([]monitor.Call{c}, h.calls...)
}

func (h *fakeHistory) Query(_ context.Context, f history.Filter) (history.Page, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return history.Page{}, h.err
	}
	var sel []monitor.Call
	for _, c := range h.calls {
		if f.Number != "" && !strings.Contains(c.From.Number, f.Number) && !strings.Contains(c.To.Number, f.Number) {
			continue
		}
		if f.Source != "" && c.Source != f.Source {
			continue
		}
		if f.Outcome == history.OutcomeMissed && !c.Answered.IsZero() || f.Outcome == history.OutcomeAnswered && c.Answered.IsZero() {
			continue
		}
		sel = append(sel, c)
	}
	limit := f.Limit
	if limit == 0 {
		limit = history.DefaultLimit
	}
	p := history.Page{Total: len(sel)}
	if f.Offset < len(sel) {
		p.Calls = slices.Clone(sel[f.Offset:min(len(sel), f.Offset+limit)])
	}
	return p, nil
}

// Each hands fn the calls Query would select, all of them.
func (h *fakeHistory) Each(ctx context.Context, f history.Filter, fn func(monitor.Call) error) error {
	f.Limit, f.Offset = math.MaxInt32, 0
	p, err := h.Query(ctx, f)
	if err != nil {
		return err
	}
	for _, c := range p.Calls {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (h *fakeHistory) Recent(_ context.Context, since time.Time, limit int) ([]monitor.Call, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []monitor.Call
	for _, c := range h.calls {
		if !c.Started.Before(since) && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, h.err
}

// fakeController records actions and answers with err.
type fakeController struct {
	mu  sync.Mutex
	did []string
	err error
}

func (c *fakeController) record(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.did = append(c.did, s)
	return c.err
}

func (c *fakeController) Hangup(_ context.Context, id monitor.CallID) error {
	return c.record("hangup " + string(id))
}

func (c *fakeController) Transfer(_ context.Context, id monitor.CallID, to string) error {
	return c.record("transfer " + string(id) + " " + to)
}

func (c *fakeController) Originate(_ context.Context, from, to string) error {
	return c.record("originate " + from + " " + to)
}

func (c *fakeController) PauseMember(_ context.Context, queue, member string, paused bool, reason string) error {
	return c.record(fmt.Sprintf("pause %s %s %t %s", queue, member, paused, reason))
}

func (c *fakeController) AddMember(_ context.Context, queue, member, name string) error {
	return c.record("add " + queue + " " + member + " " + name)
}

func (c *fakeController) RemoveMember(_ context.Context, queue, member string) error {
	return c.record("remove " + queue + " " + member)
}

func (c *fakeController) actions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.did)
}

// env is a server under test behind httptest.
type env struct {
	srv  *Server
	hub  *monitor.Hub
	hist *fakeHistory
	ctl  *fakeController
	ts   *httptest.Server
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newEnv(t testing.TB, cfg Config, hubCfg monitor.HubConfig, opts ...Option) *env {
	t.Helper()
	e := &env{hub: monitor.NewHub(hubCfg), hist: &fakeHistory{}, ctl: &fakeController{}}
	e.hub.SourceStatus(monitor.SourceStatus{Name: "pbx", Type: "ami", State: monitor.LinkConnected,
		Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer, monitor.ActionOriginate,
			monitor.ActionQueuePause, monitor.ActionQueueAdd, monitor.ActionQueueRemove}})
	e.hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkConnected})
	// Changes go out at once unless a test asks for coalescing: the
	// tests read change by change.
	opts = append([]Option{WithLogger(quietLogger()), WithEventCoalesce(0)}, opts...)
	srv, err := New(cfg, Deps{Hub: e.hub, History: e.hist, Controllers: map[monitor.SourceName]monitor.Controller{"pbx": e.ctl}}, opts...)
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

// client returns an HTTP client with its own cookie jar that does not
// follow redirects.
func (e *env) client(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// get fetches path and returns the response and its body.
func get(t testing.TB, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// post sends a JSON body with headers.
func post(t testing.TB, c *http.Client, u, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func postForm(t testing.TB, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

func parseHTML(t testing.TB, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// loginAttempt submits the sign-in form the way a browser does.
func (e *env) loginAttempt(t testing.TB, c *http.Client, name, pw string) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, e.ts.URL+"/login")
	tok, _ := parseHTML(t, page).Find(`form[data-testid="login-form"] input[name="csrf"]`).Attr("value")
	return postForm(t, c, e.ts.URL+"/login", url.Values{"csrf": {tok}, "name": {name}, "password": {pw}, "next": {"/"}})
}

// login signs c in and returns the session's CSRF token.
func (e *env) login(t testing.TB, c *http.Client, name string) string {
	t.Helper()
	resp, body := e.loginAttempt(t, c, name, testPassword)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d: %s", name, resp.StatusCode, body)
	}
	_, page := get(t, c, e.ts.URL+"/")
	tok, ok := parseHTML(t, page).Find(`meta[name="csrf-token"]`).Attr("content")
	if !ok || tok == "" {
		t.Fatalf("login %s: no csrf token in page", name)
	}
	return tok
}

// testCall is an active inbound call on source.
func testCall(source monitor.SourceName, key string, state monitor.State) monitor.Call {
	started := time.Now().Add(-30 * time.Second)
	c := monitor.Call{
		ID: monitor.MakeCallID(source, key), Source: source, Direction: monitor.Inbound, State: state,
		From: monitor.Party{Number: "030123456", Name: "Anna Example"}, To: monitor.Party{Number: "4711"},
		Line: "SIP0", Started: started,
	}
	if state == monitor.Connected || state == monitor.Ended {
		c.Answered = started.Add(5 * time.Second)
	}
	if state == monitor.Ended {
		c.Ended = started.Add(25 * time.Second)
		c.Duration = 20
		c.Reason = monitor.ReasonCompleted
	}
	return c
}
