package gateway

import (
	"strings"
	"testing"

	"github.com/pion/transport/v4/test"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

var (
	capPCMU = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
	capOpus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
	capG722 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000, Channels: 1}
	sipPCMU = sipbridge.Codec{Name: "PCMU", ClockRate: 8000, Channels: 1, PayloadType: 0}
)

// near reports whether got is within 20 Hz of want.
func near(got, want int) bool { return got > want-20 && got < want+20 }

func TestOutgoingCallRelaysBothWays(t *testing.T) {
	tests := []struct {
		name    string
		browser webrtc.RTPCodecCapability
		sip     sipbridge.Codec
		// browserPT is the payload type the browser must receive.
		browserPT uint8
		// shown is the codec as the page shows it.
		shown string
		tone  bool
	}{
		{name: "PCMU tone", browser: capPCMU, sip: sipPCMU, browserPT: 0, shown: "PCMU/8000", tone: true},
		{name: "opus payload type rewritten", browser: capOpus, sip: sipbridge.Codec{Name: "opus", ClockRate: 48000, Channels: 2, PayloadType: 96}, browserPT: 111, shown: "opus/48000/2"},
		{name: "G722", browser: capG722, sip: sipbridge.Codec{Name: "G722", ClockRate: 8000, Channels: 1, PayloadType: 9}, browserPT: 9, shown: "G722/8000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sip := newFakeSIP(t, "1001")
			_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
			b := openBrowser(t, base, "anna", tc.browser)
			if len(b.welcome.Accounts) != 1 || b.welcome.Accounts[0].State != monitor.LinkRegistered {
				t.Fatalf("welcome accounts = %+v", b.welcome.Accounts)
			}

			b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
			c := <-sip.dialed
			if got := c.offered; len(got) != 4 || got[0].Name != "opus" {
				t.Errorf("dial codecs = %+v, want the default order", got)
			}
			b.expectCall("trying")
			c.progress(sipbridge.StateRinging, nil)
			b.expectCall("ringing")
			codec := tc.sip
			c.progress(sipbridge.StateConnected, &codec)
			if v := b.expectCall("connected"); v.Codec != tc.shown {
				t.Errorf("codec shown = %q, want %q", v.Codec, tc.shown)
			}

			b.playTone(440)
			far := startFarEnd(t, c, 1000, tc.sip.PayloadType)
			toFar := far.heard.arm(8000)
			toBrowser := b.heard.arm(8000)
			waitFull(t, toFar, "browser → SIP")
			waitFull(t, toBrowser, "SIP → browser")

			hz, pts, ssrcs := far.heard.result()
			if len(pts) != 1 || pts[tc.sip.PayloadType] == 0 || ssrcs != 1 {
				t.Errorf("SIP leg got payload types %v from %d SSRCs, want only %d from one", pts, ssrcs, tc.sip.PayloadType)
			}
			if tc.tone && !near(hz, 440) {
				t.Errorf("SIP leg heard %d Hz, want 440", hz)
			}
			hz, pts, _ = b.heard.result()
			if len(pts) != 1 || pts[tc.browserPT] == 0 {
				t.Errorf("browser got payload types %v, want only %d", pts, tc.browserPT)
			}
			if tc.tone && !near(hz, 1000) {
				t.Errorf("browser heard %d Hz, want 1000", hz)
			}

			b.send(map[string]any{"type": "hangup", "call": c.id})
			<-c.hungUp
			if v := b.expectCall("ended"); v.Reason != monitor.ReasonCompleted || v.Message == "" {
				t.Errorf("ended call = %+v", v)
			}
		})
	}
}

// sdpLine returns the value of the first "a=name:" line.
func sdpLine(sdp, name string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "a="+name+":"); ok {
			return v
		}
	}
	return ""
}

func audioFormats(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(l, "m=audio ") {
			f := strings.Fields(l)
			return strings.Join(f[3:], " ")
		}
	}
	return ""
}

func TestRenegotiationKeepsICEAndDTLS(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	dtls := b.pc.GetTransceivers()[0].Sender().Transport()

	// Call 1: outgoing, PCMU.
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
	c1 := <-sip.dialed
	b.expectCall("trying")
	c1.progress(sipbridge.StateConnected, &sipPCMU)
	b.expectCall("connected")
	far := startFarEnd(t, c1, 1000, 0)
	waitFull(t, b.heard.arm(1600), "call 1")
	far.stop()
	c1.end(monitor.ReasonCompleted, 0)
	b.expectCall("ended")

	// Call 2: incoming, PCMA: the ringing already renegotiates.
	pcma := sipbridge.Codec{Name: "PCMA", ClockRate: 8000, Channels: 1, PayloadType: 8}
	c2 := sip.ring("in-2", "1001", pcma)
	in := b.expect("incoming", nil)
	b.send(map[string]any{"type": "answer", "call": in.Call.ID})
	if got := <-c2.answered; got[0].Name != "PCMA" {
		t.Errorf("answer accepted %+v, want PCMA first", got)
	}
	b.expectCall("connected")
	far2 := startFarEnd(t, c2, 1000, 8)
	full := b.heard.arm(1600)
	waitFull(t, full, "call 2")
	if _, pts, _ := b.heard.result(); pts[8] == 0 {
		t.Errorf("browser got %v in call 2, want PCMA (8)", pts)
	}
	far2.stop()

	b.mu.Lock()
	offers := append([]string(nil), b.offers...)
	states := append([]webrtc.ICEConnectionState(nil), b.iceStates...)
	b.mu.Unlock()
	if len(offers) < 3 {
		t.Fatalf("server sent %d descriptions, want the answer and one offer per call", len(offers))
	}
	for i, o := range offers[1:] {
		if sdpLine(o, "ice-ufrag") != sdpLine(offers[0], "ice-ufrag") || sdpLine(o, "fingerprint") != sdpLine(offers[0], "fingerprint") {
			t.Errorf("offer %d changed ICE credentials or DTLS fingerprint", i+1)
		}
	}
	if f := audioFormats(offers[1]); f != "0 126" {
		t.Errorf("call 1 offer formats = %q, want PCMU and the browser's telephone-event only", f)
	}
	if f := audioFormats(offers[len(offers)-1]); f != "8 126" {
		t.Errorf("call 2 offer formats = %q, want PCMA and the browser's telephone-event only", f)
	}
	connected := 0
	for _, s := range states {
		if s == webrtc.ICEConnectionStateConnected {
			connected++
		}
		if s == webrtc.ICEConnectionStateDisconnected || s == webrtc.ICEConnectionStateFailed {
			t.Errorf("ICE went %s", s)
		}
	}
	if connected != 1 {
		t.Errorf("ICE states %v: want one connect for both calls", states)
	}
	if got := b.pc.GetTransceivers()[0].Sender().Transport(); got != dtls || got.State() != webrtc.DTLSTransportStateConnected {
		t.Errorf("DTLS transport replaced or not connected (%s)", got.State())
	}
}

func TestIncomingFanOutFirstAnswerWins(t *testing.T) {
	// Registered first, so it runs after every other cleanup: no goroutine
	// of the gateway, its sessions or the peers may be left.
	t.Cleanup(test.CheckRoutines(t))
	sip := newFakeSIP(t, "1001", "1002")
	g, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}, "bob": {"1001", "1002"}, "carol": {"1002"}})
	anna := openBrowser(t, base, "anna", capPCMU)
	bob := openBrowser(t, base, "bob", capPCMU)
	openBrowser(t, base, "carol", capPCMU)

	c := sip.ring("in-1", "1001", sipbridge.Codec{Name: "G729", ClockRate: 8000, PayloadType: 18}, sipPCMU)
	g.mu.Lock()
	ringing := len(g.ringing[c.id].ringing)
	g.mu.Unlock()
	if ringing != 2 {
		t.Errorf("call rings at %d sessions, want anna's and bob's", ringing)
	}
	ia := anna.expect("incoming", nil)
	ib := bob.expect("incoming", nil)
	if ia.Call.ID != c.id || ib.Call.ID != c.id || ia.Call.Remote.Number != "0301234" || ia.Call.Direction != monitor.Inbound {
		t.Fatalf("incoming = %+v / %+v", ia.Call, ib.Call)
	}

	anna.send(map[string]any{"type": "answer", "call": c.id})
	if got := <-c.answered; got[0].Name != "PCMU" {
		t.Errorf("answer accepted %+v, want PCMU first (G729 is not passed through)", got)
	}
	anna.expectCall("connected")
	if v := bob.expectCall("ended"); v.Reason != monitor.ReasonAnsweredElsewhere {
		t.Errorf("bob's call ended with %q, want answered-elsewhere", v.Reason)
	}
	// Bob's late answer is refused.
	bob.send(map[string]any{"type": "answer", "call": c.id})
	bob.expect("error", nil)

	anna.playTone(440)
	far := startFarEnd(t, c, 1000, 0)
	toFar, toAnna := far.heard.arm(8000), anna.heard.arm(8000)
	waitFull(t, toFar, "anna → caller")
	waitFull(t, toAnna, "caller → anna")
	if hz, _, _ := far.heard.result(); !near(hz, 440) {
		t.Errorf("caller heard %d Hz, want 440", hz)
	}
	if hz, _, _ := anna.heard.result(); !near(hz, 1000) {
		t.Errorf("anna heard %d Hz, want 1000", hz)
	}
	c.end(monitor.ReasonCompleted, 0)
	if v := anna.expectCall("ended"); v.Reason != monitor.ReasonCompleted {
		t.Errorf("anna's call ended with %q", v.Reason)
	}
}

func TestIncomingEnds(t *testing.T) {
	tests := []struct {
		name       string
		act        func(b *testBrowser, c *fakeCall)
		wantReason monitor.Reason
		wantReject int
	}{
		{name: "caller cancels", act: func(_ *testBrowser, c *fakeCall) { c.end(monitor.ReasonCancelled, 487) }, wantReason: monitor.ReasonCancelled},
		{name: "page declines", act: func(b *testBrowser, c *fakeCall) {
			b.send(map[string]any{"type": "decline", "call": c.id})
		}, wantReason: monitor.ReasonRejected, wantReject: 603},
		{name: "page closes", act: func(b *testBrowser, _ *fakeCall) { b.close() }, wantReject: 480},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sip := newFakeSIP(t, "1001")
			_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
			b := openBrowser(t, base, "anna", capPCMU)
			c := sip.ring("in-1", "1001", sipPCMU)
			b.expect("incoming", nil)
			tc.act(b, c)
			if tc.wantReason != "" {
				if v := b.expectCall("ended"); v.Reason != tc.wantReason || v.Message == "" {
					t.Errorf("ended = %+v, want reason %s", v, tc.wantReason)
				}
			}
			if tc.wantReject != 0 {
				if code := <-c.rejected; code != tc.wantReject {
					t.Errorf("rejected with %d, want %d", code, tc.wantReject)
				}
			}
		})
	}
}

func TestIncomingWithNobodyOnlineIsRejected(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	startGateway(t, testConfig(), sip, nil)
	c := sip.ring("in-1", "1001", sipPCMU)
	if code := <-c.rejected; code != 480 {
		t.Errorf("rejected with %d, want 480", code)
	}
}

func TestPageErrors(t *testing.T) {
	sip := newFakeSIP(t, "1001", "1002")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	tests := []struct {
		name string
		msg  map[string]any
	}{
		{name: "other user's account", msg: map[string]any{"type": "dial", "account": "1002", "to": "1003"}},
		{name: "unknown type", msg: map[string]any{"type": "teleport"}},
		{name: "dial target with CRLF", msg: map[string]any{"type": "dial", "account": "1001", "to": "1\r\nVia: x"}},
		{name: "answer unknown call", msg: map[string]any{"type": "answer", "call": "1001:nope"}},
		{name: "dial fails", msg: map[string]any{"type": "dial", "account": "1001", "to": "fail"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.send(tc.msg)
			if m := b.expect("error", nil); m.Message == "" {
				t.Error("error without message")
			}
		})
	}
}

func TestRegistrationChangesReachThePage(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001", "9999"}}, WithStatusInterval(10e6))
	b := openBrowser(t, base, "anna", capPCMU)
	if len(b.welcome.Accounts) != 2 || b.welcome.Accounts[1].State != monitor.LinkFailed {
		t.Fatalf("welcome accounts = %+v, want 1001 and an unconfigured 9999", b.welcome.Accounts)
	}
	sip.setStatus(monitor.SourceStatus{Name: "1001", Type: "sip", State: monitor.LinkFailed, Error: "401 Unauthorized (wrong password?)"})
	m := b.expect("registration", nil)
	if m.Account == nil || m.Account.State != monitor.LinkFailed || !strings.Contains(m.Account.Error, "401") {
		t.Errorf("registration = %+v", m.Account)
	}
}

func TestClosingThePageHangsUp(t *testing.T) {
	t.Cleanup(test.CheckRoutines(t))
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
	c := <-sip.dialed
	b.expectCall("trying")
	c.progress(sipbridge.StateConnected, &sipPCMU)
	b.expectCall("connected")
	b.close()
	<-c.hungUp
}
