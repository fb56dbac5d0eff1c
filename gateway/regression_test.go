package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// g711API is a browser that offers G.711 and telephone-event only, no
// Opus.
func g711API(t *testing.T) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: capPCMU, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"}, PayloadType: 126},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

// TestFirstOfferWithoutOpus: a page offering PCMU, PCMA and
// telephone-event only gets an answer (the first track is of a format it
// offered) and calls with audio both ways.
func TestFirstOfferWithoutOpus(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowserWith(t, g711API(t), base, "anna", capPCMU)
	b.playTone(440)
	c := dialUp(t, b, sip, "1002", sipPCMU)
	far := startFarEnd(t, c, 1000, 0)
	hears(t, b, 1000, 1600, "PCMU call")
	heardBy(t, far, "far end")
}

// TestFirstOfferWithNothingUsable: a page whose offer has no format the
// server passes through is told so in plain words.
func TestFirstOfferWithNothingUsable(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, Config{IncludeLoopback: true, Codecs: []string{"opus"}}, sip, map[string][]string{"anna": {"1001"}})
	b := offerFromPage(t, g711API(t), base, "anna", capPCMU)
	if e := b.expect(MsgError, nil); !strings.Contains(e.Message, "audio format") || !strings.Contains(e.Message, "opus") {
		t.Errorf("error = %q, want the formats in plain words", e.Message)
	}
}

// TestDialShowsEachStateOnceAndInOrder: one trying (sipbridge's own and
// the dial's reply are the same message), never trying after ringing, and
// every call message echoes the dial's id.
func TestDialShowsEachStateOnceAndInOrder(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002", "id": "d-1"})
	c := <-sip.dialed
	c.progress(sipbridge.StateRinging, nil)
	c.progress(sipbridge.StateTrying, nil) // a late 100
	c.progress(sipbridge.StateRinging, nil)
	c.connect(sipPCMU)
	var states []string
	b.expect(MsgCall, func(m pageMessage) bool {
		if m.Call == nil || m.Call.ID != c.id {
			return false
		}
		if m.ID != "d-1" {
			t.Errorf("call message %s without the dial's id", m.raw)
		}
		if len(states) == 0 || states[len(states)-1] != string(m.Call.State) {
			states = append(states, string(m.Call.State))
		}
		return m.Call.Media == sipbridge.MediaActive
	})
	if got := strings.Join(states, ","); got != "trying,ringing,connected" {
		t.Errorf("states shown %s, want trying,ringing,connected", got)
	}
}

// TestEventsBeforeDialReturns: a call answered before Dial returned (its
// events queued before the gateway had the call) reaches the page whole:
// connected with its audio joined.
func TestEventsBeforeDialReturns(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	sip.onDial = func(c *fakeCall) { c.connect(sipPCMU) }
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002"})
	c := <-sip.dialed
	b.expectMedia(c.id, sipbridge.MediaActive)
	startFarEnd(t, c, 1000, 0)
	hears(t, b, 1000, 1600, "call answered at once")
}

// TestDialID: a refused dial's error carries its id; a dial cancelled by
// its id before its first call message is hung up as soon as it exists.
func TestDialID(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	gate := make(chan struct{})
	sip.gate = gate
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)

	b.send(map[string]any{"type": "dial", "account": "1001", "to": "1002", "id": "slow"})
	b.send(map[string]any{"type": "hangup", "id": "slow"})
	// Messages are handled in order: the reply to this one says the
	// hangup was.
	b.send(map[string]any{"type": "hold", "call": "1001:none", "id": "after"})
	if e := b.expect(MsgError, nil); e.ID != "after" {
		t.Fatalf("error for %q, want the ping's", e.ID)
	}
	close(gate)
	c := <-sip.dialed
	<-c.hungUp
	if v := b.expectEnded(c.id); v.Reason != monitor.ReasonCompleted {
		t.Errorf("cancelled dial ended %+v", v)
	}

	b.send(map[string]any{"type": "dial", "account": "1001", "to": "fail", "id": "doomed"})
	if e := b.expect(MsgError, nil); e.ID != "doomed" || !strings.Contains(e.Message, "could not be placed") {
		t.Errorf("error %q for %q, want the refused dial's", e.Message, e.ID)
	}
	b.send(map[string]any{"type": "hangup", "id": "nothing"})
	if e := b.expect(MsgError, nil); e.ID != "nothing" {
		t.Errorf("hangup of an unknown dial: error for %q", e.ID)
	}
}

// TestEveryCallSaysWhenItsMediaIsJoined: whether or not a call needs a
// renegotiation, the page is told media active once its audio is joined.
func TestEveryCallSaysWhenItsMediaIsJoined(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	for i, codec := range []sipbridge.Codec{sipPCMU, sipPCMU, sipPCMA, sipPCMA} {
		if i%2 == 0 {
			c := dialUp(t, b, sip, "1002", codec)
			c.end(monitor.ReasonCompleted, 0)
			b.expectEnded(c.id)
			continue
		}
		in := sip.ring("in-"+string(rune('a'+i)), "1001", codec)
		b.expect(MsgIncoming, nil)
		b.send(map[string]any{"type": "answer", "call": in.id})
		b.expectMedia(in.id, sipbridge.MediaActive)
		in.end(monitor.ReasonCompleted, 0)
		b.expectEnded(in.id)
	}
}

// TestWelcomeComesFirst: neither a call ringing already nor the reply to
// a message sent at once comes before welcome.
func TestWelcomeComesFirst(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}, "bob": {"1001"}})
	anna := openBrowser(t, base, "anna", capPCMU)
	sip.ring("in-1", "1001", sipPCMU)
	anna.expect(MsgIncoming, nil)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, base+"/phone?user=bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"teleport"}`)); err != nil {
		t.Fatal(err)
	}
	var types []MessageType
	for len(types) < 3 {
		_, buf, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Type MessageType }
		if err := json.Unmarshal(buf, &m); err != nil {
			t.Fatal(err)
		}
		types = append(types, m.Type)
	}
	if types[0] != MsgWelcome || !slices.Contains(types, MsgIncoming) || !slices.Contains(types, MsgError) {
		t.Errorf("messages %v, want welcome first, then the ringing call and the error", types)
	}
}

// TestErrorsNameTheirRequest: an error about a message the server does
// not understand still names the call and the id it carried.
func TestErrorsNameTheirRequest(t *testing.T) {
	sip := newFakeSIP(t, "1001")
	_, base := startGateway(t, testConfig(), sip, map[string][]string{"anna": {"1001"}})
	b := openBrowser(t, base, "anna", capPCMU)
	tests := []struct {
		name string
		msg  map[string]any
	}{
		{name: "unknown type", msg: map[string]any{"type": "teleport", "call": "1001:x", "id": "q1"}},
		{name: "bad digits", msg: map[string]any{"type": "dtmf", "call": "1001:x", "id": "q1", "digits": "1;2"}},
		{name: "transfer to nobody", msg: map[string]any{"type": "transfer", "call": "1001:x", "id": "q1"}},
		{name: "hold unknown call", msg: map[string]any{"type": "hold", "call": "1001:x", "id": "q1"}},
		{name: "resume unknown call", msg: map[string]any{"type": "resume", "call": "1001:x", "id": "q1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.send(tc.msg)
			if e := b.expect(MsgError, nil); e.CallID != "1001:x" || e.ID != "q1" || e.Message == "" {
				t.Errorf("error %q about call %q, id %q; want call 1001:x, id q1", e.Message, e.CallID, e.ID)
			}
		})
	}
}
