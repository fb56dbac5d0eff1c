package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/transport/v4/test"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

var sipPCMA = sipbridge.Codec{Name: "PCMA", ClockRate: 8000, Channels: 1, PayloadType: 8}

// expectCallOf waits for a call message about id for which ok holds.
func (b *testBrowser) expectCallOf(id monitor.CallID, ok func(PhoneCall) bool) PhoneCall {
	b.t.Helper()
	m := b.expect(MsgCall, func(m pageMessage) bool { return m.Call != nil && m.Call.ID == id && (ok == nil || ok(*m.Call)) })
	return *m.Call
}

// expectMedia waits until the page was told that id's media is m.
func (b *testBrowser) expectMedia(id monitor.CallID, m sipbridge.MediaState) PhoneCall {
	b.t.Helper()
	return b.waitCall(id, func(v PhoneCall) bool { return v.Media == m })
}

// expectEnded waits until the page was told that id ended.
func (b *testBrowser) expectEnded(id monitor.CallID) PhoneCall {
	b.t.Helper()
	return b.waitCall(id, func(v PhoneCall) bool { return v.State == sipbridge.StateEnded })
}

// offerCount is how many descriptions the server has sent the page.
func (b *testBrowser) offerCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.offers)
}

func (b *testBrowser) lastOffer() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.offers[len(b.offers)-1]
}

// dialUp places a call from the page that the far end answers with codec.
func dialUp(t *testing.T, b *testBrowser, sip *fakeSIP, to string, codec sipbridge.Codec) *fakeCall {
	t.Helper()
	b.send(map[string]any{"type": "dial", "account": "1001", "to": to})
	c := <-sip.dialed
	c.connect(codec)
	b.expectMedia(c.id, sipbridge.MediaActive)
	return c
}

// onlySession is the gateway's one session.
func onlySession(t *testing.T, g *Gateway) *Session {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(g.sessions))
	}
	for s := range g.sessions {
		return s
	}
	return nil
}

// upLeg is the SIP leg the page's voice goes to now (nil: none).
func upLeg(s *Session) MediaLeg {
	if t := s.up.target.Load(); t != nil {
		return t.leg
	}
	return nil
}

// hears checks that the page hears hz (and not other) from the far end.
func hears(t *testing.T, b *testBrowser, hz, other float64, what string) {
	t.Helper()
	waitFull(t, b.heard.arm(8000), what)
	if got, _, _ := b.heard.result(); !near(got, int(hz)) || !b.heard.dominates(hz, other) {
		t.Errorf("%s: the page heard %d Hz, want %.0f Hz alone", what, got, hz)
	}
}

// heardBy checks that the far end of f hears the page's 440 Hz.
func heardBy(t *testing.T, f *farEnd, what string) {
	t.Helper()
	waitFull(t, f.heard.arm(8000), what)
	if got, _, _ := f.heard.result(); !near(got, 440) {
		t.Errorf("%s heard %d Hz from the page, want 440", what, got)
	}
}

// TestCallWaiting: a second call rings during a call; answering it holds
// the first and moves the page's audio to the second without a new
// WebRTC handshake; resume swaps back; each call hangs up on its own.
func TestCallWaiting(t *testing.T) {
	// Registered first, so it runs after every other cleanup: no flow,
	// call queue or relay may be left.
	t.Cleanup(test.CheckRoutines(t))
	sip := newFakeSIP(t, "1001")
	g, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	b.playTone(440)
	s := onlySession(t, g)

	first := dialUp(t, b, sip, "1002", sipPCMU)
	farA := startFarEnd(t, first, 1000, 0)
	hears(t, b, 1000, 1600, "first call")
	heardBy(t, farA, "first caller")

	second := sip.ring("in-2", "1001", sipPCMU)
	second.configure(func(c *fakeCall) { c.reportsMedia = true })
	if in := b.expect(MsgIncoming, nil); in.Call.ID != second.id || in.Call.Media != sipbridge.MediaNone {
		t.Fatalf("incoming = %+v", in.Call)
	}
	farB := startFarEnd(t, second, 1600, 0)
	offers := b.offerCount()

	b.send(map[string]any{"type": "answer", "call": second.id})
	if got := first.nextControl(t); got != "hold" {
		t.Fatalf("first call got %q, want hold before the answer", got)
	}
	b.expectMedia(first.id, sipbridge.MediaLocalHold)
	b.expectMedia(second.id, sipbridge.MediaActive)
	hears(t, b, 1600, 1000, "second call")
	heardBy(t, farB, "second caller")
	if upLeg(s) != MediaLeg(second.leg) {
		t.Error("the page's voice does not go to the second call alone")
	}

	// Swap back: the second is held, the first resumed.
	b.send(map[string]any{"type": "resume", "call": first.id})
	if got := second.nextControl(t); got != "hold" {
		t.Fatalf("second call got %q, want hold", got)
	}
	if got := first.nextControl(t); got != "resume" {
		t.Fatalf("first call got %q, want resume", got)
	}
	b.expectMedia(second.id, sipbridge.MediaLocalHold)
	b.expectMedia(first.id, sipbridge.MediaActive)
	hears(t, b, 1000, 1600, "first call after the swap")
	heardBy(t, farA, "first caller after the swap")
	if upLeg(s) != MediaLeg(first.leg) {
		t.Error("the page's voice does not go to the first call after the swap")
	}
	if n := b.offerCount(); n != offers {
		t.Errorf("the server sent %d descriptions for moves between calls of one codec, want none", n-offers)
	}

	b.send(map[string]any{"type": "hangup", "call": second.id})
	<-second.hungUp
	b.expectEnded(second.id)
	hears(t, b, 1000, 1600, "first call after the second ended")
	b.send(map[string]any{"type": "hangup", "call": first.id})
	<-first.hungUp
	b.expectEnded(first.id)
}

// TestCallWaitingWhenHoldFails: a first call that cannot be held is left
// all the same (the page says so, its media is not active); the answer
// goes ahead, and coming back needs no resume.
func TestCallWaitingWhenHoldFails(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	g, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	s := onlySession(t, g)

	first := dialUp(t, b, sip, "1002", sipPCMU)
	first.configure(func(c *fakeCall) { c.holdErr = errors.New("488 Not Acceptable Here") })
	startFarEnd(t, first, 1000, 0)
	second := sip.ring("in-2", "1001", sipPCMU)
	b.expect(MsgIncoming, nil)
	startFarEnd(t, second, 1600, 0)
	b.send(map[string]any{"type": "answer", "call": second.id})
	first.nextControl(t)
	if e := b.expect(MsgError, nil); e.CallID != string(first.id) || !strings.Contains(e.Message, "hold") {
		t.Errorf("error = %q about %q, want the hold failure of the first call", e.Message, e.CallID)
	}
	b.expectMedia(first.id, sipbridge.MediaInactive)
	b.expectMedia(second.id, sipbridge.MediaActive)
	hears(t, b, 1600, 1000, "second call")
	if upLeg(s) != MediaLeg(second.leg) {
		t.Error("the page's voice does not go to the second call")
	}

	b.send(map[string]any{"type": "hangup", "call": second.id})
	b.expectEnded(second.id)
	b.send(map[string]any{"type": "resume", "call": first.id})
	b.expectMedia(first.id, sipbridge.MediaActive)
	first.noControl(t)
	hears(t, b, 1000, 1600, "first call again")
}

// TestSwapRenegotiatesOnlyWhenTheCodecDiffers: moving between a PCMU and a
// PCMA call renegotiates the page's track each time (ICE and DTLS stay);
// moving back to the same codec does not.
func TestSwapRenegotiatesOnlyWhenTheCodecDiffers(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	first := dialUp(t, b, sip, "1002", sipPCMU)
	startFarEnd(t, first, 1000, 0)
	hears(t, b, 1000, 1600, "PCMU call")

	offers := b.offerCount()
	second := dialUp(t, b, sip, "1003", sipPCMA)
	b.expectMedia(first.id, sipbridge.MediaLocalHold)
	startFarEnd(t, second, 1000, 8)
	waitFull(t, b.heard.arm(1600), "PCMA call")
	if _, pts, _ := b.heard.result(); pts[8] == 0 || pts[0] != 0 {
		t.Errorf("the page got payload types %v in the PCMA call, want 8 only", pts)
	}
	if n := b.offerCount(); n != offers+1 || audioFormats(b.lastOffer()) != "8 126" {
		t.Errorf("%d new descriptions, last %q: want one offer of PCMA", n-offers, audioFormats(b.lastOffer()))
	}

	b.send(map[string]any{"type": "resume", "call": first.id})
	b.expectMedia(first.id, sipbridge.MediaActive)
	hears(t, b, 1000, 1600, "PCMU call again")
	if n := b.offerCount(); n != offers+2 || audioFormats(b.lastOffer()) != "0 126" {
		t.Errorf("%d new descriptions, last %q: want a second offer, of PCMU", n-offers, audioFormats(b.lastOffer()))
	}
	b.mu.Lock()
	states := append([]string(nil), func() []string {
		var out []string
		for _, s := range b.iceStates {
			out = append(out, s.String())
		}
		return out
	}()...)
	b.mu.Unlock()
	if strings.Count(strings.Join(states, " "), "connected") != 1 || strings.Contains(strings.Join(states, " "), "failed") {
		t.Errorf("ICE states %v: want one connect for every call", states)
	}
}

// TestHoldAndResume: the page holds and resumes; the far end holds and
// resumes; both hold; a refused hold leaves the call as it was.
func TestHoldAndResume(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	c := dialUp(t, b, sip, "1002", sipPCMU)
	startFarEnd(t, c, 1000, 0)

	steps := []struct {
		name    string
		act     func()
		control string
		want    sipbridge.MediaState
	}{
		{name: "page holds", act: func() { b.send(map[string]any{"type": "hold", "call": c.id}) }, control: "hold", want: sipbridge.MediaLocalHold},
		{name: "far end holds too", act: func() { c.farHold(true) }, want: sipbridge.MediaInactive},
		{name: "page resumes", act: func() { b.send(map[string]any{"type": "resume", "call": c.id}) }, control: "resume", want: sipbridge.MediaRemoteHold},
		{name: "far end resumes", act: func() { c.farHold(false) }, want: sipbridge.MediaActive},
	}
	for _, st := range steps {
		st.act()
		if st.control != "" {
			if got := c.nextControl(t); got != st.control {
				t.Fatalf("%s: far end got %q, want %q", st.name, got, st.control)
			}
		}
		if v := b.expectMedia(c.id, st.want); v.State != sipbridge.StateConnected {
			t.Errorf("%s: call state %s", st.name, v.State)
		}
	}
	hears(t, b, 1000, 1600, "after resume")

	c.configure(func(c *fakeCall) { c.holdErr = errors.New("491 Request Pending") })
	b.send(map[string]any{"type": "hold", "call": c.id})
	c.nextControl(t)
	if e := b.expect(MsgError, nil); e.CallID != string(c.id) {
		t.Errorf("refused hold: error about %q, want %s", e.CallID, c.id)
	}
	hears(t, b, 1000, 1600, "after the refused hold")

	// Only a connected call is held.
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "1003"})
	ringing := <-sip.dialed
	c.nextControl(t) // the dial's hold of the first call, refused
	ringing.progress(sipbridge.StateRinging, nil)
	b.expectCallOf(ringing.id, func(v PhoneCall) bool { return v.State == sipbridge.StateRinging })
	b.send(map[string]any{"type": "hold", "call": ringing.id})
	b.expect(MsgError, func(m pageMessage) bool { return m.CallID == string(ringing.id) })
}

// TestMediaError: the SIP side reports lost media; the page is told in
// plain words.
func TestMediaError(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	c := dialUp(t, b, sip, "1002", sipPCMU)
	c.setMedia(sipbridge.MediaError, "No audio from the other side for 15 seconds")
	if v := b.expectMedia(c.id, sipbridge.MediaError); !strings.Contains(v.Message, "No audio") {
		t.Errorf("message = %q", v.Message)
	}
	c.setMedia(sipbridge.MediaActive, "")
	if v := b.expectMedia(c.id, sipbridge.MediaActive); v.Message != "" {
		t.Errorf("message = %q after the audio came back", v.Message)
	}
}

func TestBlindTransfer(t *testing.T) {
	tests := []struct {
		name string
		// heldFirst: the page held the call before transferring.
		heldFirst bool
		referErr  error
		steps     []sipbridge.TransferProgress
		// ok: the transfer succeeds and the call ends; otherwise it is
		// kept, and resumed when the transfer held it.
		ok bool
	}{
		{name: "accepted", steps: []sipbridge.TransferProgress{
			{State: sipbridge.TransferTrying, Status: 202}, {State: sipbridge.TransferRinging, Status: 180}, {State: sipbridge.TransferAccepted, Status: 200},
		}, ok: true},
		{name: "target busy", steps: []sipbridge.TransferProgress{
			{State: sipbridge.TransferTrying, Status: 202}, {State: sipbridge.TransferFailed, Status: 486},
		}},
		{name: "no final NOTIFY", steps: []sipbridge.TransferProgress{
			{State: sipbridge.TransferTrying, Status: 202}, {State: sipbridge.TransferFailed, Message: "The transfer got no answer in time"},
		}},
		{name: "REFER refused", referErr: errors.New("603 Declined")},
		{name: "held by the page first", heldFirst: true, steps: []sipbridge.TransferProgress{{State: sipbridge.TransferFailed, Status: 404}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sip := newFakeSIP(t, "1001")
			_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
			b := openBrowser(t, base, "anna", capPCMU)
			c := dialUp(t, b, sip, "1002", sipPCMU)
			c.configure(func(c *fakeCall) { c.transferErr = tc.referErr })
			if tc.heldFirst {
				b.send(map[string]any{"type": "hold", "call": c.id})
				c.nextControl(t)
				b.expectMedia(c.id, sipbridge.MediaLocalHold)
			}
			b.send(map[string]any{"type": "transfer", "call": c.id, "to": "1003"})
			if v := b.expectCallOf(c.id, func(v PhoneCall) bool { return v.Transfer != nil }); v.Transfer.State != sipbridge.TransferTrying || !strings.Contains(v.Transfer.Message, "1003") {
				t.Errorf("first transfer step = %+v", v.Transfer)
			}
			if !tc.heldFirst {
				if got := c.nextControl(t); got != "hold" {
					t.Fatalf("far end got %q, want hold before the REFER", got)
				}
			}
			if got := c.nextControl(t); got != "transfer 1003" {
				t.Fatalf("far end got %q, want the REFER", got)
			}
			for _, p := range tc.steps {
				c.transferStep(p.State, p.Status, p.Message)
				v := b.expectCallOf(c.id, func(v PhoneCall) bool {
					return v.Transfer != nil && v.Transfer.State == p.State && v.Transfer.Status == p.Status
				})
				if v.Transfer.Message == "" || (p.Message != "" && v.Transfer.Message != p.Message) {
					t.Errorf("transfer step %+v shown as %+v", p, v.Transfer)
				}
			}
			if tc.ok {
				c.end(monitor.ReasonCompleted, 0)
				b.expectEnded(c.id)
				return
			}
			v := b.waitCall(c.id, func(v PhoneCall) bool {
				return v.Transfer != nil && v.Transfer.State == sipbridge.TransferFailed
			})
			if v.Transfer.Message == "" || v.State != sipbridge.StateConnected {
				t.Errorf("failed transfer shown as %+v in a call %s", v.Transfer, v.State)
			}
			if tc.heldFirst {
				c.noControl(t)
				return
			}
			if got := c.nextControl(t); got != "resume" {
				t.Fatalf("far end got %q, want resume after the failed transfer", got)
			}
			b.expectMedia(c.id, sipbridge.MediaActive)
		})
	}
}

// TestAttendedTransfer: the page calls the target first (the call is
// held), then completes the transfer, or cancels the consultation and
// resumes the call.
func TestAttendedTransfer(t *testing.T) {
	for _, complete := range []bool{true, false} {
		name := map[bool]string{true: "complete", false: "cancel"}[complete]
		t.Run(name, func(t *testing.T) {
			t.Cleanup(test.CheckRoutines(t))
			sip := newFakeSIP(t, "1001")
			_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
			b := openBrowser(t, base, "anna", capPCMU)
			b.playTone(440)
			c := dialUp(t, b, sip, "1002", sipPCMU)
			startFarEnd(t, c, 1000, 0)
			consult := dialUp(t, b, sip, "1003", sipPCMU)
			if got := c.nextControl(t); got != "hold" {
				t.Fatalf("call got %q, want hold before the consultation", got)
			}
			b.expectMedia(c.id, sipbridge.MediaLocalHold)
			farK := startFarEnd(t, consult, 1600, 0)
			hears(t, b, 1600, 1000, "consultation")
			heardBy(t, farK, "transfer target")

			if complete {
				b.send(map[string]any{"type": "transfer", "call": c.id, "consult": consult.id})
				if got := c.nextControl(t); got != "transfer-to "+string(consult.id) {
					t.Fatalf("call got %q, want the REFER with Replaces of the consultation", got)
				}
				c.transferStep(sipbridge.TransferAccepted, 200, "")
				b.expectCallOf(c.id, func(v PhoneCall) bool {
					return v.Transfer != nil && v.Transfer.State == sipbridge.TransferAccepted
				})
				c.end(monitor.ReasonCompleted, 0)
				consult.end(monitor.ReasonCompleted, 0)
				b.expectEnded(c.id)
				b.expectEnded(consult.id)
				return
			}
			b.send(map[string]any{"type": "hangup", "call": consult.id})
			b.send(map[string]any{"type": "resume", "call": c.id})
			<-consult.hungUp
			if got := c.nextControl(t); got != "resume" {
				t.Fatalf("call got %q, want resume", got)
			}
			b.expectMedia(c.id, sipbridge.MediaActive)
			b.expectEnded(consult.id)
			consult.noControl(t)
			hears(t, b, 1000, 1600, "the call after the cancelled consultation")
		})
	}
	t.Run("consultation not connected", func(t *testing.T) {
		sip := newFakeSIP(t, "1001")
		_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
		b := openBrowser(t, base, "anna", capPCMU)
		c := dialUp(t, b, sip, "1002", sipPCMU)
		b.send(map[string]any{"type": "dial", "account": "1001", "to": "1003"})
		k := <-sip.dialed
		b.expectCallOf(k.id, nil)
		b.send(map[string]any{"type": "transfer", "call": c.id, "consult": k.id})
		b.expect(MsgError, func(m pageMessage) bool { return m.CallID == string(c.id) })
	})
}

func TestDTMF(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	c := dialUp(t, b, sip, "1002", sipPCMU)

	// In the order pressed, A-D in capitals.
	for _, d := range []string{"12#", "5", "*", "d"} {
		b.send(map[string]any{"type": "dtmf", "call": c.id, "digits": d})
	}
	for _, want := range []string{"dtmf 12#", "dtmf 5", "dtmf *", "dtmf D"} {
		if got := c.nextControl(t); got != want {
			t.Errorf("far end got %q, want %q", got, want)
		}
	}
	b.send(map[string]any{"type": "dtmf", "call": c.id, "digits": "12x"})
	if e := b.expect(MsgError, nil); e.CallID != string(c.id) {
		t.Errorf("bad digits: error about %q", e.CallID)
	}
	c.configure(func(c *fakeCall) { c.dtmfErr = errors.New("no telephone-event and INFO refused") })
	b.send(map[string]any{"type": "dtmf", "call": c.id, "digits": "9"})
	c.nextControl(t)
	if e := b.expect(MsgError, nil); e.CallID != string(c.id) || !strings.Contains(e.Message, "9") {
		t.Errorf("failed send: error %q about %q", e.Message, e.CallID)
	}

	c.sendDigits("4")
	c.sendDigits("2")
	for _, want := range []string{"4", "2"} {
		if m := b.expect(MsgDTMF, nil); m.CallID != string(c.id) || m.Digits != want {
			t.Errorf("dtmf message %s, want digits %s of %s", m.raw, want, c.id)
		}
	}
}

// TestTransferredByTheFarEnd: the far end transfers the page's call; the
// call that replaces it is announced with transferred_from and the page's
// audio moves to it without a new handshake (a new codec renegotiates).
func TestTransferredByTheFarEnd(t *testing.T) {
	tests := []struct {
		name string
		// replaces: an INVITE with Replaces (the new call is answered
		// already); otherwise a REFER made the SIP side dial.
		replaces bool
		codec    sipbridge.Codec
		offers   int
		// endAtOnce: the old call ends as the new one is handed over,
		// before or after the page took it.
		endAtOnce bool
	}{
		{name: "REFER", codec: sipPCMU},
		{name: "REFER to a PCMA phone", codec: sipPCMA, offers: 1},
		{name: "INVITE with Replaces", replaces: true, codec: sipPCMU},
		{name: "old call ends at once", codec: sipPCMU, endAtOnce: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sip := newFakeSIP(t, "1001")
			g, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
			b := openBrowser(t, base, "anna", capPCMU)
			b.playTone(440)
			s := onlySession(t, g)
			old := dialUp(t, b, sip, "1002", sipPCMU)
			startFarEnd(t, old, 1000, 0)
			hears(t, b, 1000, 1600, "first call")
			offers := b.offerCount()

			var next *fakeCall
			if tc.replaces {
				next = sip.newCall("replacing", "1001", monitor.Inbound, "1003")
				next.connect(tc.codec)
			} else {
				next = sip.newCall("referred", "1001", monitor.Outbound, "1003")
			}
			farN := startFarEnd(t, next, 1600, tc.codec.PayloadType)
			sip.transfer(old, next)
			if tc.endAtOnce {
				old.end(monitor.ReasonCompleted, 0)
			}
			if v := b.expectCallOf(next.id, nil); v.TransferredFrom != old.id {
				t.Errorf("new call %+v, want transferred_from %s", v, old.id)
			}
			if !tc.replaces {
				next.progress(sipbridge.StateRinging, nil)
				next.connect(tc.codec)
			}
			b.expectMedia(next.id, sipbridge.MediaActive)
			old.end(monitor.ReasonCompleted, 0)
			b.expectEnded(old.id)
			// The test page speaks and decodes µ-law only.
			if tc.codec.PayloadType == 0 {
				hears(t, b, 1600, 1000, "the call we were transferred to")
				heardBy(t, farN, "the party we were transferred to")
			}
			if upLeg(s) != MediaLeg(next.leg) {
				t.Error("the page's voice does not go to the new call")
			}
			if n := b.offerCount() - offers; n != tc.offers {
				t.Errorf("%d renegotiations, want %d", n, tc.offers)
			}
		})
	}
	t.Run("no page has the call", func(t *testing.T) {
		sip := newFakeSIP(t, "1001")
		startGateway(t, testConfig(), sip, nil)
		old := sip.newCall("gone", "1001", monitor.Outbound, "1002")
		next := sip.newCall("referred", "1001", monitor.Outbound, "1003")
		sip.transfer(old, next)
		<-next.hungUp
	})
}

// TestCodecChangeMidCall: a re-INVITE that picks another codec
// renegotiates the page's track; the audio goes on in the new codec.
func TestCodecChangeMidCall(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	c := dialUp(t, b, sip, "1002", sipPCMU)
	offers := b.offerCount()
	c.changeCodec(sipPCMA)
	b.expectCallOf(c.id, func(v PhoneCall) bool { return v.Codec == "PCMA/8000" && v.Media == sipbridge.MediaActive })
	startFarEnd(t, c, 1000, 8)
	waitFull(t, b.heard.arm(1600), "PCMA after the re-INVITE")
	if _, pts, _ := b.heard.result(); pts[8] == 0 {
		t.Errorf("page got %v, want PCMA", pts)
	}
	if n := b.offerCount(); n != offers+1 || audioFormats(b.lastOffer()) != "8 126" {
		t.Errorf("%d new descriptions (last %q), want one PCMA offer", n-offers, audioFormats(b.lastOffer()))
	}
}

func TestTooManyCalls(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	for i := range maxCalls {
		dialUp(t, b, sip, "20"+string(rune('0'+i)), sipPCMU)
	}
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "2099", "id": "extra"})
	if e := b.expect(MsgError, nil); e.ID != "extra" {
		t.Errorf("error %q for id %q, want the refused dial's", e.Message, e.ID)
	}
}
