package gateway

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
)

// refusedCount reads switchboard_softphone_refused_total{limit} from reg.
func refusedCount(t *testing.T, reg *prometheus.Registry, limit string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "switchboard_softphone_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "limit" && l.GetValue() == limit {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestBucket(t *testing.T) {
	start := time.Unix(1000, 0)
	b := newBucket(3, 0.5, start)
	for i := range 3 {
		if !b.take(start) {
			t.Fatalf("token %d of the burst refused", i)
		}
	}
	if b.take(start) {
		t.Fatal("a fourth token at once")
	}
	if b.take(start.Add(1900 * time.Millisecond)) {
		t.Fatal("a token before 2 s")
	}
	if !b.take(start.Add(2 * time.Second)) {
		t.Fatal("no token after 2 s")
	}
	later := start.Add(time.Hour)
	n := 0
	for b.take(later) {
		n++
	}
	if n != 3 {
		t.Fatalf("a long pause gave %d tokens, want the bucket's 3", n)
	}
}

// TestCallCaps: a user's calls on all their pages together, and an
// account's calls of all users together, stop at their caps with the
// reason in words and the dial's id; a call that ends gives its place
// back; the refusals are counted.
func TestCallCaps(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	cfg := testConfig()
	cfg.MaxCallsPerUser, cfg.MaxCallsPerAccount = 2, 3
	reg := prometheus.NewRegistry()
	g, base := startGateway(t, cfg, sip, map[string][]string{"anna": {"1001"}, "bert": {"1001"}}, WithRegisterer(reg))
	desk := openBrowser(t, base, "anna", capPCMU)
	laptop := openBrowser(t, base, "anna", capPCMU)
	bert := openBrowser(t, base, "bert", capPCMU)

	first := dialUp(t, desk, sip, "2001", sipPCMU)
	dialUp(t, desk, sip, "2002", sipPCMU)
	laptop.send(map[string]any{"type": "dial", "account": "1001", "to": "2003", "id": "third"})
	if e := laptop.expect(MsgError, nil); e.ID != "third" || !strings.Contains(e.Message, "You have 2 calls already") {
		t.Errorf("anna's third call: error %q for %q", e.Message, e.ID)
	}
	dialUp(t, bert, sip, "2004", sipPCMU)
	bert.send(map[string]any{"type": "dial", "account": "1001", "to": "2005", "id": "fourth"})
	if e := bert.expect(MsgError, nil); e.ID != "fourth" || !strings.Contains(e.Message, "account 1001 has 3 calls already") {
		t.Errorf("the account's fourth call: error %q for %q", e.Message, e.ID)
	}
	// An incoming call rings, but cannot be answered over the cap.
	in := sip.ring("in-1", "1001", sipPCMU)
	laptop.expect(MsgIncoming, nil)
	laptop.send(map[string]any{"type": "answer", "call": in.id, "id": "take"})
	if e := laptop.expect(MsgError, nil); e.ID != "take" || !strings.Contains(e.Message, "as many as you may have at once") {
		t.Errorf("answer over the cap: error %q for %q", e.Message, e.ID)
	}

	first.end(monitor.ReasonCompleted, 0)
	desk.expectEnded(first.id)
	// The slot is given back once the gateway has seen the end.
	waitFor(t, "anna's ended call given back", func() bool { u, _ := g.limits.calls("anna", "1001"); return u == 1 })
	laptop.send(map[string]any{"type": "answer", "call": in.id, "id": "again"})
	if got := <-in.answered; len(got) == 0 {
		t.Error("answer after a call ended: nothing accepted")
	}
	if n := refusedCount(t, reg, limitUserCalls); n != 2 {
		t.Errorf("user-calls refusals counted %v, want 2", n)
	}
	if n := refusedCount(t, reg, limitAccountCalls); n != 1 {
		t.Errorf("account-calls refusals counted %v, want 1", n)
	}
}

// TestDialRate: a user places at most max_dials_per_minute calls in a
// short time, whether or not they ended.
func TestDialRate(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	cfg := testConfig()
	cfg.MaxDialsPerMinute = 3
	reg := prometheus.NewRegistry()
	_, base := startGateway(t, cfg, sip, map[string][]string{"anna": {"1001"}}, WithRegisterer(reg))
	b := openBrowser(t, base, "anna", capPCMU)
	for i := range 3 {
		c := dialUp(t, b, sip, fmt.Sprintf("20%02d", i), sipPCMU)
		c.end(monitor.ReasonCompleted, 0)
		b.expectEnded(c.id)
	}
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "2099", "id": "one-more"})
	if e := b.expect(MsgError, nil); e.ID != "one-more" || !strings.Contains(e.Message, "as many as you may in a minute") {
		t.Errorf("dial over the rate: error %q for %q", e.Message, e.ID)
	}
	if n := refusedCount(t, reg, limitDialRate); n != 1 {
		t.Errorf("dial-rate refusals counted %v, want 1", n)
	}
}

// TestIncomingBurstKeepsThePage: 300 incoming calls at once neither
// disconnect the page (as too slow) nor ring there more than maxRinging;
// the calls no page shows are answered 486.
func TestIncomingBurstKeepsThePage(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	reg := prometheus.NewRegistry()
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}}, WithRegisterer(reg))
	b := openBrowser(t, base, "anna", capPCMU)
	const burst = 300
	calls := make([]*fakeCall, 0, burst)
	for i := range burst {
		calls = append(calls, sip.ring(fmt.Sprintf("flood-%d", i), "1001", sipPCMU))
	}
	busy := 0
	for _, c := range calls[maxRinging:] {
		if code := <-c.rejected; code == 486 {
			busy++
		}
	}
	if busy != burst-maxRinging {
		t.Errorf("%d calls answered 486, want %d", busy, burst-maxRinging)
	}
	for i := range maxRinging {
		if m := b.expect(MsgIncoming, nil); m.Call.ID != calls[i].id {
			t.Errorf("ringing %s, want %s", m.Call.ID, calls[i].id)
		}
	}
	// Still connected, and still answering.
	b.send(map[string]any{"type": "hold", "call": "1001:none", "id": "alive"})
	if e := b.expect(MsgError, nil); e.ID != "alive" {
		t.Errorf("error for %q, want alive's", e.ID)
	}
	for _, m := range drainMessages(b) {
		if m.Type == MsgIncoming {
			t.Errorf("another incoming call shown: %s", m.Call.ID)
		}
	}
	if n := refusedCount(t, reg, limitRinging); n != burst-maxRinging {
		t.Errorf("ringing refusals counted %v, want %d", n, burst-maxRinging)
	}
	// The ringing ones are answered as usual.
	b.send(map[string]any{"type": "answer", "call": calls[0].id})
	if got := <-calls[0].answered; got[0].Name != "PCMU" {
		t.Errorf("answer accepted %+v", got)
	}
}

// drainMessages returns the messages the page has received and not read.
func drainMessages(b *testBrowser) []pageMessage {
	var out []pageMessage
	for {
		select {
		case m, ok := <-b.msgs:
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}

// TestPageMessageRate: a page flooding the server with requests for
// calls it does not have gets one notice a second, not an answer (and a
// log line) each, and stays connected.
func TestPageMessageRate(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	cfg := testConfig()
	cfg.PageMessagesPerSecond = 5
	reg := prometheus.NewRegistry()
	_, base := startGateway(t, cfg, sip, map[string][]string{"anna": {"1001"}}, WithRegisterer(reg))
	b := openBrowser(t, base, "anna", capPCMU)
	long := strings.Repeat("x", 5000)
	const flood = 200
	start := time.Now()
	for range flood {
		b.send(map[string]any{"type": "hangup", "call": "1001:" + long})
	}
	taken, notices := 0, 0
	deadline := time.After(testTimeout)
	recheck := time.NewTicker(10 * time.Millisecond)
	defer recheck.Stop()
	for taken+int(refusedCount(t, reg, limitMessages)) < flood {
		select {
		case <-recheck.C:
		case m := <-b.msgs:
			switch {
			case m.Type != MsgError:
			case strings.Contains(m.Message, "too many messages"):
				notices++
			case strings.Contains(m.raw, "xxxx"):
				t.Fatalf("the long call id echoed back: %.80s", m.raw)
			default:
				taken++
			}
		case <-deadline:
			t.Fatalf("%d answers and %v refusals of %d messages", taken, refusedCount(t, reg, limitMessages), flood)
		}
	}
	elapsed := time.Since(start)
	// A burst of twice the rate, then the rate.
	if most := 2*cfg.PageMessagesPerSecond + int(elapsed.Seconds()*float64(cfg.PageMessagesPerSecond)) + 1; taken > most {
		t.Errorf("%d of %d messages taken in %v, want at most %d", taken, flood, elapsed, most)
	}
	if most := int(elapsed.Seconds()) + 1; notices < 1 || notices > most {
		t.Errorf("%d notices in %v, want 1 to %d", notices, elapsed, most)
	}
	// Once the page slows down it is answered again.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		b.send(map[string]any{"type": "hold", "call": "1001:none", "id": fmt.Sprintf("later-%d", i)})
		got := false
		for _, m := range drainMessages(b) {
			if m.Type == MsgError && strings.HasPrefix(m.ID, "later-") {
				got = true
			}
		}
		if got {
			break
		}
		if i > 40 {
			t.Fatal("no answer after the flood")
		}
		<-tick.C
	}
}

// waitFor polls cond until it holds, for at most testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(testTimeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s", what)
		}
	}
}
