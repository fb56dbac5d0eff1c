package sipbridge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// queryBindings asks the registrar for every binding of user: a REGISTER
// without Contact (RFC 3261 section 10.2.3) answers with all of them.
func queryBindings(t *testing.T, ctx context.Context, registrar, user string) []*sip.ContactHeader {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cl, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1"})
	aor := sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.SetDestination(registrar)
	res, err := cl.Do(ctx, req)
	if err == nil && res.StatusCode == sip.StatusUnauthorized {
		res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: siptest.Password(user)})
	}
	if err != nil {
		t.Fatalf("query bindings of %s: %v", user, err)
	}
	if !res.IsSuccess() {
		t.Fatalf("query bindings of %s: %d %s", user, res.StatusCode, res.Reason)
	}
	var out []*sip.ContactHeader
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok {
			out = append(out, c)
		}
	}
	return out
}

// instancesOf are the +sip.instance ids of the bindings, bare.
func instancesOf(cs []*sip.ContactHeader) []string {
	var out []string
	for _, c := range cs {
		v, _ := c.Params.Get("+sip.instance")
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(strings.Trim(v, `"`), "<urn:uuid:"), ">"))
	}
	return out
}

// TestForkedCallAnsweredElsewhere registers one account from two bridges
// with their own instance ids, as two nodes do: kamailio keeps both
// bindings and forks a call from a baresip phone to both; the one that
// answers gets the audio, the other's ringing call ends as answered
// elsewhere (kamailio's CANCEL says "Call completed elsewhere"). A bridge
// that stops removes only its own binding.
func TestForkedCallAnsweredElsewhere(t *testing.T) {
	siptest.RequireBinaries(t, "kamailio", "baresip")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	idA, idB := NodeInstanceID("a"), NodeInstanceID("b")
	callsA, callsB := make(chan *Call, 2), make(chan *Call, 2)
	acct := testAccount("office", "1000", "pw1000", kam.Addr(), 60)
	brA := startBridge(t, Config{RTPListenIP: "127.0.0.1", InstanceID: idA, NodeTag: "a", Accounts: []AccountConfig{acct}}, func(c *Call) { callsA <- c })
	brB := startBridge(t, Config{RTPListenIP: "127.0.0.1", InstanceID: "urn:uuid:" + idB, NodeTag: "b", Accounts: []AccountConfig{acct}}, func(c *Call) { callsB <- c })
	brA.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	brB.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	got := instancesOf(queryBindings(t, ctx, kam.Addr(), "1000"))
	if len(got) != 2 || !(got[0] == idA && got[1] == idB || got[0] == idB && got[1] == idA) {
		t.Fatalf("bindings carry instances %q, want %s and %s", got, idA, idB)
	}

	phone := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: kam.Addr(), ToneHz: 1000, Codecs: []string{"PCMU"}})
	if err := phone.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	if err := phone.Dial(ctx, "sip:1000@"+kam.Addr()); err != nil {
		t.Fatal(err)
	}
	var cA, cB *Call
	for cA == nil || cB == nil {
		select {
		case cA = <-callsA:
		case cB = <-callsB:
		case <-ctx.Done():
			t.Fatalf("the call did not ring on both bridges (a %v, b %v)", cA != nil, cB != nil)
		}
	}
	waitState(t, cB, StateRinging, 15*time.Second)
	// One SIP Call-ID, two legs: each node's call has an id of its own.
	if !strings.HasSuffix(string(cA.ID()), "@a") || !strings.HasSuffix(string(cB.ID()), "@b") || strings.TrimSuffix(string(cA.ID()), "@a") != strings.TrimSuffix(string(cB.ID()), "@b") {
		t.Errorf("the legs' ids are %s and %s, want one Call-ID tagged @a and @b", cA.ID(), cB.ID())
	}
	codec, err := cA.Answer(ctx, []Codec{CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	ended := drain(t, cB)
	if ended.Reason != monitor.ReasonAnsweredElsewhere || ended.Status != sip.StatusRequestTerminated {
		t.Errorf("the other bridge's call ended %+v, want answered-elsewhere after 487", ended)
	}
	if mc, ok := brB.sink.lastCall(cB.ID()); !ok || mc.State != monitor.Ended || mc.Reason != monitor.ReasonAnsweredElsewhere || mc.Missed() {
		t.Errorf("the other bridge's monitor call %+v (missed %v), want ended answered-elsewhere", mc, mc.Missed())
	}

	waitState(t, cA, StateConnected, 5*time.Second)
	leg := cA.Media()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { defer close(sent); sendTone(leg, codec.PayloadType, 440, stop) }()
	if hz := heardTone(t, leg); !near(hz, 1000) {
		t.Errorf("the answering bridge heard %.0f Hz from the phone, want 1000", hz)
	}
	if err := phone.WaitRecorded(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if last := drain(t, cA); last.Reason != monitor.ReasonCompleted {
		t.Errorf("the answered call ended %+v, want completed", last)
	}
	close(stop)
	<-sent
	if hz, err := phone.CheckHeard(440); err != nil {
		t.Errorf("phone heard %.0f Hz: %v", hz, err)
	}

	// B stops: its un-REGISTER names its own binding, A's stays.
	brB.stop(t)
	if got := instancesOf(queryBindings(t, ctx, kam.Addr(), "1000")); len(got) != 1 || got[0] != idA {
		t.Errorf("after one bridge stopped the bindings carry %q, want only %s", got, idA)
	}
}
