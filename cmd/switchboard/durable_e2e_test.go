package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
)

// serveChildEnv names the configuration a re-executed test binary serves,
// as `switchboard serve --config FILE` does, until it is killed.
const serveChildEnv = "SWITCHBOARD_TEST_SERVE_CONFIG"

// TestServeChild is the child half of the tests that kill a server: it
// runs the switchboard command itself (`switchboard serve --config
// FILE`). Run directly, it does nothing.
func TestServeChild(t *testing.T) {
	path := os.Getenv(serveChildEnv)
	if path == "" {
		t.Skip("child of the tests that kill a running server")
	}
	os.Args = []string{"switchboard", "serve", "--config", path}
	main()
	os.Exit(0)
}

// child is a `switchboard serve` process.
type child struct {
	cmd    *exec.Cmd
	url    string
	logs   *strings.Builder
	logsMu *sync.Mutex
	read   chan struct{} // closed when stderr is drained
}

// startChild starts `switchboard serve --config path` in its own
// process and waits until it listens.
func startChild(t *testing.T, ctx context.Context, path string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, logs: &strings.Builder{}, logsMu: &sync.Mutex{}, read: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		defer close(c.read)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			c.logsMu.Lock()
			c.logs.WriteString(line + "\n")
			c.logsMu.Unlock()
			if u, ok := strings.CutPrefix(line, "Switchboard is running at "); ok {
				urls <- u
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		<-c.read
		if t.Failed() {
			t.Logf("server %d log:\n%s", cmd.Process.Pid, c.log())
		}
	})
	select {
	case c.url = <-urls:
	case <-c.read:
		t.Fatalf("server exited before listening:\n%s", c.log())
	case <-ctx.Done():
		t.Fatalf("server not ready:\n%s", c.log())
	}
	return c
}

func (c *child) log() string {
	c.logsMu.Lock()
	defer c.logsMu.Unlock()
	return c.logs.String()
}

// kill ends the server with SIGKILL: no deferred function, no drain, no
// flush gets to run.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	state, _ := c.cmd.Process.Wait()
	if state == nil || state.Success() {
		t.Fatalf("server was not killed: %v", state)
	}
	<-c.read
}

// stop ends the server as ^C does, and waits for it to exit cleanly.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	state, _ := c.cmd.Process.Wait()
	<-c.read
	if state == nil || !state.Success() {
		t.Fatalf("server did not stop cleanly: %v\n%s", state, c.log())
	}
}

// metric reads one sample of the server's /metrics.
func metric(t *testing.T, ctx context.Context, url, name string) float64 {
	t.Helper()
	status, body := getWithToken(t, ctx, url+"metrics")
	if status != http.StatusOK {
		t.Fatalf("metrics: %d", status)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// poll asks cond every 10 ms until it holds or ctx ends.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}

// historyCalls returns the server's saved calls by id, and fails on an id
// saved twice.
func historyCalls(t *testing.T, ctx context.Context, url string) map[monitor.CallID]monitor.Call {
	t.Helper()
	status, body := getWithToken(t, ctx, url+"api/history?limit=500")
	if status != http.StatusOK {
		t.Fatalf("history: %d %s", status, body)
	}
	var page struct {
		Calls []monitor.Call `json:"calls"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	out := map[monitor.CallID]monitor.Call{}
	for _, c := range page.Calls {
		if _, dup := out[c.ID]; dup {
			t.Errorf("call %s is in the history twice", c.ID)
		}
		out[c.ID] = c
	}
	return out
}

// TestServeKilledDuringCallsLosesNoCall kills (SIGKILL) a real
// `switchboard serve` while a Fritz!Box call rings and two Asterisk calls
// are up, and starts it again on the same data directory: the Asterisk
// call the PBX still has goes on under its id, with its first start; the
// one the PBX ended meanwhile and the Fritz!Box call (its router cannot
// list calls) end as failed "server restarted"; every call ends up in
// the history, once.
func TestServeKilledDuringCallsLosesNoCall(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	router := fritztest.New(t)
	pbx := amitest.New(t, "admin", "pw")
	dir := t.TempDir()
	path := filepath.Join(dir, "switchboard.yaml")
	conf := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
log_level: debug
sources:
  - name: home
    type: fritz
    address: %s
    location: UTC
    reconnect_min: 20ms
    reconnect_max: 200ms
  - name: pbx
    type: ami
    address: %s
    username: admin
    secret: pw
    ping_interval: 1h
    reconnect_min: 20ms
    reconnect_max: 200ms
tokens:
  - name: test
    token: %s
    role: viewer
`, filepath.Join(dir, "data"), router.Addr(), pbx.Addr(), testToken)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	first := startChild(t, ctx, path)
	ev := dialEvents(t, ctx, first.url, "")
	connected := map[monitor.SourceName]bool{}
	changes := 0
	ev.until(ctx, "both sources connected", func(m wsMsg) bool {
		for _, s := range m.Sources {
			connected[s.Name] = s.State == monitor.LinkConnected
		}
		if m.Type == "source" {
			connected[m.Source.Name] = m.Source.State == monitor.LinkConnected
		}
		return connected["home"] && connected["pbx"]
	})
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	router.Send(now.Format("02.01.06 15:04:05") + ";RING;0;01701234567;5551234;SIP0;")
	stillUp := ami.M("Channel", "PJSIP/201-00000001", "Uniqueid", "1795424400.1", "Linkedid", "1795424400.1",
		"CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up")
	endsMeanwhile := ami.M("Channel", "PJSIP/203-00000002", "Uniqueid", "1795424400.2", "Linkedid", "1795424400.2",
		"CallerIDNum", "203", "Exten", "204", "ChannelStateDesc", "Ring")
	pbx.SetChannels(stillUp, endsMeanwhile)
	for _, ch := range []ami.Message{stillUp, endsMeanwhile} {
		pbx.Push(append(ami.M("Event", "Newchannel"), ch...))
	}
	active := map[monitor.CallID]monitor.Call{}
	ev.until(ctx, "three calls active", func(m wsMsg) bool {
		if m.Type == "call" {
			changes++
			active[m.Call.ID] = *m.Call
		}
		return len(active) == 3
	})
	// Every change the hub published is saved (an active call into the
	// history's active calls) before the kill.
	poll(t, ctx, "the active calls saved", func() bool {
		return metric(t, ctx, first.url, "switchboard_history_saved_total") >= float64(changes)
	})
	first.kill(t)

	// While the server is down the PBX ends one of its calls.
	pbx.SetChannels(stillUp)
	second := startChild(t, ctx, path)
	var fritzID, upID, goneID monitor.CallID
	for id, c := range active {
		switch {
		case c.Source == "home":
			fritzID = id
		case c.From.Number == "201":
			upID = id
		default:
			goneID = id
		}
	}
	poll(t, ctx, "the calls nobody took over in the history", func() bool {
		h := historyCalls(t, ctx, second.url)
		return len(h) == 2
	})
	h := historyCalls(t, ctx, second.url)
	for _, id := range []monitor.CallID{fritzID, goneID} {
		c, ok := h[id]
		if !ok || c.Reason != monitor.ReasonFailed || c.Cause != monitor.CauseServerRestarted || !c.Started.Equal(active[id].Started) {
			t.Errorf("call %s after the restart: %+v, want failed, server restarted, started %v", id, c, active[id].Started)
		}
	}
	status, body := getWithToken(t, ctx, second.url+"api/calls")
	if status != http.StatusOK {
		t.Fatalf("calls: %d", status)
	}
	var snap struct {
		Calls []monitor.Call `json:"calls"`
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Calls) != 1 || snap.Calls[0].ID != upID || !snap.Calls[0].Started.Equal(active[upID].Started) || snap.Calls[0].State != monitor.Connected {
		t.Fatalf("active after the restart: %+v, want %s going on, connected, started %v", snap.Calls, upID, active[upID].Started)
	}

	// The call that went on ends as usual, and is saved once.
	pbx.Push(append(ami.M("Event", "Hangup", "Cause", "16", "Cause-txt", "Normal Clearing"), stillUp...))
	poll(t, ctx, "the call that went on saved", func() bool { return len(historyCalls(t, ctx, second.url)) == 3 })
	if c := historyCalls(t, ctx, second.url)[upID]; c.Reason != monitor.ReasonCompleted || !c.Started.Equal(active[upID].Started) {
		t.Errorf("the call that went on ended %+v, want completed with its first start", c)
	}
	second.stop(t)
}

// TestServeUnwritableHistoryDegradedAndRecovers holds the history
// database's write lock from outside (as a backup or a sqlite3 shell left
// open would): a call that ends meanwhile is not lost, /healthz says
// degraded in plain words, and once the lock is let go the call is in
// the history and /healthz says ok.
func TestServeUnwritableHistoryDegradedAndRecovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	router := fritztest.New(t)
	dir := t.TempDir()
	url := startServerIn(t, router, "", dir)
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "history.db")+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			_, _ = lock.ExecContext(context.Background(), "ROLLBACK")
		}
	}()

	now := time.Now().UTC().Format("02.01.06 15:04:05")
	router.Send(now + ";RING;4;0409876;5551234;SIP0;")
	router.Send(now + ";DISCONNECT;4;0;")
	var health struct {
		Status  string `json:"status"`
		History *struct {
			OK      bool   `json:"ok"`
			Problem string `json:"problem"`
			Spooled int    `json:"spooled"`
		} `json:"history"`
	}
	readHealth := func() string {
		t.Helper()
		resp, err := http.Get(url + "healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &health); err != nil {
			t.Fatalf("healthz %s: %v", body, err)
		}
		return string(body)
	}
	// The first write waits out SQLite's busy timeout (10 s) before it
	// fails; from then on changes go straight to the spool.
	poll(t, ctx, "healthz degraded", func() bool {
		readHealth()
		return health.Status == "degraded" && health.History != nil && health.History.Spooled == 2
	})
	if body := readHealth(); strings.Contains(body, dir) || strings.Contains(body, "history.db") || !strings.Contains(health.History.Problem, "cannot be written") {
		t.Fatalf("healthz without sign-in: %s", body)
	}
	if n := metric(t, ctx, url, "switchboard_history_writable"); n != 0 {
		t.Errorf("writable %v while locked", n)
	}

	if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	poll(t, ctx, "healthz ok", func() bool { readHealth(); return health.Status == "ok" })
	calls := historyCalls(t, ctx, url)
	if len(calls) != 1 {
		t.Fatalf("history after the lock was let go: %v", calls)
	}
	for _, c := range calls {
		if c.From.Number != "0409876" || c.Reason != monitor.ReasonNoAnswer {
			t.Fatalf("saved %+v", c)
		}
	}
}

// TestServeTwoFritzCallsInOneSecondAreTwoRows: a missed call and an
// instant redial on the same connection id in the same second are two
// calls in the history.
func TestServeTwoFritzCallsInOneSecondAreTwoRows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	router := fritztest.New(t)
	url := startServer(t, router)
	if err := router.WaitConn(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format("02.01.06 15:04:05")
	for _, l := range []string{";RING;0;0301777;5551234;SIP0;", ";DISCONNECT;0;0;", ";RING;0;0301777;5551234;SIP0;", ";CONNECT;0;10;0301777;", ";DISCONNECT;0;0;"} {
		router.Send(now + l)
	}
	poll(t, ctx, "two calls saved", func() bool { return len(historyCalls(t, ctx, url)) == 2 })
	reasons := map[monitor.Reason]int{}
	for _, c := range historyCalls(t, ctx, url) {
		reasons[c.Reason]++
	}
	if reasons[monitor.ReasonNoAnswer] != 1 || reasons[monitor.ReasonCompleted] != 1 {
		t.Fatalf("reasons %v, want one missed and one answered call", reasons)
	}
}
