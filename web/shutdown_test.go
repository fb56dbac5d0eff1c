package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/gateway"
	"github.com/switchboard/switchboard/monitor"
)

// politePhone holds a session until its ctx ends, then sends the page
// away as the gateway does.
type politePhone struct{ started chan struct{} }

func (p *politePhone) ServeSession(ctx context.Context, _ gateway.PhoneUser, conn *websocket.Conn) error {
	p.started <- struct{}{}
	rctx := conn.CloseRead(context.WithoutCancel(ctx))
	select {
	case <-ctx.Done():
		return conn.Close(websocket.StatusGoingAway, "server shutting down")
	case <-rctx.Done():
		return nil
	}
}

// deafPhone ignores ctx: only a closed connection ends its session.
type deafPhone struct{ started chan struct{} }

func (p *deafPhone) ServeSession(_ context.Context, _ gateway.PhoneUser, conn *websocket.Conn) error {
	p.started <- struct{}{}
	_, _, err := conn.Read(context.Background())
	return err
}

// runEnv runs a server with phone on a loopback port; wait returns Run's
// result once it has returned.
func runEnv(t *testing.T, phone PhoneService) (_ *env, wait func() error) {
	t.Helper()
	hub := monitor.NewHub(monitor.HubConfig{})
	t.Cleanup(hub.Close)
	srv, _, wait := startServer(t, testConfig(t), Deps{Hub: hub, Phone: phone})
	return &env{srv: srv, hub: hub, ts: &httptest.Server{URL: "http://" + srv.Addr().String()}}, wait
}

// openPhone signs bob in and opens /phone.
func openPhone(t *testing.T, ctx context.Context, e *env) *websocket.Conn {
	t.Helper()
	c := e.client(t)
	e.login(t, c, "bob")
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.ts.URL, "http")+"/phone",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {e.ts.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// TestShutdownEndsPhoneSessions: the context a /phone session runs on ends
// with the shutdown (it used to live on, and Shutdown waited forever);
// /events and /phone both get 1001; later upgrades are refused, and Run
// returns once Shutdown has.
func TestShutdownEndsPhoneSessions(t *testing.T) {
	ph := &politePhone{started: make(chan struct{}, 1)}
	e, runDone := runEnv(t, ph)
	ctx := testCtx(t)
	phone := openPhone(t, ctx, e)
	<-ph.started
	events := dialEvents(t, ctx, e.ts.URL, "", nil)
	mustRead(t, ctx, events)

	// The clients read, as pages do, so they answer the close handshake.
	closed := map[string]chan error{}
	for name, conn := range map[string]*websocket.Conn{"phone": phone, "events": events} {
		ch := make(chan error, 1)
		closed[name] = ch
		go func() {
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					ch <- err
					return
				}
			}
		}()
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, ch := range closed {
		err := <-ch
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "server shutting down" {
			t.Errorf("%s closed with %v, want 1001 \"server shutting down\"", name, err)
		}
	}
	if err := runDone(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, _, err := websocket.Dial(ctx, wsURL(e.ts.URL, ""), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testViewerToken}}}); err == nil {
		t.Error("a new /events socket was accepted after shutdown")
	}
}

// TestShutdownForcedClosesConnections: a phone session that ignores its
// context and an /events client that never answers the close handshake
// hold the shutdown until its ctx ends; then their connections are
// closed and Shutdown returns at once.
func TestShutdownForcedClosesConnections(t *testing.T) {
	ph := &deafPhone{started: make(chan struct{}, 1)}
	e, _ := runEnv(t, ph)
	ctx := testCtx(t)
	openPhone(t, ctx, e)
	<-ph.started
	// Read once, then never again: the close frame stays unanswered.
	mustRead(t, ctx, dialEvents(t, ctx, e.ts.URL, "", nil))

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(sctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("forced Shutdown: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("forced Shutdown still waits for its streams")
	}
}
