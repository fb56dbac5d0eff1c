package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

const testToken = "0123456789abcdef-wallboard"

// startServer runs the whole server (hub, history, a Fritz!Box source
// reading from router, web) on a free loopback port and returns its URL.
func startServer(t *testing.T, router *fritztest.Server) string {
	t.Helper()
	return startServerWith(t, router, "")
}

// startServerWith adds extra YAML (users, say) to the test configuration.
func startServerWith(t *testing.T, router *fritztest.Server, extra string) string {
	t.Helper()
	return startServerIn(t, router, extra, t.TempDir())
}

// startServerIn is startServerWith keeping its data in dataDir.
func startServerIn(t *testing.T, router *fritztest.Server, extra, dataDir string) string {
	t.Helper()
	text := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
sources:
  - name: home
    type: fritz
    address: %s
    location: UTC
    reconnect_min: 20ms
    reconnect_max: 200ms
    link_grace: 100ms
    health_interval: 2s
tokens:
  - name: test
    token: %s
    role: viewer
`, dataDir, router.Addr(), testToken) + extra
	cfg, err := parseConfig([]byte(text), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, newLogger(8), func(url string) { ready <- url }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case url := <-ready:
		return url
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server not ready")
	}
	return ""
}

type wsMsg struct {
	Type    string                 `json:"type"`
	Seq     uint64                 `json:"seq"`
	Epoch   string                 `json:"epoch"`
	Calls   []monitor.Call         `json:"calls"`
	Sources []monitor.SourceStatus `json:"sources"`
	Call    *monitor.Call          `json:"call"`
	Source  *monitor.SourceStatus  `json:"source"`
}

type eventsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialEvents(t *testing.T, ctx context.Context, url, query string) *eventsClient {
	t.Helper()
	ws := "ws" + strings.TrimPrefix(url, "http") + "events" + query
	c, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
	if err != nil {
		t.Fatalf("dial %s: %v", ws, err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &eventsClient{t: t, conn: c}
}

// until reads messages until match accepts one, and returns it.
func (e *eventsClient) until(ctx context.Context, what string, match func(m wsMsg) bool) wsMsg {
	e.t.Helper()
	for {
		_, b, err := e.conn.Read(ctx)
		if err != nil {
			e.t.Fatalf("waiting for %s: %v", what, err)
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			e.t.Fatalf("bad message %s: %v", b, err)
		}
		if match(m) {
			return m
		}
	}
}

func sourceIs(state monitor.LinkState) func(wsMsg) bool {
	return func(m wsMsg) bool {
		if m.Type == "source" {
			return m.Source.Name == "home" && m.Source.State == state
		}
		for _, s := range m.Sources {
			if s.Name == "home" && s.State == state {
				return true
			}
		}
		return false
	}
}

func callIs(number string, state monitor.State) func(wsMsg) bool {
	return func(m wsMsg) bool {
		return m.Type == "call" && m.Call.From.Number == number && m.Call.State == state
	}
}

// TestServeEndToEnd follows a call from a real TCP call-monitor stream to
// a WebSocket subscriber and into the history, across a router restart.
func TestServeEndToEnd(t *testing.T) {
	router := fritztest.New(t)
	url := startServer(t, router)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ev := dialEvents(t, ctx, url, "")
	snap := ev.until(ctx, "snapshot", func(m wsMsg) bool { return m.Type == "snapshot" })
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	if !sourceIs(monitor.LinkConnected)(snap) {
		ev.until(ctx, "source connected", sourceIs(monitor.LinkConnected))
	}

	now := time.Now().UTC()
	stamp := func(d time.Duration) string { return now.Add(d).Format("02.01.06 15:04:05") }
	router.Send(stamp(0) + ";RING;0;01701234567;5551234;SIP0;")
	ev.until(ctx, "ringing", callIs("01701234567", monitor.Ringing))
	router.Send(stamp(3*time.Second) + ";CONNECT;0;10;01701234567;")
	ev.until(ctx, "connected", callIs("01701234567", monitor.Connected))
	router.Send(stamp(63*time.Second) + ";DISCONNECT;0;60;")
	end := ev.until(ctx, "ended", callIs("01701234567", monitor.Ended))
	if end.Call.Reason != monitor.ReasonCompleted || end.Call.Duration != 60 || end.Call.Direction != monitor.Inbound {
		t.Fatalf("ended call = %+v", end.Call)
	}

	// A subscriber resuming just before the end gets only what it missed,
	// without a snapshot.
	resumed := dialEvents(t, ctx, url, fmt.Sprintf("?since=%d&epoch=%s", end.Seq-1, snap.Epoch))
	first := resumed.until(ctx, "resumed event", func(wsMsg) bool { return true })
	if first.Type != "call" || first.Seq != end.Seq || first.Call.State != monitor.Ended {
		t.Fatalf("resume started with %+v, want the missed end (seq %d)", first, end.Seq)
	}

	// The router reboots: the link stays down longer than link_grace, a
	// ringing call ends as failed instead of ringing forever, and the
	// source comes back.
	router.Send(stamp(70*time.Second) + ";RING;1;030999;5551234;SIP0;")
	ev.until(ctx, "second call ringing", callIs("030999", monitor.Ringing))
	router.Stop()
	ev.until(ctx, "source down", sourceIs(monitor.LinkDown))
	failed := ev.until(ctx, "second call ended", callIs("030999", monitor.Ended))
	if failed.Call.Reason != monitor.ReasonFailed || failed.Call.Cause != monitor.CauseLinkLost {
		t.Fatalf("call at link loss ended %s %q, want failed, link lost", failed.Call.Reason, failed.Call.Cause)
	}
	router.Restart()
	ev.until(ctx, "source connected again", sourceIs(monitor.LinkConnected))

	// The answered call reaches the history. The history saves from its
	// own queue, after the hub has moved on, so the test asks until it is
	// there.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		status, body := getWithToken(t, ctx, url+"api/history?number=0170")
		if status != http.StatusOK {
			t.Fatalf("history: %d %s", status, body)
		}
		if strings.Contains(body, string(end.Call.ID)) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("the ended call never reached the history: %s", body)
		}
	}
}

// getWithToken GETs url with the test token.
func getWithToken(t *testing.T, ctx context.Context, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
