package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
)

func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	type step struct {
		do         string // take, fail, ok, cancel, wait (advance the clock)
		user, addr string
		d          time.Duration
		limited    bool // for take: whether it is refused
	}
	const a, b = "198.51.100.1", "198.51.100.2"
	var fiveFailures []step
	for range loginBurst {
		fiveFailures = append(fiveFailures, step{do: "take", user: "anna", addr: a}, step{do: "fail"})
	}
	seq := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst then limited", seq(fiveFailures, []step{{do: "take", user: "anna", addr: a, limited: true}})},
		{"the pair only: same user elsewhere, other user here", seq(fiveFailures, []step{
			{do: "take", user: "anna", addr: b}, {do: "ok"},
			{do: "take", user: "bob", addr: a}, {do: "ok"},
		})},
		{"refill gives one more", seq(fiveFailures, []step{
			{do: "wait", d: loginRefill}, {do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a, limited: true},
		})},
		{"refused attempts do not push the next chance away", seq(fiveFailures,
			func() []step {
				var s []step
				for range 100 {
					s = append(s, step{do: "take", user: "anna", addr: a, limited: true})
				}
				return s
			}(),
			[]step{{do: "wait", d: loginRefill}, {do: "take", user: "anna", addr: a}},
		)},
		{"a right password starts the pair clean", []step{
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a}, {do: "ok"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a, limited: true},
		}},
		{"an unchecked attempt gives its token back", seq(fiveFailures[:8], []step{
			{do: "take", user: "anna", addr: a}, {do: "cancel"},
			{do: "take", user: "anna", addr: a}, {do: "fail"},
			{do: "take", user: "anna", addr: a, limited: true},
		})},
		{"an address guessing many names: new pairs there get one try, never none", seq(
			func() []step {
				var s []step
				for i := range pressureBurst {
					s = append(s, step{do: "take", user: fmt.Sprint("made-up-", i), addr: a}, step{do: "fail"})
				}
				return s
			}(),
			[]step{
				{do: "take", user: "bob", addr: a}, {do: "fail"},
				{do: "take", user: "bob", addr: a, limited: true},
				{do: "take", user: "vera", addr: a}, {do: "ok"},
				{do: "take", user: "bob", addr: b}, {do: "fail"},
				{do: "take", user: "bob", addr: b}, {do: "fail"},
			},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(1_700_000_000, 0)
			l := newLoginLimiter(func() time.Time { return now })
			var last loginTicket
			for i, s := range tt.steps {
				switch s.do {
				case "take":
					tk, wait := l.take(s.user, s.addr)
					if (wait > 0) != s.limited {
						t.Fatalf("step %d: take %s from %s: wait %s, want limited=%v", i, s.user, s.addr, wait, s.limited)
					}
					if s.limited && (wait < loginRetryMin || wait > loginRefill) {
						t.Fatalf("step %d: wait %s, want between %s and %s", i, wait, loginRetryMin, loginRefill)
					}
					last = tk
				case "fail":
					last.failed()
				case "ok":
					last.succeeded()
				case "cancel":
					last.cancel()
				case "wait":
					now = now.Add(s.d)
				}
			}
		})
	}
}

// withPasswordCheck replaces bcrypt for a test that must see and hold
// the checks.
func withPasswordCheck(f func(hash, pw []byte) error) Option {
	return func(s *Server) { s.checkPassword = f }
}

// heldChecks counts password checks and holds each until released.
type heldChecks struct {
	entered chan string
	release chan struct{}
	once    sync.Once
	n       atomic.Int32
	running atomic.Int32
	most    atomic.Int32
}

// newHeldChecks returns checks that are held until releaseAll; a test
// registers that as a cleanup after the server's, so that it runs first
// and the server can close.
func newHeldChecks() *heldChecks {
	return &heldChecks{entered: make(chan string, 200), release: make(chan struct{})}
}

func (h *heldChecks) releaseAll() { h.once.Do(func() { close(h.release) }) }

func (h *heldChecks) check(hash, pw []byte) error {
	h.n.Add(1)
	r := h.running.Add(1)
	for {
		m := h.most.Load()
		if r <= m || h.most.CompareAndSwap(m, r) {
			break
		}
	}
	h.entered <- string(pw)
	<-h.release
	h.running.Add(-1)
	return bcrypt.CompareHashAndPassword(hash, pw)
}

// TestParallelSignInsBounded: 100 guesses at anna's password at once,
// from one address, reach the password check at most loginBurst times —
// the token is taken before the check, not counted after it — and the
// right password, guess 77, sent while the first guesses are still being
// checked, is refused as throttled like the rest.
func TestParallelSignInsBounded(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Limits.LoginConcurrency = 2 * loginBurst
	start := time.Now()
	var skew atomic.Int64
	held := newHeldChecks()
	e := newEnv(t, cfg, monitor.HubConfig{}, withPasswordCheck(held.check),
		WithClock(func() time.Time { return start.Add(time.Duration(skew.Load())) }))
	t.Cleanup(held.releaseAll)

	const guesses, right = 100, 77
	type result struct {
		i      int
		status int
	}
	results := make(chan result, guesses)
	var wg sync.WaitGroup
	send := func(i int) {
		pw := fmt.Sprint("wrong-", i)
		if i == right {
			pw = testPassword
		}
		c := e.client(t)
		_, page := get(t, c, e.ts.URL+"/login")
		tok, _ := parseHTML(t, page).Find(`input[name="csrf"]`).Attr("value")
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader("csrf="+tok+"&name=anna&password="+pw))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				results <- result{i, -1}
				return
			}
			resp.Body.Close()
			results <- result{i, resp.StatusCode}
		}()
	}
	// Guesses 1..76 at once; the checks that start are held, so every
	// guess is in flight together, as in the attack.
	for i := 1; i < right; i++ {
		send(i)
	}
	ctx := testCtx(t)
	refused := 0
	for refused < right-1-loginBurst {
		select {
		case r := <-results:
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("guess %d answered %d while %d checks are held; want 429", r.i, r.status, held.n.Load())
			}
			refused++
		case <-ctx.Done():
			t.Fatalf("only %d of %d guesses refused; %d reached the check", refused, right-1-loginBurst, held.n.Load())
		}
	}
	for range loginBurst {
		select {
		case <-held.entered:
		case <-ctx.Done():
			t.Fatal("the first guesses never reached the check")
		}
	}
	// The right password now, while those checks still run.
	send(right)
	if r := <-results; r.i != right || r.status != http.StatusTooManyRequests {
		t.Fatalf("guess %d (the right password) answered %d, want 429", r.i, r.status)
	}
	held.releaseAll()
	for i := right + 1; i <= guesses; i++ {
		send(i)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests {
			t.Errorf("guess %d answered %d", r.i, r.status)
		}
	}
	if n := held.n.Load(); n != loginBurst {
		t.Errorf("%d password checks for %d guesses, want %d", n, guesses, loginBurst)
	}
	// The bucket did not go below zero: one refill later, one more try.
	skew.Add(int64(loginRefill))
	if resp, _ := e.loginAttempt(t, e.client(t), "anna", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("one refill after the burst: %d, want 401 (a check)", resp.StatusCode)
	}
}

// TestPasswordChecksBounded: at most login_concurrency bcrypt checks run
// at once; one address has at most maxChecksPerAddr sign-ins waiting or
// running, and the rest are told the server is busy, not checked.
func TestPasswordChecksBounded(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Limits.LoginConcurrency = 2
	held := newHeldChecks()
	e := newEnv(t, cfg, monitor.HubConfig{}, withPasswordCheck(held.check))
	t.Cleanup(held.releaseAll)
	const n = maxChecksPerAddr + 4
	statuses := make(chan int, n)
	for i := range n {
		c := e.client(t)
		_, page := get(t, c, e.ts.URL+"/login")
		tok, _ := parseHTML(t, page).Find(`input[name="csrf"]`).Attr("value")
		go func() {
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader(fmt.Sprintf("csrf=%s&name=made-up-%d&password=x", tok, i)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				statuses <- -1
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	ctx := testCtx(t)
	for range n - maxChecksPerAddr {
		select {
		case st := <-statuses:
			if st != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503 busy for the sign-ins beyond the address's share", st)
			}
		case <-ctx.Done():
			t.Fatal("no sign-in was told the server is busy")
		}
	}
	for range cfg.Limits.LoginConcurrency {
		<-held.entered
	}
	if got := held.n.Load(); got != int32(cfg.Limits.LoginConcurrency) {
		t.Fatalf("%d checks running, want %d", got, cfg.Limits.LoginConcurrency)
	}
	held.releaseAll()
	for range maxChecksPerAddr {
		if st := <-statuses; st != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", st)
		}
	}
	if m := held.most.Load(); m > int32(cfg.Limits.LoginConcurrency) {
		t.Errorf("%d checks ran at once, want at most %d", m, cfg.Limits.LoginConcurrency)
	}
}

// TestCorrectPasswordFromCleanAddress: failures from one address, for a
// real user and for made-up names, lock out neither that user elsewhere
// nor a colleague on the same address; the client addresses come from
// X-Forwarded-For, sent by a trusted proxy on loopback.
func TestCorrectPasswordFromCleanAddress(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.TrustedProxies = []string{"127.0.0.0/8", "::1"}
	e := newEnv(t, cfg, monitor.HubConfig{})
	attempt := func(name, pw, from string) int {
		t.Helper()
		c := e.client(t)
		_, page := get(t, c, e.ts.URL+"/login")
		tok, _ := parseHTML(t, page).Find(`input[name="csrf"]`).Attr("value")
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader("csrf="+tok+"&name="+name+"&password="+pw))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, _ := do(t, c, req)
		return resp.StatusCode
	}
	const office, home, spoofed = "198.51.100.7", "203.0.113.9", "192.0.2.1, 198.51.100.7"
	for range loginBurst {
		attempt("anna", "wrong", office)
	}
	// Enough made-up names to use up the address's failures: new pairs
	// there get one try each from now on.
	for i := range pressureBurst {
		attempt(fmt.Sprint("made-up-", i), "x", office)
	}
	if st := attempt("anna", "wrong", office); st != http.StatusTooManyRequests {
		t.Fatalf("anna from the office after %d failures: %d, want 429", loginBurst, st)
	}
	tests := []struct {
		name, user, from string
		want             int
	}{
		{"the same user from a clean address", "anna", home, http.StatusSeeOther},
		{"a colleague on the failing address", "bob", office, http.StatusSeeOther},
		// The client cannot pass as another address: the proxy appended
		// the office's address, so that is the client.
		{"a made-up hop before the real one", "anna", spoofed, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		if st := attempt(tt.user, testPassword, tt.from); st != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, st, tt.want)
		}
	}
}

// TestLoginRateLimitPage: the refusal says so in plain words, with
// Retry-After, and even the right password waits: the limit must not
// tell which attempt would have been right.
func TestLoginRateLimitPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	c := e.client(t)
	for i := range loginBurst {
		if resp, _ := e.loginAttempt(t, c, "anna", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d", i, resp.StatusCode)
		}
	}
	resp, body := e.loginAttempt(t, c, "anna", testPassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if msg := parseHTML(t, body).Find(`[data-testid="login-error"]`).Text(); !strings.Contains(msg, "Too many failed sign-in attempts") {
		t.Errorf("message %q", msg)
	}
	_, metrics := get(t, c, e.ts.URL+"/metrics", "Authorization", "Bearer "+testViewerToken)
	for _, want := range []string{`switchboard_web_logins_total{result="wrong"} 5`, `switchboard_web_logins_total{result="throttled"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestCheckGateCancel(t *testing.T) {
	t.Parallel()
	g := newCheckGate(1)
	if !g.enter(context.Background(), "a") {
		t.Fatal("first enter refused")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if g.enter(ctx, "a") {
		t.Fatal("enter with an ended ctx got a turn while the only one is taken")
	}
	g.leave("a")
	if !g.enter(context.Background(), "b") {
		t.Fatal("turn not given back")
	}
	g.leave("b")
	if len(g.perAddr) != 0 || g.queued != 0 {
		t.Fatalf("gate left state: %v, %d queued", g.perAddr, g.queued)
	}
}
