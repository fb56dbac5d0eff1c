package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// phonePage is a softphone page without a browser: the /phone WebSocket
// and a loopback pion PeerConnection that offers first and answers the
// server's renegotiations, as static/phone.js does.
type phonePage struct {
	t    *testing.T
	conn *websocket.Conn
	pc   *webrtc.PeerConnection
	mic  *webrtc.TrackLocalStaticRTP // what the page sends, PCMU
	msgs chan phoneMsg
	wg   sync.WaitGroup

	mu       sync.Mutex
	closeErr error // why the socket ended; set before msgs closes
	failed   error
}

// phoneMsg is a server message as the page reads it.
type phoneMsg struct {
	Type    string                     `json:"type"`
	Message string                     `json:"message"`
	Call    json.RawMessage            `json:"call"`
	SDP     *webrtc.SessionDescription `json:"sdp"`
}

// phoneCall is the PhoneCall of the /phone protocol.
type phoneCall struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// openPhonePage opens /phone with the signed-in client c and sets up the
// media connection.
func openPhonePage(t *testing.T, ctx context.Context, base string, c *http.Client) *phonePage {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"phone",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: http.Header{"Origin": {strings.TrimSuffix(base, "/")}}})
	if err != nil {
		t.Fatalf("open /phone: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	mic, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "mic", "page")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(mic); err != nil {
		t.Fatal(err)
	}
	p := &phonePage{t: t, conn: conn, pc: pc, mic: mic, msgs: make(chan phoneMsg, 64)}
	t.Cleanup(func() {
		_ = conn.CloseNow()
		_ = pc.Close()
		p.wg.Wait()
	})
	p.wg.Add(1)
	go p.readLoop()
	p.expect(ctx, "welcome")
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	p.send(ctx, map[string]any{"type": "sdp", "sdp": pc.LocalDescription()})
	p.expect(ctx, "sdp")
	return p
}

// readLoop answers the server's SDP and hands every message to expect.
func (p *phonePage) readLoop() {
	defer p.wg.Done()
	defer close(p.msgs)
	for {
		_, b, err := p.conn.Read(context.Background())
		if err != nil {
			p.mu.Lock()
			p.closeErr = err
			p.mu.Unlock()
			return
		}
		var m phoneMsg
		if err := json.Unmarshal(b, &m); err != nil {
			p.fail(fmt.Errorf("bad message %s: %w", b, err))
			continue
		}
		if m.Type == "sdp" && m.SDP != nil {
			if err := p.onSDP(*m.SDP); err != nil {
				p.fail(err)
			}
		}
		p.msgs <- m
	}
}

func (p *phonePage) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed == nil {
		p.failed = err
	}
}

func (p *phonePage) onSDP(d webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return fmt.Errorf("set remote %s: %w", d.Type, err)
	}
	if d.Type != webrtc.SDPTypeOffer {
		return nil
	}
	a, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := p.pc.SetLocalDescription(a); err != nil {
		return err
	}
	b, err := json.Marshal(map[string]any{"type": "sdp", "sdp": p.pc.LocalDescription()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.conn.Write(ctx, websocket.MessageText, b)
}

func (p *phonePage) send(ctx context.Context, v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.conn.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatalf("page send: %v", err)
	}
}

// expect waits for the next message of type typ, skipping others.
func (p *phonePage) expect(ctx context.Context, typ string) phoneMsg {
	p.t.Helper()
	for {
		select {
		case m, open := <-p.msgs:
			if !open {
				p.t.Fatalf("page closed while waiting for %s: %v", typ, p.closed())
			}
			if m.Type == "error" {
				p.t.Logf("page got error: %s", m.Message)
			}
			if m.Type == typ {
				return m
			}
		case <-ctx.Done():
			p.t.Fatalf("no %s message: %v", typ, ctx.Err())
		}
	}
}

// expectCall waits for a call message in state.
func (p *phonePage) expectCall(ctx context.Context, state string) phoneCall {
	p.t.Helper()
	for {
		m := p.expect(ctx, "call")
		var c phoneCall
		if err := json.Unmarshal(m.Call, &c); err != nil {
			p.t.Fatalf("call message %s: %v", m.Call, err)
		}
		if c.State == state {
			return c
		}
		if c.State == "ended" {
			p.t.Fatalf("call ended (%s: %s) before %s", c.Reason, c.Message, state)
		}
	}
}

// waitClosed reads the rest and returns why the socket ended.
func (p *phonePage) waitClosed(ctx context.Context) error {
	p.t.Helper()
	for {
		select {
		case _, open := <-p.msgs:
			if !open {
				return p.closed()
			}
		case <-ctx.Done():
			p.t.Fatalf("phone socket still open: %v", ctx.Err())
		}
	}
}

func (p *phonePage) closed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeErr
}
