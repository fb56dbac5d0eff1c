package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
)

// wireMsg is any /events message as a client decodes it.
type wireMsg struct {
	Type    string                 `json:"type"`
	Epoch   string                 `json:"epoch"`
	Seq     uint64                 `json:"seq"`
	Calls   []monitor.Call         `json:"calls"`
	Sources []monitor.SourceStatus `json:"sources"`
	Call    *monitor.Call          `json:"call"`
	Source  *monitor.SourceStatus  `json:"source"`
	Event   *monitor.UserEvent     `json:"event"`
}

func wsURL(base, query string) string {
	u := "ws" + strings.TrimPrefix(base, "http") + "/events"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dialEvents opens /events with the viewer token, or with header h.
func dialEvents(t testing.TB, ctx context.Context, base, query string, h http.Header) *websocket.Conn {
	t.Helper()
	if h == nil {
		h = http.Header{"Authorization": {"Bearer " + testViewerToken}}
	}
	conn, _, err := websocket.Dial(ctx, wsURL(base, query), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial events: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

func readMsg(ctx context.Context, conn *websocket.Conn) (wireMsg, error) {
	var m wireMsg
	_, b, err := conn.Read(ctx)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode %s: %w", b, err)
	}
	return m, nil
}

func mustRead(t testing.TB, ctx context.Context, conn *websocket.Conn) wireMsg {
	t.Helper()
	m, err := readMsg(ctx, conn)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEventsSnapshotThenDeltas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.hub.Call(testCall("home", "0", monitor.Ringing))
	const clients, changes = 50, 40

	// Every client subscribes before the changes, then each reads them in
	// its own parallel subtest.
	ctx := testCtx(t)
	conns := make([]*websocket.Conn, clients)
	snaps := make([]wireMsg, clients)
	for i := range clients {
		conns[i] = dialEvents(t, ctx, e.ts.URL, "", nil)
		snaps[i] = mustRead(t, ctx, conns[i])
	}
	for i := range changes {
		st := monitor.Ringing
		if i%2 == 1 {
			st = monitor.Connected
		}
		e.hub.Call(testCall("home", fmt.Sprint(i/2+1), st))
	}
	for i := range clients {
		t.Run(fmt.Sprint("client", i), func(t *testing.T) {
			t.Parallel()
			conn, snap := conns[i], snaps[i]
			if snap.Type != "snapshot" || snap.Epoch != e.hub.Epoch() || len(snap.Calls) != 1 || len(snap.Sources) != 2 {
				t.Fatalf("first message %+v: want a snapshot with 1 call and 2 sources", snap)
			}
			if c := snap.Calls[0]; c.ID != "home:0" || c.From.Number != "030123456" || c.State != monitor.Ringing {
				t.Fatalf("snapshot call %+v", c)
			}
			for j := range changes {
				m := mustRead(t, ctx, conn)
				want := snap.Seq + uint64(j) + 1
				if m.Type != "call" || m.Seq != want || m.Call == nil {
					t.Fatalf("change %d: %+v, want call seq %d", j, m, want)
				}
				if wantState := []monitor.State{monitor.Ringing, monitor.Connected}[j%2]; m.Call.State != wantState {
					t.Fatalf("change %d: state %s, want %s", j, m.Call.State, wantState)
				}
			}
		})
	}
}

func TestEventsMessageTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	ctx := testCtx(t)
	conn := dialEvents(t, ctx, e.ts.URL, "", nil)
	mustRead(t, ctx, conn)
	e.hub.SourceStatus(monitor.SourceStatus{Name: "home", Type: "fritz", State: monitor.LinkDown, Error: "connection refused"})
	e.hub.UserEvent(monitor.UserEvent{Source: "pbx", Name: "QueueAlert", Fields: map[string]string{"queue": "sales"}})
	if m := mustRead(t, ctx, conn); m.Type != "source" || m.Source == nil || m.Source.State != monitor.LinkDown || m.Source.Error != "connection refused" {
		t.Errorf("source message %+v", m)
	}
	if m := mustRead(t, ctx, conn); m.Type != "user" || m.Event == nil || m.Event.Name != "QueueAlert" || m.Event.Fields["queue"] != "sales" {
		t.Errorf("user message %+v", m)
	}
}

// TestEventsCarryTheEnvelope checks /events sends each change as the
// hub's envelope, byte for byte, and a snapshot that decodes as one.
func TestEventsCarryTheEnvelope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{})
	e.hub.Call(testCall("home", "0", monitor.Ringing))
	ctx := testCtx(t)
	conn := dialEvents(t, ctx, e.ts.URL, "", nil)
	_, raw, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var snap monitor.Snapshot
	if err := json.Unmarshal(raw, &snap); err != nil || snap.Epoch != e.hub.Epoch() || len(snap.Calls()) != 1 || len(snap.Sources()) != 2 {
		t.Fatalf("snapshot %s: %+v %v", raw, snap, err)
	}
	sub, err := e.hub.Subscribe(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	e.hub.Call(testCall("home", "0", monitor.Connected))
	want, err := (<-sub.Events()).JSON()
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err = conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != string(want) {
		t.Fatalf("/events sent %s\nwant the envelope %s", raw, want)
	}
	var ev monitor.Event
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Kind() != monitor.KindCall || ev.Seq != snap.Seq+1 || ev.At.IsZero() {
		t.Fatalf("decoded %+v, %v", ev, err)
	}
}

func TestEventsResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{RingSize: 8})
	ctx := testCtx(t)
	conn := dialEvents(t, ctx, e.ts.URL, "", nil)
	snap := mustRead(t, ctx, conn)
	_ = conn.Close(websocket.StatusNormalClosure, "")

	for i := range 3 {
		e.hub.Call(testCall("home", fmt.Sprint(i), monitor.Ringing))
	}
	q := url.Values{"since": {fmt.Sprint(snap.Seq)}, "epoch": {snap.Epoch}}.Encode()
	conn = dialEvents(t, ctx, e.ts.URL, q, nil)
	for i := range 3 {
		m := mustRead(t, ctx, conn)
		if m.Type != "call" || m.Seq != snap.Seq+uint64(i)+1 || m.Call.ID != monitor.CallID(fmt.Sprint("home:", i)) {
			t.Fatalf("missed event %d: %+v", i, m)
		}
	}
	e.hub.Call(testCall("home", "9", monitor.Ringing))
	if m := mustRead(t, ctx, conn); m.Type != "call" || m.Seq != snap.Seq+4 {
		t.Fatalf("live event after resume: %+v", m)
	}

	tests := []struct{ name, query string }{
		{"other epoch", url.Values{"since": {"1"}, "epoch": {"previous-run"}}.Encode()},
		{"beyond the ring", url.Values{"since": {"0"}, "epoch": {snap.Epoch}}.Encode()},
		{"malformed", "since=x&epoch=" + snap.Epoch},
	}
	for i := range 10 {
		e.hub.Call(testCall("home", fmt.Sprint("more", i), monitor.Ringing))
	}
	for _, tt := range tests {
		c := dialEvents(t, ctx, e.ts.URL, tt.query, nil)
		if m := mustRead(t, ctx, c); m.Type != "snapshot" {
			t.Errorf("%s: first message %q, want snapshot", tt.name, m.Type)
		}
	}
}

func TestEventsStalledClientDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{SubscriberBuffer: 16})
	ctx := testCtx(t)
	stalled := dialEvents(t, ctx, e.ts.URL, "", nil) // never read until dropped
	fast := dialEvents(t, ctx, e.ts.URL, "", nil)
	snap := mustRead(t, ctx, fast)

	// Big events fill the stalled client's socket buffers quickly; the
	// fast client reads each one before the next is published.
	pad := strings.Repeat("x", 16<<10)
	published := 0
	for e.hub.Stats().Dropped[monitor.CloseSlow] == 0 {
		if published == 50000 {
			t.Fatal("stalled client never dropped")
		}
		c := testCall("home", fmt.Sprint(published), monitor.Ringing)
		c.Vars = map[string]string{"pad": pad}
		e.hub.Call(c)
		published++
		m := mustRead(t, ctx, fast)
		if m.Seq != snap.Seq+uint64(published) {
			t.Fatalf("fast client got seq %d, want %d", m.Seq, snap.Seq+uint64(published))
		}
	}
	// The fast client still gets every change.
	e.hub.Call(testCall("home", "after", monitor.Ringing))
	if m := mustRead(t, ctx, fast); m.Call == nil || m.Call.ID != "home:after" {
		t.Fatalf("fast client after the drop: %+v", m)
	}
	if st := e.hub.Stats(); st.Dropped[monitor.CloseSlow] != 1 {
		t.Fatalf("dropped %v, want exactly one slow subscriber", st.Dropped)
	}
	// The stalled client, reading at last, finds the close status.
	var err error
	for err == nil {
		_, err = readMsg(ctx, stalled)
	}
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != closeTooSlow {
		t.Fatalf("stalled client ended with %v, want policy violation %q", err, closeTooSlow)
	}
}

// openedEvents opens an anonymous /events stream on srv and reads its
// first message.
func openedEvents(t *testing.T, srv *Server) (context.Context, *websocket.Conn) {
	t.Helper()
	ctx := testCtx(t)
	conn := dialEvents(t, ctx, "http://"+srv.Addr().String(), "", nil)
	mustRead(t, ctx, conn)
	return ctx, conn
}

func TestEventsShutdownGoingAway(t *testing.T) {
	t.Parallel()
	srv, stop, wait := startServer(t, testConfig(t), Deps{})

	ctx, conn := openedEvents(t, srv)
	go func() { _ = stop() }()
	_, err := readMsg(ctx, conn)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after shutdown: %v, want going away", err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestEventsEndWithSession: sign-out closes the session's /events socket
// at once (within a second, with no ping due for minutes), with 1008 and
// "signed out".
func TestEventsEndWithSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testConfig(t), monitor.HubConfig{}, WithEventTimings(0, time.Hour))
	c := e.client(t)
	tok := e.login(t, c, "vera")
	ctx := testCtx(t)
	conn := dialEvents(t, ctx, e.ts.URL, "", cookieHeader(t, c, e.ts.URL))
	if m := mustRead(t, ctx, conn); m.Type != "snapshot" {
		t.Fatalf("first message %q", m.Type)
	}
	if resp, _ := postForm(t, c, e.ts.URL+"/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	dl, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := readMsg(dl, conn)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != closeSignedOut {
		t.Fatalf("after logout: %v, want 1008 %q within 1 s", err, closeSignedOut)
	}
	if st := e.hub.Stats(); st.Dropped[monitor.CloseAuthExpired] != 1 {
		t.Errorf("dropped %v, want one auth-expired", st.Dropped)
	}
}

// cookieHeader returns c's cookies for base as a request header.
func cookieHeader(t testing.TB, c *http.Client, base string) http.Header {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, ck := range c.Jar.Cookies(u) {
		h.Add("Cookie", ck.String())
	}
	return h
}
