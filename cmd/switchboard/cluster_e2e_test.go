package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
	"github.com/switchboard/switchboard/monitor/fritz/fritztest"
	"github.com/switchboard/switchboard/monitor/history/pgtest"
)

// wallboard is an /events client as a wall screen is one: it records
// every call change and the seq of every change it gets, and resumes, on
// whichever node, from the last seq it had.
type wallboard struct {
	t *testing.T

	mu        sync.Mutex
	calls     map[monitor.CallID][]monitor.State
	last      map[monitor.CallID]monitor.Call
	connected map[monitor.SourceName]int    // "connected" statuses seen, by source
	node      map[monitor.SourceName]string // the node the last status of each source names
	epoch     string
	first     uint64   // the seq of its snapshot
	seq       uint64   // the last seq it had
	seqs      []uint64 // the seq of every change, in the order they came
	snapshots int
	bad       []string // a seq that did not grow, a second snapshot
	conn      *websocket.Conn
	done      chan struct{} // closed when conn's reader ends
}

func openWallboard(t *testing.T, ctx context.Context, base string) *wallboard {
	t.Helper()
	w := &wallboard{t: t, calls: map[monitor.CallID][]monitor.State{}, last: map[monitor.CallID]monitor.Call{},
		connected: map[monitor.SourceName]int{}, node: map[monitor.SourceName]string{}}
	w.dial(ctx, base, "")
	t.Cleanup(w.close)
	poll(t, ctx, "the snapshot of "+base+"events", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.snapshots == 1
	})
	return w
}

func (w *wallboard) dial(ctx context.Context, base, query string) {
	w.t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"events"+query,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + testToken}}})
	if err != nil {
		w.t.Fatalf("open %sevents%s: %v", base, query, err)
	}
	c.SetReadLimit(1 << 20)
	done := make(chan struct{})
	w.mu.Lock()
	w.conn, w.done = c, done
	w.mu.Unlock()
	go w.read(c, done)
}

func (w *wallboard) read(c *websocket.Conn, done chan struct{}) {
	defer close(done)
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			w.mu.Lock()
			w.bad = append(w.bad, fmt.Sprintf("bad message %s: %v", b, err))
			w.mu.Unlock()
			continue
		}
		w.mu.Lock()
		w.take(m)
		w.mu.Unlock()
	}
}

// take records m; w.mu held.
func (w *wallboard) take(m wsMsg) {
	if m.Type == "snapshot" {
		w.snapshots++
		if w.snapshots > 1 {
			w.bad = append(w.bad, fmt.Sprintf("a snapshot (seq %d) after seq %d: the resume was not served", m.Seq, w.seq))
		}
		w.first, w.seq, w.epoch = m.Seq, m.Seq, m.Epoch
		for _, c := range m.Calls {
			w.add(c)
		}
		for _, s := range m.Sources {
			w.node[s.Name] = s.Node
		}
		return
	}
	if m.Seq <= w.seq {
		w.bad = append(w.bad, fmt.Sprintf("%s seq %d after %d", m.Type, m.Seq, w.seq))
	}
	w.seq = m.Seq
	w.seqs = append(w.seqs, m.Seq)
	if m.Call != nil {
		w.add(*m.Call)
	}
	if m.Source != nil {
		w.node[m.Source.Name] = m.Source.Node
		if m.Source.State == monitor.LinkConnected {
			w.connected[m.Source.Name]++
		}
	}
}

// add records c's state unless it repeats the last one; w.mu held.
func (w *wallboard) add(c monitor.Call) {
	s := w.calls[c.ID]
	if len(s) == 0 || s[len(s)-1] != c.State {
		w.calls[c.ID] = append(s, c.State)
	}
	w.last[c.ID] = c
}

// dropped waits until the wallboard's socket is gone (its node died).
func (w *wallboard) dropped(ctx context.Context) {
	w.t.Helper()
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		w.t.Fatalf("the wallboard's socket is still open: %v", ctx.Err())
	}
}

// resume connects to base with the last seq and epoch it had, as the
// wallboard page does after losing its socket.
func (w *wallboard) resume(ctx context.Context, base string) {
	w.t.Helper()
	w.close()
	w.mu.Lock()
	q := fmt.Sprintf("?since=%d&epoch=%s", w.seq, url.QueryEscape(w.epoch))
	w.mu.Unlock()
	w.dial(ctx, base, q)
}

func (w *wallboard) close() {
	w.mu.Lock()
	c, done := w.conn, w.done
	w.mu.Unlock()
	_ = c.CloseNow()
	<-done
}

// statesOf returns the states the wallboard saw of call id.
func (w *wallboard) statesOf(id monitor.CallID) []monitor.State {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]monitor.State(nil), w.calls[id]...)
}

// call returns the last the wallboard saw of call id.
func (w *wallboard) call(id monitor.CallID) monitor.Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[id]
}

// callBy returns the id of the call of source from a number ending in
// number, if the wallboard saw one.
func (w *wallboard) callBy(source monitor.SourceName, number string) (monitor.CallID, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, c := range w.last {
		if c.Source == source && strings.HasSuffix(c.From.Number, number) {
			return id, true
		}
	}
	return "", false
}

// is reports whether the wallboard saw the call from number of source go
// through states, and no other.
func (w *wallboard) is(source monitor.SourceName, number string, states ...monitor.State) bool {
	id, ok := w.callBy(source, number)
	return ok && slices.Equal(w.statesOf(id), states)
}

// in reports whether the last the wallboard saw of the call from number
// of source is state.
func (w *wallboard) in(source monitor.SourceName, number string, state monitor.State) bool {
	id, ok := w.callBy(source, number)
	return ok && w.call(id).State == state
}

// wait asks cond every 10 ms until it holds (true) or ctx ends (false).
func (w *wallboard) wait(ctx context.Context, cond func(*wallboard) bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond(w) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// String lists the calls the wallboard saw, for a failure's message.
func (w *wallboard) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for id, c := range w.last {
		fmt.Fprintf(&b, "\n  %s %s from %q: %v %s %q", id, c.Source, c.From.Number, w.calls[id], c.Reason, c.Cause)
	}
	fmt.Fprintf(&b, "\n  seq %d, %d changes, %d snapshots, %v", w.seq, len(w.seqs), w.snapshots, w.bad)
	return b.String()
}

func (w *wallboard) callIDs() []monitor.CallID {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []monitor.CallID
	for id := range w.calls {
		out = append(out, id)
	}
	return out
}

// nodeOf is the node the wallboard's last status of source names.
func (w *wallboard) nodeOf(source monitor.SourceName) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.node[source]
}

func (w *wallboard) connectedCount(source monitor.SourceName) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.connected[source]
}

// changes returns the wallboard's first seq and last seq, and the seqs of
// the changes it got after from.
func (w *wallboard) changes(from uint64) (first, last uint64, after []uint64, bad []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seqs {
		if s > from {
			after = append(after, s)
		}
	}
	return w.first, w.seq, after, append([]string(nil), w.bad...)
}

// sameChanges waits until every wallboard has had the same last seq and
// checks that each got the same changes, one by one, since the latest
// snapshot among them: no gap, no duplicate, whichever node each is on
// and however often it resumed.
func sameChanges(t *testing.T, ctx context.Context, ws ...*wallboard) {
	t.Helper()
	poll(t, ctx, "every wallboard at the same seq", func() bool {
		var last []uint64
		for _, w := range ws {
			_, l, _, _ := w.changes(0)
			last = append(last, l)
		}
		return slices.Min(last) == slices.Max(last)
	})
	var from uint64
	for _, w := range ws {
		first, _, _, _ := w.changes(0)
		from = max(from, first)
	}
	_, _, want, _ := ws[0].changes(from)
	for i, w := range ws {
		_, _, got, bad := w.changes(from)
		if len(bad) > 0 {
			t.Errorf("wallboard %d: %s", i+1, strings.Join(bad, "; "))
		}
		if !slices.Equal(got, want) {
			t.Errorf("wallboard %d got the changes %v after seq %d, wallboard 1 %v", i+1, got, from, want)
		}
	}
	if len(want) == 0 {
		t.Errorf("no changes after seq %d", from)
	}
}

// pgCalls reads the history's calls from the PostgreSQL database itself,
// by id, and fails on a call stored more than once.
func pgCalls(t *testing.T, ctx context.Context, dsn string) map[monitor.CallID]monitor.Call {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id, call FROM calls")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[monitor.CallID]monitor.Call{}
	for rows.Next() {
		var id, js string
		if err := rows.Scan(&id, &js); err != nil {
			t.Fatal(err)
		}
		var c monitor.Call
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatalf("call %s: %v", id, err)
		}
		if _, dup := out[c.ID]; dup {
			t.Errorf("call %s is in the history twice", c.ID)
		}
		out[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pgActiveCalls counts the active calls the history keeps for a restart.
func pgActiveCalls(t *testing.T, ctx context.Context, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM active_calls").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sourceOwner is the node /healthz says connects source.
func sourceOwner(t *testing.T, ctx context.Context, base string, source monitor.SourceName) string {
	t.Helper()
	status, body := getWithToken(t, ctx, base+"healthz")
	if status != http.StatusOK {
		t.Fatalf("healthz: %d %s", status, body)
	}
	var h struct {
		Sources []struct {
			Name monitor.SourceName `json:"name"`
			Node string             `json:"node"`
		} `json:"sources"`
		Cluster struct {
			Connected bool `json:"connected"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.Sources {
		if s.Name == source {
			return s.Node
		}
	}
	return ""
}

// amiCall is Asterisk call n from extension from to 202: the caller's
// channel and the one it dials, as the manager reports them.
type amiCall struct{ a, b ami.Message }

func newAMICall(n int, from string) amiCall {
	id := fmt.Sprintf("1795424400.%d", 2*n)
	return amiCall{
		a: ami.M("Channel", fmt.Sprintf("PJSIP/%s-%08d", from, 2*n), "Uniqueid", id, "Linkedid", id, "CallerIDNum", from, "Exten", "202"),
		b: ami.M("Channel", fmt.Sprintf("PJSIP/202-%08d", 2*n+1), "Uniqueid", fmt.Sprintf("1795424400.%d", 2*n+1), "Linkedid", id, "CallerIDNum", "202"),
	}
}

func (c amiCall) bridge() string { return "b-" + c.a.Get("Uniqueid") }

// ring: the caller's channel starts and dials 202.
func (c amiCall) ring(pbx *amitest.Server) {
	pbx.Push(amiEvent("Newchannel", c.a, "ChannelStateDesc", "Ring"))
	pbx.Push(amiEvent("Newchannel", c.b, "ChannelStateDesc", "Down"))
	pbx.Push(ami.M("Event", "DialBegin", "Channel", c.a.Get("Channel"), "Uniqueid", c.a.Get("Uniqueid"),
		"DestChannel", c.b.Get("Channel"), "DestUniqueid", c.b.Get("Uniqueid"), "DestLinkedid", c.a.Get("Uniqueid"), "DestCallerIDNum", "202"))
}

// answer: 202 picks up and both join a bridge.
func (c amiCall) answer(pbx *amitest.Server) {
	pbx.Push(ami.M("Event", "DialEnd", "Channel", c.a.Get("Channel"), "Uniqueid", c.a.Get("Uniqueid"),
		"DestChannel", c.b.Get("Channel"), "DestUniqueid", c.b.Get("Uniqueid"), "DestLinkedid", c.a.Get("Uniqueid"), "DestCallerIDNum", "202",
		"DialStatus", "ANSWER"))
	for _, ch := range []ami.Message{c.b, c.a} {
		pbx.Push(ami.M("Event", "BridgeEnter", "BridgeUniqueid", c.bridge(), "Channel", ch.Get("Channel"), "Uniqueid", ch.Get("Uniqueid")))
	}
}

// hangup: both channels hang up.
func (c amiCall) hangup(pbx *amitest.Server) {
	for _, ch := range []ami.Message{c.a, c.b} {
		pbx.Push(amiEvent("Hangup", ch, "Cause", "16", "Cause-txt", "Normal Clearing"))
	}
}

// channels is what CoreShowChannels lists of the answered call.
func (c amiCall) channels() []ami.Message {
	return []ami.Message{
		append(ami.M("ChannelStateDesc", "Up", "BridgeId", c.bridge()), c.a...),
		append(ami.M("ChannelStateDesc", "Up", "BridgeId", c.bridge()), c.b...),
	}
}

// amiEvent is event about channel ch, its other fields kv.
func amiEvent(event string, ch ami.Message, kv ...string) ami.Message {
	return append(append(ami.M("Event", event), ch...), ami.M(kv...)...)
}

// TestServeThreeNodes runs three real `switchboard serve` processes
// joined through a NATS server with JetStream, sharing one PostgreSQL
// database (a throw-away cluster of the test's own), each configured
// with the same Fritz!Box and the same Asterisk, and a wallboard on each:
//
//   - one node connects each source, every wallboard's source status
//     names it (and the new owner after the takeover), and every
//     wallboard sees ring → connected → ended of every call of both; the
//     webhook gets each change once, not once per node;
//   - a sign-in made on node 1 is good on nodes 2 and 3; signing out on
//     node 2 ends it on the others;
//   - node 1, owning the sources, is killed with SIGKILL during a call of
//     each: the others take the sources over within the lease TTL (plus
//     NATS's expiry slack); the Fritz!Box call ends as failed "server
//     restarted" (the router cannot list its calls, and its DISCONNECT
//     after the takeover is of a call the new link never saw), the
//     Asterisk call goes on (CoreShowChannels) and ends as usual;
//   - node 1's wallboard resumes on node 2 with since and epoch and gets
//     exactly the changes the others got: no gap, no duplicate;
//   - NATS stopped and started again while calls ring and end loses none
//     of them; every wallboard gets them, in the same seq order;
//   - the PostgreSQL history has every ended call exactly once, and no
//     active call is left over.
func TestServeThreeNodes(t *testing.T) {
	pgtest.RequireBinaries(t)
	// Long enough for NATS to stop and start within four fifths of it
	// (the owners keep their leases through that), short for the takeover.
	const ttl = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	pg, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	dsn, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SB_TEST_PG_DSN", dsn)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw-anna"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	nats := natstest.Start(t)
	router := fritztest.New(t)
	pbx := amitest.New(t, "admin", "pw")
	hook := newHookReceiver(t, false, false)
	config := func(node string) string {
		return clusterNode{Name: node, NATS: nats.URL(), TTL: ttl, Fritz: router.Addr(), AMI: pbx.Addr(), Webhook: hook.srv.URL, Admin: string(hash), Postgres: true}.yaml(t)
	}
	n1 := startSwitchboard(t, config("n1"))
	poll(t, ctx, "node 1 to own both sources", func() bool {
		return sourceOwner(t, ctx, n1.url, "office") == "n1" && sourceOwner(t, ctx, n1.url, "pbx") == "n1"
	})
	n2, n3 := startSwitchboard(t, config("n2")), startSwitchboard(t, config("n3"))
	nodes := []*process{n1, n2, n3}
	for _, n := range nodes {
		poll(t, ctx, n.url+" to see node 1 own the sources", func() bool {
			return sourceOwner(t, ctx, n.url, "office") == "n1" && sourceOwner(t, ctx, n.url, "pbx") == "n1"
		})
	}
	w1, w2, w3 := openWallboard(t, ctx, n1.url), openWallboard(t, ctx, n2.url), openWallboard(t, ctx, n3.url)
	walls := []*wallboard{w1, w2, w3}
	waitAll := func(what string, ws []*wallboard, cond func(w *wallboard) bool) {
		t.Helper()
		for i, w := range ws {
			if !w.wait(ctx, cond) {
				t.Fatalf("waiting for %s on wallboard %d: %v; it saw %s", what, i+1, ctx.Err(), w)
			}
		}
	}
	// Every wallboard, on whichever node, says node 1 connects the sources.
	waitAll("the sources' statuses to name node 1", walls, func(w *wallboard) bool {
		return w.nodeOf("office") == "n1" && w.nodeOf("pbx") == "n1"
	})
	ringConnectedEnded := []monitor.State{monitor.Ringing, monitor.Connected, monitor.Ended}
	stamp := func() string { return time.Now().UTC().Format("02.01.06 15:04:05") }

	// Signed in on node 1 with the sign-in form, the cookie works on
	// every node; signed out on node 2 (with its page's CSRF token), it
	// works on none.
	secret := sessionSecret(t, signIn(t, ctx, n1.url, "anna", "pw-anna"), n1.url)
	for _, n := range nodes {
		if status, _ := withSession(t, ctx, http.MethodGet, n.url+"api/today", secret, nil); status != http.StatusOK {
			t.Fatalf("%s with node 1's cookie: %d, want 200", n.url, status)
		}
	}
	status, page := withSession(t, ctx, http.MethodGet, n2.url+"history", secret, nil)
	_, after, found := strings.Cut(page, `name="csrf-token" content="`)
	token, _, _ := strings.Cut(after, `"`)
	if status != http.StatusOK || !found || token == "" {
		t.Fatalf("node 2's page: %d, csrf token found %v", status, found)
	}
	if status, _ := withSession(t, ctx, http.MethodPost, n2.url+"logout", secret, url.Values{"csrf": {token}}); status != http.StatusSeeOther {
		t.Fatalf("logout on node 2: %d, want 303", status)
	}
	for _, n := range nodes {
		if status, _ := withSession(t, ctx, http.MethodGet, n.url+"api/today", secret, nil); status != http.StatusUnauthorized {
			t.Fatalf("%s after the logout on node 2: %d, want 401", n.url, status)
		}
	}

	// A call of each source rings, is answered and ends.
	router.Send(stamp() + ";RING;1;0301111;5551234;SIP1;")
	router.Send(stamp() + ";CONNECT;1;11;0301111;")
	router.Send(stamp() + ";DISCONNECT;1;5;")
	a1 := newAMICall(1, "211")
	a1.ring(pbx)
	a1.answer(pbx)
	a1.hangup(pbx)
	waitAll("both calls ringing, connected, ended", walls, func(w *wallboard) bool {
		return w.is("office", "301111", ringConnectedEnded...) && w.is("pbx", "211", ringConnectedEnded...)
	})
	// Each node's /metrics: node 1 took both leases, the others none, and
	// each has its wallboard's /events socket.
	for _, m := range []struct {
		n    *process
		name string
		want float64
	}{
		{n1, `switchboard_cluster_lease_changes_total{change="acquired"}`, 2},
		{n1, "switchboard_cluster_leases_held", 2},
		{n2, `switchboard_cluster_lease_changes_total{change="acquired"}`, 0},
		{n2, "switchboard_cluster_leases_held", 0},
		{n3, "switchboard_cluster_leases_held", 0},
		{n1, "switchboard_cluster_connected", 1},
		{n2, "switchboard_cluster_connected", 1},
		{n3, "switchboard_cluster_connected", 1},
		{n1, `switchboard_events_subscribers{node="n1"}`, 1},
		{n2, `switchboard_events_subscribers{node="n2"}`, 1},
		{n3, `switchboard_events_subscribers{node="n3"}`, 1},
	} {
		if got := metric(t, ctx, m.n.url, m.name); got != m.want {
			t.Fatalf("%s on %s = %v, want %v", m.name, m.n.url, got, m.want)
		}
	}
	f1, _ := w1.callBy("office", "301111")
	poll(t, ctx, "the webhook to get the call's end", func() bool { _, ok := hook.ended(f1); return ok })
	// Nodes 2 and 3 try for the leases meanwhile, and must not get them;
	// a second node's webhook posts would be here by then.
	time.Sleep(ttl)
	if r, p := router.Accepted(), pbx.Accepted(); r != 1 || p != 1 {
		t.Fatalf("the Fritz!Box was connected %d times, the Asterisk %d, want once each (by node 1)", r, p)
	}
	hook.mu.Lock()
	var posted []monitor.State
	for _, c := range hook.calls {
		if c.ID == f1 {
			posted = append(posted, c.State)
		}
	}
	hook.mu.Unlock()
	if !slices.Equal(posted, ringConnectedEnded) {
		t.Fatalf("the webhook got %v of the call, want %v (once per cluster)", posted, ringConnectedEnded)
	}

	// Node 1 is killed while a call of each source is up.
	router.Send(stamp() + ";RING;2;0302222;5551234;SIP1;")
	router.Send(stamp() + ";CONNECT;2;12;0302222;")
	a2 := newAMICall(2, "212")
	a2.ring(pbx)
	a2.answer(pbx)
	pbx.SetChannels(a2.channels()...)
	waitAll("both calls connected", walls, func(w *wallboard) bool {
		return w.in("office", "302222", monitor.Connected) && w.in("pbx", "212", monitor.Connected)
	})
	ramp, pamp := router.Accepted(), pbx.Accepted()
	reconnects := map[*wallboard]int{}
	for _, w := range walls {
		reconnects[w] = w.connectedCount("pbx")
	}
	if err := n1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-n1.done
	wctx, wcancel := context.WithTimeout(ctx, ttl+2*time.Second)
	defer wcancel()
	if _, err := router.WaitAccepted(wctx, ramp); err != nil {
		t.Fatalf("nobody connected the Fritz!Box within %s of node 1's death: %v", ttl+2*time.Second, err)
	}
	t.Logf("the Fritz!Box was connected again %s after node 1 was killed (lease_ttl %s)", time.Since(killed).Round(10*time.Millisecond), ttl)
	if _, err := pbx.WaitAccepted(wctx, pamp); err != nil {
		t.Fatalf("nobody connected the Asterisk within %s of node 1's death: %v", ttl+2*time.Second, err)
	}
	live := []*process{n2, n3}
	owners := map[monitor.SourceName]string{}
	for _, src := range []monitor.SourceName{"office", "pbx"} {
		poll(t, ctx, "nodes 2 and 3 to agree who owns "+string(src), func() bool {
			o := sourceOwner(t, ctx, n2.url, src)
			owners[src] = o
			return (o == "n2" || o == "n3") && sourceOwner(t, ctx, n3.url, src) == o
		})
	}
	t.Logf("after the takeover: office on %s, pbx on %s", owners["office"], owners["pbx"])
	waitAll("the sources' statuses to name their new nodes", walls[1:], func(w *wallboard) bool {
		return w.nodeOf("office") == owners["office"] && w.nodeOf("pbx") == owners["pbx"]
	})
	w1.dropped(ctx)
	waitAll("the Fritz!Box call ended, the Asterisk call's source connected again", walls[1:], func(w *wallboard) bool {
		return w.in("office", "302222", monitor.Ended) && w.connectedCount("pbx") > reconnects[w]
	})
	// The Fritz!Box's DISCONNECT of the call comes over the new owner's
	// link, which never saw it; the call after it goes as usual.
	router.Send(stamp() + ";DISCONNECT;2;30;")
	router.Send(stamp() + ";RING;3;0303333;5551234;SIP1;")
	router.Send(stamp() + ";CONNECT;3;13;0303333;")
	router.Send(stamp() + ";DISCONNECT;3;4;")
	pbx.SetChannels()
	a2.hangup(pbx)
	waitAll("the calls after the takeover", walls[1:], func(w *wallboard) bool {
		return w.is("office", "303333", ringConnectedEnded...) && w.is("pbx", "212", ringConnectedEnded...)
	})
	for i, w := range walls[1:] {
		f2, _ := w.callBy("office", "302222")
		if c := w.call(f2); !slices.Equal(w.statesOf(f2), ringConnectedEnded) || c.Reason != monitor.ReasonFailed || c.Cause != monitor.CauseServerRestarted {
			t.Errorf("wallboard %d: the Fritz!Box call of the killed node went %v, ended %s %q; want %v, failed %q",
				i+2, w.statesOf(f2), c.Reason, c.Cause, ringConnectedEnded, monitor.CauseServerRestarted)
		}
		a, _ := w.callBy("pbx", "212")
		if c := w.call(a); c.Reason != monitor.ReasonCompleted {
			t.Errorf("wallboard %d: the Asterisk call that went on ended %s %q, want completed", i+2, c.Reason, c.Cause)
		}
	}

	// Node 1's wallboard resumes on node 2 where it left off.
	w1.resume(ctx, n2.url)
	sameChanges(t, ctx, walls...)

	// NATS stops while calls ring and end, and starts again.
	router.Send(stamp() + ";RING;4;0304444;5551234;SIP1;")
	waitAll("a call ringing", walls, func(w *wallboard) bool { return w.in("office", "304444", monitor.Ringing) })
	nats.Stop()
	router.Send(stamp() + ";CONNECT;4;14;0304444;")
	router.Send(stamp() + ";DISCONNECT;4;3;")
	router.Send(stamp() + ";RING;5;0305555;5551234;SIP1;")
	router.Send(stamp() + ";DISCONNECT;5;0;")
	a3 := newAMICall(3, "213")
	a3.ring(pbx)
	a3.answer(pbx)
	a3.hangup(pbx)
	nats.StartAgain()
	waitAll("the calls made while NATS was down", walls, func(w *wallboard) bool {
		return w.is("office", "304444", ringConnectedEnded...) && w.is("office", "305555", monitor.Ringing, monitor.Ended) &&
			w.is("pbx", "213", ringConnectedEnded...)
	})
	sameChanges(t, ctx, walls...)
	for _, n := range live {
		for src, o := range owners {
			if got := sourceOwner(t, ctx, n.url, src); got != o {
				t.Errorf("after the NATS restart %s says %s is owned by %q, want %q", n.url, src, got, o)
			}
		}
	}

	// Every ended call is in the history once, as the wallboards saw it
	// end, and none is left active.
	ended := map[monitor.CallID]monitor.Call{}
	for _, id := range w2.callIDs() {
		if c := w2.call(id); c.State == monitor.Ended {
			ended[id] = c
		}
	}
	if len(ended) != 8 {
		t.Fatalf("wallboard 2 saw %d calls end, want 8", len(ended))
	}
	poll(t, ctx, "every ended call in the history", func() bool { return len(pgCalls(t, ctx, dsn)) >= len(ended) })
	poll(t, ctx, "no active call left in the history", func() bool { return pgActiveCalls(t, ctx, dsn) == 0 })
	h := pgCalls(t, ctx, dsn)
	for id, c := range ended {
		if s, ok := h[id]; !ok || s.Reason != c.Reason || s.Cause != c.Cause || !s.Started.Equal(c.Started) {
			t.Errorf("call %s in the history: %+v (found %v), want %s %q started %v", id, s, ok, c.Reason, c.Cause, c.Started)
		}
	}
	if len(h) != len(ended) {
		t.Errorf("%d calls in the history, want %d", len(h), len(ended))
	}
}
