package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/monitor/history"
	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/webhook"
)

// hookReceiver is a webhook endpoint. It records every call it gets;
// hold makes it keep the first request until released (a slow receiver),
// never makes it keep every request until the client gives up.
type hookReceiver struct {
	srv     *httptest.Server
	release chan struct{}
	first   chan struct{}

	mu    sync.Mutex
	n     int
	calls []monitor.Call
}

func newHookReceiver(t *testing.T, hold, never bool) *hookReceiver {
	t.Helper()
	h := &hookReceiver{release: make(chan struct{}), first: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(webhook.SignatureHeader) != webhook.Sign([]byte("hook-secret"), body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		h.mu.Lock()
		h.n++
		first := h.n == 1
		h.mu.Unlock()
		if first {
			close(h.first)
		}
		if never || (hold && first) {
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
		var m struct {
			Call *monitor.Call `json:"call"`
		}
		if json.Unmarshal(body, &m) == nil && m.Call != nil {
			h.mu.Lock()
			h.calls = append(h.calls, *m.Call)
			h.mu.Unlock()
		}
	}))
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		h.srv.Close()
	})
	return h
}

// ended returns the ended call with id that the receiver got.
func (h *hookReceiver) ended(id monitor.CallID) (monitor.Call, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.calls {
		if c.ID == id && c.State == monitor.Ended {
			return c, true
		}
	}
	return monitor.Call{}, false
}

// eventsSubscriber is an open /events socket that keeps reading.
type eventsSubscriber struct {
	closed chan error
}

// subscribeEvents opens /events and reads until every source in ready
// has reached its state, then keeps reading in the background.
func subscribeEvents(t *testing.T, ctx context.Context, base, token string, ready map[monitor.SourceName]monitor.LinkState) *eventsSubscriber {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatalf("open /events: %v", err)
	}
	c.SetReadLimit(1 << 20)
	seen := map[monitor.SourceName]monitor.LinkState{}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("events: waiting for %v, got %v: %v", ready, seen, err)
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("events message %s: %v", b, err)
		}
		list := m.Sources
		if m.Source != nil {
			list = append(list, *m.Source)
		}
		for _, st := range list {
			seen[st.Name] = st.State
		}
		all := true
		for name, state := range ready {
			all = all && seen[name] == state
		}
		if all {
			break
		}
	}
	s := &eventsSubscriber{closed: make(chan error, 1)}
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				s.closed <- err
				return
			}
		}
	}()
	t.Cleanup(func() { _ = c.CloseNow() })
	return s
}

// checkGoingAway fails t unless err is a 1001 close with the server's
// reason.
func checkGoingAway(t *testing.T, what string, err error) {
	t.Helper()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "server shutting down" {
		t.Errorf("%s closed with %v, want 1001 going away \"server shutting down\"", what, err)
	}
}

const e2eToken = "0123456789abcdef-shutdown"

// TestServeShutdownOnSIGTERM runs the real binary with an open softphone
// page holding a live call to a baresip phone through kamailio, an open
// /events subscriber, a ringing Fritz!Box call and a slow webhook
// receiver, sends SIGTERM and checks the ordered stop: exit status 0;
// both sockets closed with 1001; the phone got the BYE; the account is
// no longer registered; the history holds both calls and the webhook got
// both ends.
func TestServeShutdownOnSIGTERM(t *testing.T) {
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	far := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: 1000, AutoAnswer: true})
	router := fritztest.New(t)
	hooks := newHookReceiver(t, true, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := far.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	p := startSwitchboard(t, softphoneNode{Registrar: k.Addr(), RTP: siptest.FreePorts(t, 20), More: fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
shutdown_timeout: 30s
sources:
  - name: home
    type: fritz
    address: %s
    location: UTC
webhooks:
  - url: %s
    secret: hook-secret
    timeout: 1m
`, dataDir, router.Addr(), hooks.srv.URL) + viewerTokenYAML}.yaml(t))

	events := subscribeEvents(t, ctx, p.url, e2eToken, map[monitor.SourceName]monitor.LinkState{"office": monitor.LinkRegistered, "home": monitor.LinkConnected})
	router.Send(time.Now().UTC().Format("02.01.06 15:04:05") + ";RING;4;0301234567;5551234;SIP0;")

	page := openPhonePage(t, ctx, p.url, signIn(t, ctx, p.url, "paula", "pw-paula"))
	page.send(ctx, map[string]any{"type": "dial", "account": "office", "to": "1002"})
	call := page.expectCall(ctx, "connected")
	if _, err := far.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatal(err)
	}
	if code := probeUser(t, k.Addr(), "1001"); code != 200 {
		t.Fatalf("probe while running = %d, want 200 (registered, our OPTIONS answer)", code)
	}
	// The webhook receiver holds the first delivery: what follows waits
	// in the queue when the signal comes.
	<-hooks.first

	p.signal(syscall.SIGTERM)
	close(hooks.release)
	if code := p.waitExit(45 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}

	select {
	case err := <-events.closed:
		checkGoingAway(t, "/events", err)
	case <-ctx.Done():
		t.Fatal("/events socket still open after the exit")
	}
	checkGoingAway(t, "/phone", page.waitClosed(ctx))
	// The far phone got our BYE: baresip closes a call the other side
	// ended with ECONNRESET.
	if ev, err := far.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Errorf("far phone: %v", err)
	} else if ev.Param != "Connection reset by peer" {
		t.Errorf("far phone closed the call with %q, want the BYE's \"Connection reset by peer\"", ev.Param)
	}
	if code := probeUser(t, k.Addr(), "1001"); code != 404 {
		t.Errorf("probe after exit = %d, want 404 (un-REGISTERed)", code)
	}

	phoneID := monitor.CallID(call.ID)
	store, err := history.Open(ctx, filepath.Join(dataDir, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pg, err := store.Query(ctx, history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var saved, fritzSaved *monitor.Call
	for i, c := range pg.Calls {
		switch {
		case c.ID == phoneID:
			saved = &pg.Calls[i]
		case c.Source == "home" && c.From.Number == "0301234567":
			fritzSaved = &pg.Calls[i]
		}
	}
	if saved == nil || saved.State != monitor.Ended || saved.Reason != monitor.ReasonCompleted || saved.Answered.IsZero() {
		t.Errorf("history has softphone call %+v, want %s ended completed", saved, phoneID)
	}
	if fritzSaved == nil || fritzSaved.Cause != "monitor stopped" {
		t.Errorf("history has Fritz!Box call %+v, want it ended: monitor stopped", fritzSaved)
	}
	if c, ok := hooks.ended(phoneID); !ok || c.Reason != monitor.ReasonCompleted {
		t.Errorf("webhook got the softphone call's end %v (%+v), want completed", ok, c)
	}
	if fritzSaved != nil {
		if _, ok := hooks.ended(fritzSaved.ID); !ok {
			t.Errorf("webhook did not get the Fritz!Box call's end")
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "webhook-queue.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("webhook events left in the spool after a clean stop: %v", err)
	}

	logText := p.log()
	for _, want := range []string{`step="stop accepting"`, `step="close pages and wallboards"`, `step="end softphone calls"`,
		`step="end sip calls and unregister"`, `step="stop sources"`, `step="save history"`, `step="flush webhooks"`, `msg="shutdown complete"`} {
		if !strings.Contains(logText, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(logText, "level=WARN") {
		t.Errorf("a clean stop logged warnings:\n%s", grepLines(logText, "level=WARN"))
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// stuckWebhookConfig is a server with a Fritz!Box source and a webhook
// whose deliveries may take a minute.
func stuckWebhookConfig(dataDir, router, hook string, timeout time.Duration) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
shutdown_timeout: %s
sources:
  - name: home
    type: fritz
    address: %s
    location: UTC
tokens:
  - name: wall
    token: %s
    role: viewer
webhooks:
  - url: %s
    secret: hook-secret
    timeout: 5m
`, dataDir, timeout, router, e2eToken, hook)
}

// TestServeSecondSignalForces: a webhook receiver that never answers
// holds the shutdown, which may take two minutes; a second SIGTERM ends
// the process at once with status 0, and the undelivered events are
// saved and sent after the next start.
func TestServeSecondSignalForces(t *testing.T) {
	router := fritztest.New(t)
	hooks := newHookReceiver(t, false, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	cfg := stuckWebhookConfig(dataDir, router.Addr(), hooks.srv.URL, 2*time.Minute)
	p := startSwitchboard(t, cfg)
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format("02.01.06 15:04:05")
	router.Send(now + ";RING;5;0309876543;5551234;SIP0;")
	<-hooks.first

	p.signal(syscall.SIGTERM)
	// The stop has reached the webhooks, which will not finish.
	if _, err := p.waitLog(ctx, `step="stop sources"`); err != nil {
		t.Fatal(err)
	}
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(20 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	logText := p.log()
	if !strings.Contains(logText, "shutdown forced") || !strings.Contains(logText, "received signal terminated") {
		t.Errorf("log does not say the second signal forced the stop:\n%s", grepLines(logText, "level=WARN"))
	}
	if !strings.Contains(logText, `step="flush webhooks"`) {
		t.Errorf("log lacks the forced webhook step")
	}

	// Saved: the next start sends the ringing call and its end.
	spool := filepath.Join(dataDir, "webhook-queue.jsonl")
	if _, err := os.Stat(spool); err != nil {
		t.Fatalf("no webhook spool after a forced stop: %v", err)
	}
	answering := newHookReceiver(t, false, false)
	cfg = strings.Replace(cfg, hooks.srv.URL, answering.srv.URL, 1)
	if err := os.WriteFile(spool, []byte(strings.ReplaceAll(mustRead(t, spool), hooks.srv.URL, answering.srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	p2 := startSwitchboard(t, cfg)
	if _, err := p2.waitLog(ctx, "webhook events from the last run queued"); err != nil {
		t.Fatal(err)
	}
	for {
		answering.mu.Lock()
		var got bool
		for _, c := range answering.calls {
			if c.From.Number == "0309876543" && c.State == monitor.Ended && c.Cause == "monitor stopped" {
				got = true
			}
		}
		answering.mu.Unlock()
		if got {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the saved call end never reached the webhook after the restart")
		case <-time.After(20 * time.Millisecond):
		}
	}
	p2.signal(syscall.SIGTERM)
	if code := p2.waitExit(30 * time.Second); code != 0 {
		t.Errorf("second run: exit status %d, want 0", code)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServeDeadlineForces: with a webhook receiver that never answers, the
// stop passes shutdown_timeout; what still runs is forced and the process
// exits with status 0, saying so at Warn.
func TestServeDeadlineForces(t *testing.T) {
	router := fritztest.New(t)
	hooks := newHookReceiver(t, false, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	p := startSwitchboard(t, stuckWebhookConfig(dataDir, router.Addr(), hooks.srv.URL, 2*time.Second))
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	router.Send(time.Now().UTC().Format("02.01.06 15:04:05") + ";RING;6;0305550000;5551234;SIP0;")
	<-hooks.first
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	logText := p.log()
	if !strings.Contains(logText, "shutdown forced") || !strings.Contains(logText, "shutdown_timeout reached") {
		t.Errorf("log does not say the deadline forced the stop:\n%s", grepLines(logText, "level=WARN"))
	}
	if !strings.Contains(logText, `msg="shutdown complete, forced"`) || !strings.Contains(logText, "flush webhooks") {
		t.Errorf("log does not name the forced step:\n%s", grepLines(logText, "level=WARN"))
	}
	if _, err := os.Stat(filepath.Join(dataDir, "webhook-queue.jsonl")); err != nil {
		t.Errorf("undelivered webhook events not saved: %v", err)
	}
}

// TestServeDeadlineForcesLiveCall: the far phone never answers the BYE,
// so the page's session waits for its call and the call for the BYE; at
// shutdown_timeout everything is forced together, and the process exits
// with status 0, the page told with 1001 and the call in the history.
func TestServeDeadlineForcesLiveCall(t *testing.T) {
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := strconv.Itoa(siptest.FreePort(t))
	if err := siptest.RunSipp(ctx, t, "register.xml", k.Addr(), "-p", port, "-s", "1003", "-au", "1003", "-ap", siptest.Password("1003")); err != nil {
		t.Fatal(err)
	}
	deaf, err := filepath.Abs(filepath.Join("testdata", "sipp-uas-deaf-to-bye.xml"))
	if err != nil {
		t.Fatal(err)
	}
	siptest.StartSipp(t, deaf, "-p", port, "-d", "0", "-default_behaviors", "none")
	dataDir := t.TempDir()
	p := startSwitchboard(t, softphoneNode{Registrar: k.Addr(), RTP: siptest.FreePorts(t, 20),
		More: fmt.Sprintf("listen: 127.0.0.1:0\ndata_dir: %s\nshutdown_timeout: 2s\n", dataDir) + viewerTokenYAML}.yaml(t))
	subscribeEvents(t, ctx, p.url, e2eToken, map[monitor.SourceName]monitor.LinkState{"office": monitor.LinkRegistered})
	page := openPhonePage(t, ctx, p.url, signIn(t, ctx, p.url, "paula", "pw-paula"))
	page.send(ctx, map[string]any{"type": "dial", "account": "office", "to": "1003"})
	call := page.expectCall(ctx, "connected")

	p.signal(syscall.SIGTERM)
	if code := p.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	checkGoingAway(t, "/phone", page.waitClosed(ctx))
	logText := p.log()
	if !strings.Contains(logText, "shutdown_timeout reached") || !strings.Contains(logText, `msg="shutdown complete, forced"`) {
		t.Errorf("log does not say the deadline forced the stop:\n%s", grepLines(logText, "level=WARN"))
	}
	store, err := history.Open(ctx, filepath.Join(dataDir, "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pg, err := store.Query(ctx, history.Filter{Source: "office"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Calls) != 1 || pg.Calls[0].ID != monitor.CallID(call.ID) || pg.Calls[0].State != monitor.Ended {
		t.Errorf("history = %+v, want the forced call %s ended", pg.Calls, call.ID)
	}
}
