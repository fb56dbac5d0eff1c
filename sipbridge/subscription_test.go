package sipbridge

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// fakeNotifier is an in-process registrar and notifier on a loopback UDP
// socket: it answers REGISTER with 200, hands every SUBSCRIBE to the test
// (which answers it with respond), sends NOTIFYs and collects the answers
// to them. It is the counterpart for the state machine's timing cases;
// the real notifier is kamailio (blf_kamailio_test.go) and sipp
// (blf_sipp_test.go).
type fakeNotifier struct {
	t    *testing.T
	conn *net.UDPConn
	subs chan *sip.Request
	// answers carries the responses to our NOTIFYs.
	answers chan *sip.Response
	wg      sync.WaitGroup
	cseq    int
	// silentOK makes notify return 0 for a NOTIFY nobody answers (one
	// the bridge drops) instead of failing.
	silentOK bool
}

func startFakeNotifier(t *testing.T) *fakeNotifier {
	t.Helper()
	return startFakeNotifierOn(t, net.IPv4(127, 0, 0, 1))
}

// startFakeNotifierOn is startFakeNotifier on another loopback address.
func startFakeNotifierOn(t *testing.T, ip net.IP) *fakeNotifier {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNotifier{t: t, conn: conn, subs: make(chan *sip.Request, 32), answers: make(chan *sip.Response, 32)}
	n.wg.Add(1)
	go n.read()
	t.Cleanup(func() {
		conn.Close()
		n.wg.Wait()
	})
	return n
}

func (n *fakeNotifier) addr() string { return n.conn.LocalAddr().String() }

func (n *fakeNotifier) read() {
	defer n.wg.Done()
	buf := make([]byte, 65535)
	for {
		k, from, err := n.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:k]...))
		if err != nil {
			continue
		}
		switch m := msg.(type) {
		case *sip.Request:
			m.SetSource(from.String())
			switch m.Method {
			case sip.REGISTER:
				res := sip.NewResponseFromRequest(m, 200, "OK", nil)
				res.AppendHeader(sip.NewHeader("Expires", "600"))
				n.send(res, from.String())
			case sip.SUBSCRIBE:
				n.subs <- m
			default:
				n.send(sip.NewResponseFromRequest(m, 200, "OK", nil), from.String())
			}
		case *sip.Response:
			n.answers <- m
		}
	}
}

func (n *fakeNotifier) send(m sip.Message, to string) {
	addr, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		n.t.Errorf("fake notifier: %v", err)
		return
	}
	if _, err := n.conn.WriteToUDP([]byte(m.String()), addr); err != nil && !errors.Is(err, net.ErrClosed) {
		n.t.Errorf("fake notifier: %v", err)
	}
}

// next returns the next SUBSCRIBE; it fails when none comes in d.
func (n *fakeNotifier) next(d time.Duration) *sip.Request {
	n.t.Helper()
	select {
	case r := <-n.subs:
		return r
	case <-time.After(d):
		n.t.Fatalf("no SUBSCRIBE in %v", d)
	}
	return nil
}

// none checks that no SUBSCRIBE comes in d.
func (n *fakeNotifier) none(d time.Duration) {
	n.t.Helper()
	select {
	case r := <-n.subs:
		n.t.Fatalf("unexpected SUBSCRIBE (Expires %s)\n%s", hdr(r, "Expires"), r)
	case <-time.After(d):
	}
}

// respond answers req with status; a 2xx gets our To tag, a Contact and
// Expires expires.
func (n *fakeNotifier) respond(req *sip.Request, status int, expires int, extra ...sip.Header) {
	res := sip.NewResponseFromRequest(req, status, statusText(status), nil)
	if status < 300 {
		// sipgo gives a 2xx a To tag of its own: ours replaces it, so that
		// the NOTIFYs name the dialog the answer made.
		if to := res.To(); to != nil && toTag(req.To()) == "" {
			to.Params.Add("tag", "notifier1")
		}
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: n.conn.LocalAddr().(*net.UDPAddr).Port}})
		res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	}
	for _, h := range extra {
		res.AppendHeader(h)
	}
	n.send(res, req.Source())
}

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 401:
		return "Unauthorized"
	case 481:
		return "Subscription Does Not Exist"
	}
	return "Status"
}

// challenge answers req with a 401 digest challenge.
func (n *fakeNotifier) challenge(req *sip.Request) {
	n.respond(req, 401, 0, sip.NewHeader("WWW-Authenticate", `Digest realm="127.0.0.1", nonce="abc123", algorithm=MD5`))
}

// notify sends a NOTIFY in req's subscription and returns the answer's
// status. tag is the notifier's dialog tag.
func (n *fakeNotifier) notify(req *sip.Request, tag, state, body string) int {
	n.t.Helper()
	ct := req.Contact()
	if ct == nil {
		n.t.Fatal("SUBSCRIBE without Contact")
	}
	nt := sip.NewRequest(sip.NOTIFY, *ct.Address.Clone())
	n.cseq++
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1",
		Port: n.conn.LocalAddr().(*net.UDPAddr).Port, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	nt.AppendHeader(via)
	from := &sip.FromHeader{Address: req.To().Address, Params: sip.NewParams()}
	from.Params.Add("tag", tag)
	nt.AppendHeader(from)
	nt.AppendHeader(&sip.ToHeader{Address: req.From().Address, Params: req.From().Params.Clone()})
	callID := *req.CallID()
	nt.AppendHeader(&callID)
	nt.AppendHeader(&sip.CSeqHeader{SeqNo: uint32(n.cseq), MethodName: sip.NOTIFY})
	mf := sip.MaxForwardsHeader(70)
	nt.AppendHeader(&mf)
	nt.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: n.conn.LocalAddr().(*net.UDPAddr).Port}})
	nt.AppendHeader(sip.NewHeader("Event", "dialog"))
	nt.AppendHeader(sip.NewHeader("Subscription-State", state))
	if body != "" {
		nt.AppendHeader(sip.NewHeader("Content-Type", dialogInfoType))
	}
	nt.SetBody([]byte(body))
	dest := fmt.Sprintf("%s:%d", ct.Address.Host, ct.Address.Port)
	n.send(nt, dest)
	select {
	case res := <-n.answers:
		return res.StatusCode
	case <-time.After(n.answerWait()):
		if n.silentOK {
			return 0
		}
		n.t.Fatal("NOTIFY not answered")
	}
	return 0
}

// answerWait is how long notify waits for the answer.
func (n *fakeNotifier) answerWait() time.Duration {
	if n.silentOK {
		return time.Second
	}
	return 5 * time.Second
}

func hdr(r *sip.Request, name string) string {
	if h := r.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// docOf is a full dialog-info document with one dialog in state (none
// when state is empty).
func docOf(version int, state, direction, remote string) string {
	d := ""
	if state != "" {
		d = `<dialog id="d1" direction="` + direction + `"><state>` + state + `</state><remote><identity>sip:` + remote + `@pbx</identity></remote></dialog>`
	}
	return `<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="` + strconv.Itoa(version) +
		`" state="full" entity="sip:1001@127.0.0.1">` + d + `</dialog-info>`
}

// startBLF runs a bridge whose account "office" (user 1000) registers at
// and subscribes to 1001 through n.
func startBLF(t *testing.T, n *fakeNotifier, expires int) *runningBridge {
	t.Helper()
	acct := testAccount("office", "1000", "pw1000", n.addr(), 600)
	acct.BLF = []BLFTarget{{Target: "1001", Name: "Anna"}}
	acct.BLFExpires = expires
	return startBridge(t, Config{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, RegisterTimeout: 2 * time.Second,
		Accounts: []AccountConfig{acct}}, nil)
}

var lampID = monitor.MakeExtensionID("office", "blf:1001")

func TestSubscriptionLifecycle(t *testing.T) {
	n := startFakeNotifier(t)
	r := startBLF(t, n, 60)

	// The first SUBSCRIBE: Event, Accept, Expires; challenged, then sent
	// again with credentials and a higher CSeq in the same Call-ID.
	first := n.next(5 * time.Second)
	if hdr(first, "Event") != "dialog" || hdr(first, "Accept") != dialogInfoType || hdr(first, "Expires") != "60" {
		t.Fatalf("first SUBSCRIBE headers:\n%s", first)
	}
	if first.Recipient.User != "1001" || toTag(first.To()) != "" {
		t.Fatalf("first SUBSCRIBE to %s, To %s", first.Recipient.String(), first.To().Value())
	}
	n.challenge(first)
	authed := n.next(5 * time.Second)
	if authed.CallID().Value() != first.CallID().Value() || authed.CSeq().SeqNo <= first.CSeq().SeqNo ||
		!strings.Contains(hdr(authed, "Authorization"), `username="1000"`) {
		t.Fatalf("authenticated SUBSCRIBE:\n%s", authed)
	}
	// Granted for 2 s: the refresh comes before that ends.
	n.respond(authed, 200, 2)
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionPending, 5*time.Second)
	if code := n.notify(authed, "notifier1", "active;expires=2", docOf(1, "early", "recipient", "1002")); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionActive, 5*time.Second)
	e := r.sink.waitExtState(t, lampID, monitor.DeviceRinging, 5*time.Second)
	if e.Name != "Anna" || e.Number != "1001" || len(e.Peers) != 1 || e.Peers[0].Number != "1002" {
		t.Fatalf("lamp %+v", e)
	}

	refresh := n.next(5 * time.Second)
	if refresh.CallID().Value() != first.CallID().Value() || toTag(refresh.To()) != "notifier1" || refresh.CSeq().SeqNo <= authed.CSeq().SeqNo {
		t.Fatalf("refresh not in the dialog:\n%s", refresh)
	}
	n.challenge(refresh)
	refresh = n.next(5 * time.Second)
	n.respond(refresh, 200, 60)
	// Older documents are ignored; a newer one moves the lamp.
	if code := n.notify(refresh, "notifier1", "active;expires=60", docOf(1, "", "", "")); code != 200 {
		t.Fatalf("old NOTIFY answered %d", code)
	}
	if code := n.notify(refresh, "notifier1", "active;expires=60", docOf(2, "confirmed", "recipient", "1002")); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 5*time.Second)
	// A NOTIFY of a dialog we do not know: 481, whatever its Call-ID.
	stranger := refresh.Clone()
	cid := sip.CallIDHeader("no-such-subscription")
	stranger.ReplaceHeader(&cid)
	if code := n.notify(stranger, "notifier1", "active", docOf(3, "", "", "")); code != 481 {
		t.Fatalf("stranger NOTIFY answered %d, want 481", code)
	}
	// A NOTIFY without Subscription-State is refused; a broken body is
	// taken (200) and leaves the lamp as it was.
	if code := n.notify(refresh, "notifier1", "", ""); code != 400 {
		t.Fatalf("NOTIFY without Subscription-State answered %d, want 400", code)
	}
	if code := n.notify(refresh, "notifier1", "active", "<dialog-info"); code != 200 {
		t.Fatalf("broken NOTIFY answered %d", code)
	}
	if e, _ := r.blfExt(); e.State != monitor.DeviceInUse {
		t.Fatalf("lamp after a broken body: %s", e.State)
	}
	if code := n.notify(refresh, "notifier1", "active", docOf(4, "", "", "")); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	r.sink.waitExtState(t, lampID, monitor.DeviceIdle, 5*time.Second)

	// Shutdown: un-SUBSCRIBE in the dialog, and the lamp goes.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		r.stop(t)
	}()
	un := n.next(5 * time.Second)
	if hdr(un, "Expires") != "0" || un.CallID().Value() != first.CallID().Value() || toTag(un.To()) != "notifier1" {
		t.Fatalf("un-SUBSCRIBE:\n%s", un)
	}
	n.respond(un, 200, 0)
	<-stopped
	r.sink.waitExt(t, lampID, "removed", 5*time.Second, func(e monitor.Extension) bool { return e.Removed })
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionStopped, 5*time.Second)
}

// blfExt returns the latest published lamp.
func (r *runningBridge) blfExt() (monitor.Extension, bool) {
	r.sink.mu.Lock()
	defer r.sink.mu.Unlock()
	for i := len(r.sink.exts) - 1; i >= 0; i-- {
		if r.sink.exts[i].ID == lampID {
			return r.sink.exts[i], true
		}
	}
	return monitor.Extension{}, false
}

// subscribed answers the next SUBSCRIBE 200 (granted for expires) and
// sends an active NOTIFY with doc, returning the SUBSCRIBE.
func subscribed(t *testing.T, n *fakeNotifier, expires int, doc string) *sip.Request {
	t.Helper()
	req := n.next(5 * time.Second)
	n.respond(req, 200, expires)
	if code := n.notify(req, "notifier1", "active;expires="+strconv.Itoa(expires), doc); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	return req
}

func TestSubscriptionRefreshGets481(t *testing.T) {
	n := startFakeNotifier(t)
	r := startBLF(t, n, 60)
	first := subscribed(t, n, 1, docOf(1, "confirmed", "initiator", "1002"))
	r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 5*time.Second)
	refresh := n.next(5 * time.Second)
	if refresh.CallID().Value() != first.CallID().Value() {
		t.Fatal("refresh in another dialog")
	}
	n.respond(refresh, 481, 0)
	again := n.next(5 * time.Second)
	if again.CallID().Value() == first.CallID().Value() || toTag(again.To()) != "" {
		t.Fatalf("after 481, not a new subscription:\n%s", again)
	}
	n.respond(again, 200, 60)
	if code := n.notify(again, "notifier1", "active;expires=60", docOf(1, "", "", "")); code != 200 {
		t.Fatalf("NOTIFY of the new subscription answered %d", code)
	}
	r.sink.waitExtState(t, lampID, monitor.DeviceIdle, 5*time.Second)
	// The old dialog is gone.
	if code := n.notify(first, "notifier1", "active", docOf(9, "", "", "")); code != 481 {
		t.Fatalf("NOTIFY of the old subscription answered %d, want 481", code)
	}
}

func TestSubscriptionTerminated(t *testing.T) {
	for _, tc := range []struct {
		state string
		// again: a new SUBSCRIBE follows (at once or after the backoff);
		// else the subscription fails for good.
		again bool
		final monitor.SubscriptionState
	}{
		{"terminated;reason=deactivated", true, monitor.SubscriptionActive},
		{"terminated;reason=timeout", true, monitor.SubscriptionActive},
		{"terminated;reason=probation;retry-after=1", true, monitor.SubscriptionActive},
		{"terminated", true, monitor.SubscriptionActive},
		{"terminated;reason=rejected", false, monitor.SubscriptionFailed},
		{"terminated;reason=noresource", false, monitor.SubscriptionFailed},
	} {
		t.Run(tc.state, func(t *testing.T) {
			n := startFakeNotifier(t)
			r := startBLF(t, n, 60)
			first := subscribed(t, n, 60, docOf(1, "confirmed", "initiator", "1002"))
			r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 5*time.Second)
			if code := n.notify(first, "notifier1", tc.state, ""); code != 200 {
				t.Fatalf("terminating NOTIFY answered %d", code)
			}
			if !tc.again {
				st := r.sink.waitSub(t, "office", 0, monitor.SubscriptionFailed, 5*time.Second)
				if !strings.Contains(st.Error, "not tried again") {
					t.Fatalf("failed subscription says %q", st.Error)
				}
				r.sink.waitExtState(t, lampID, monitor.DeviceUnknown, 5*time.Second)
				n.none(time.Second)
				return
			}
			again := n.next(5 * time.Second)
			if again.CallID().Value() == first.CallID().Value() {
				t.Fatal("re-subscribed in the terminated dialog")
			}
			n.respond(again, 200, 60)
			if code := n.notify(again, "notifier1", "active;expires=60", docOf(0, "", "", "")); code != 200 {
				t.Fatalf("NOTIFY answered %d", code)
			}
			r.sink.waitSub(t, "office", 0, tc.final, 5*time.Second)
			r.sink.waitExtState(t, lampID, monitor.DeviceIdle, 5*time.Second)
		})
	}
}

func TestSubscriptionNotifyBefore200(t *testing.T) {
	n := startFakeNotifier(t)
	r := startBLF(t, n, 60)
	req := n.next(5 * time.Second)
	// The NOTIFY makes the dialog before the 2xx (RFC 6665 section
	// 4.1.2.4).
	if code := n.notify(req, "notifier1", "active;expires=60", docOf(1, "early", "recipient", "1003")); code != 200 {
		t.Fatalf("early NOTIFY answered %d", code)
	}
	r.sink.waitExtState(t, lampID, monitor.DeviceRinging, 5*time.Second)
	n.respond(req, 200, 60)
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionActive, 5*time.Second)
	if code := n.notify(req, "notifier1", "active;expires=60", docOf(2, "confirmed", "recipient", "1003")); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 5*time.Second)
	// A partial document after a gap asks for the full state: a refresh
	// in the dialog.
	gap := strings.Replace(docOf(5, "", "", ""), `state="full"`, `state="partial"`, 1)
	if code := n.notify(req, "notifier1", "active;expires=60", gap); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	refresh := n.next(5 * time.Second)
	if refresh.CallID().Value() != req.CallID().Value() || toTag(refresh.To()) != "notifier1" {
		t.Fatalf("after a version gap, not a refresh:\n%s", refresh)
	}
}

func TestSubscriptionRefused(t *testing.T) {
	n := startFakeNotifier(t)
	r := startBLF(t, n, 60)
	req := n.next(5 * time.Second)
	n.respond(req, 489, 0)
	st := r.sink.waitSub(t, "office", 0, monitor.SubscriptionFailed, 5*time.Second)
	if !strings.Contains(st.Error, "489") || !strings.Contains(st.Error, "dialog event package") {
		t.Fatalf("error %q", st.Error)
	}
	// Tried again only slowly (retry_max).
	again := n.next(5 * time.Second)
	if again.CallID().Value() == req.CallID().Value() {
		t.Fatal("retry in the refused dialog")
	}
}

func TestSubscriptionReregistered(t *testing.T) {
	n := startFakeNotifier(t)
	r := startBLF(t, n, 60)
	first := subscribed(t, n, 60, docOf(1, "", "", ""))
	r.sink.waitSub(t, "office", 0, monitor.SubscriptionActive, 5*time.Second)
	// The account loses its registration and gets it back (a registrar
	// restart): the subscription is made anew.
	a := r.byName["office"]
	a.setState(monitor.LinkRetrying, "no answer from registrar")
	a.setState(monitor.LinkRegistered, "")
	again := n.next(5 * time.Second)
	if again.CallID().Value() == first.CallID().Value() {
		t.Fatal("not a new subscription after re-registration")
	}
}

func TestSubRefreshDelay(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 2 * time.Second, 60 * time.Second, 119 * time.Second, 600 * time.Second, 3600 * time.Second} {
		for range 50 {
			r := subRefreshDelay(d)
			if r >= d || r < d*7/10 || (d >= 2*time.Minute && r > d-30*time.Second) {
				t.Fatalf("subRefreshDelay(%v) = %v", d, r)
			}
		}
	}
	if got := subRefreshDelay(0); got != time.Second {
		t.Fatalf("subRefreshDelay(0) = %v", got)
	}
}

// TestSubscriptionShortenedByNotify: the 2xx grants 60 s, the NOTIFY
// says 2 s are left: the refresh comes before those end.
func TestSubscriptionShortenedByNotify(t *testing.T) {
	n := startFakeNotifier(t)
	startBLF(t, n, 60)
	req := n.next(5 * time.Second)
	n.respond(req, 200, 60)
	if code := n.notify(req, "notifier1", "active;expires=2", docOf(1, "", "", "")); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	refresh := n.next(5 * time.Second)
	if refresh.CallID().Value() != req.CallID().Value() || toTag(refresh.To()) != "notifier1" {
		t.Fatalf("not a refresh:\n%s", refresh)
	}
}

// TestSubscriptionNotifierNotRegistrar: the presence server (blf_server)
// is not the registrar and not a trusted source: its NOTIFYs are taken
// because they belong to our subscription, while a NOTIFY from it that
// names no dialog of ours is dropped unanswered, as any stranger's.
func TestSubscriptionNotifierNotRegistrar(t *testing.T) {
	reg := startFakeNotifier(t)
	n := startFakeNotifierOn(t, net.IPv4(127, 0, 0, 2))
	acct := testAccount("office", "1000", "pw1000", reg.addr(), 600)
	acct.BLF = []BLFTarget{{Target: "1001"}}
	acct.BLFServer = n.addr()
	r := startBridge(t, Config{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Accounts: []AccountConfig{acct}}, nil)
	req := subscribed(t, n, 60, docOf(1, "early", "recipient", "1002"))
	r.sink.waitExtState(t, lampID, monitor.DeviceRinging, 5*time.Second)
	stranger := req.Clone()
	cid := sip.CallIDHeader("no-such-subscription")
	stranger.ReplaceHeader(&cid)
	n.silentOK = true
	if code := n.notify(stranger, "notifier1", "active", docOf(2, "", "", "")); code != 0 {
		t.Fatalf("a stranger's NOTIFY answered %d, want no answer", code)
	}
	n.silentOK = false
	if code := n.notify(req, "notifier1", "active", docOf(2, "confirmed", "recipient", "1002")); code != 200 {
		t.Fatalf("NOTIFY answered %d", code)
	}
	r.sink.waitExtState(t, lampID, monitor.DeviceInUse, 5*time.Second)
}
