package gateway

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// testTimeout bounds every wait of a test.
const testTimeout = 10 * time.Second

// testConfig is a loopback-only gateway.
func testConfig() Config {
	return Config{IncludeLoopback: true}
}

// startGateway runs g behind an httptest server whose /phone serves user
// from the ?user= query (names → accounts in users).
func startGateway(t testing.TB, cfg Config, sip SIP, users map[string][]string, opts ...Option) (*Gateway, string) {
	t.Helper()
	g, err := New(cfg, sip, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("user")
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		_ = g.ServeSession(r.Context(), PhoneUser{Name: name, Accounts: users[name]}, conn)
	}))
	t.Cleanup(func() {
		_ = g.Close()
		srv.Close()
		wg.Wait()
	})
	return g, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// browserAPI is a loopback pion stack standing in for Chromium.
func browserAPI(t *testing.T) *webrtc.API {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Sockets as the gateway's: on a plain one pion's ECN reader hands
	// every packet's attributes on, and a receive buffer that grows
	// while this end falls behind allocates a slot for them, which the
	// allocation tests would count against the gateway.
	if n, err := stdnet.NewNet(); err == nil {
		se.SetNet(rawNet{n})
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"}, PayloadType: 126,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	// No interceptors, so that benchmarks count only the gateway's
	// allocations.
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

// testBrowser is a softphone page: a WebSocket and a pion PeerConnection
// that answers the server's offers as a browser would.
type testBrowser struct {
	t     *testing.T
	conn  *websocket.Conn
	pc    *webrtc.PeerConnection
	local *webrtc.TrackLocalStaticRTP
	msgs  chan pageMessage
	errs  chan error
	heard *collector
	wg    sync.WaitGroup
	// welcome is the server's first message.
	welcome pageMessage

	mu        sync.Mutex
	iceStates []webrtc.ICEConnectionState
	offers    []string // the server's SDP, first answer then offers
	stopTone  chan struct{}
	// closeErr is why the connection ended; set before msgs closes.
	closeErr error
	// latest is every call as the last message about it showed it.
	latest map[monitor.CallID]PhoneCall
}

// wireMessage decodes both message shapes ("call" is an object or an id).
type wireMessage struct {
	serverMessage
	Call    json.RawMessage `json:"call"`
	Message string          `json:"message"`
	Digits  string          `json:"digits"`
}

// pageMessage is a server message as the page reads it.
type pageMessage struct {
	serverMessage
	// Message and CallID are set on errors, CallID and Digits on dtmf.
	Message string
	CallID  string
	Digits  string
	// raw is the message as sent.
	raw string
}

func openBrowser(t *testing.T, base, user string, codec webrtc.RTPCodecCapability) *testBrowser {
	t.Helper()
	return openBrowserWith(t, browserAPI(t), base, user, codec)
}

// openBrowserWith opens a page whose WebRTC stack is api (its codecs).
func openBrowserWith(t *testing.T, api *webrtc.API, base, user string, codec webrtc.RTPCodecCapability) *testBrowser {
	t.Helper()
	b := offerFromPage(t, api, base, user, codec)
	b.expect(MsgSDP, nil)
	return b
}

// offerFromPage opens a page and sends its first offer.
func offerFromPage(t *testing.T, api *webrtc.API, base, user string, codec webrtc.RTPCodecCapability) *testBrowser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, base+"/phone?user="+user, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := webrtc.NewTrackLocalStaticRTP(codec, "mic", "browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(local); err != nil {
		t.Fatal(err)
	}
	b := &testBrowser{t: t, conn: conn, pc: pc, local: local, msgs: make(chan pageMessage, 64), errs: make(chan error, 8), heard: &collector{}}
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		b.mu.Lock()
		b.iceStates = append(b.iceStates, s)
		b.mu.Unlock()
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.wg.Add(1)
		defer b.wg.Done()
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if p.Unmarshal(buf[:n]) == nil {
				b.heard.add(&p)
			}
		}
	})
	t.Cleanup(b.close)
	b.wg.Add(1)
	go b.readLoop()

	// As the page does after getUserMedia: offer, non-trickle.
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	w := b.expect("welcome", nil)
	b.welcome = w
	b.send(map[string]any{"type": "sdp", "sdp": pc.LocalDescription()})
	return b
}

func (b *testBrowser) close() {
	_ = b.conn.Close(websocket.StatusNormalClosure, "")
	b.stop()
	_ = b.pc.GracefulClose()
	b.wg.Wait()
}

func (b *testBrowser) send(v any) {
	b.t.Helper()
	buf, err := json.Marshal(v)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := b.conn.Write(ctx, websocket.MessageText, buf); err != nil {
		b.t.Fatal(err)
	}
}

// readLoop answers the server's SDP and queues every message for expect.
func (b *testBrowser) readLoop() {
	defer b.wg.Done()
	defer close(b.msgs)
	for {
		_, buf, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.closeErr = err
			b.mu.Unlock()
			return
		}
		var m wireMessage
		if err := json.Unmarshal(buf, &m); err != nil {
			b.errs <- err
			return
		}
		sm := pageMessage{serverMessage: m.serverMessage, Message: m.Message, Digits: m.Digits, raw: string(buf)}
		if len(m.Call) > 0 && m.Call[0] == '"' {
			_ = json.Unmarshal(m.Call, &sm.CallID)
		}
		if len(m.Call) > 0 && m.Call[0] == '{' {
			var pc PhoneCall
			if err := json.Unmarshal(m.Call, &pc); err != nil {
				b.errs <- err
				return
			}
			sm.Call = &pc
			b.mu.Lock()
			if b.latest == nil {
				b.latest = map[monitor.CallID]PhoneCall{}
			}
			b.latest[pc.ID] = pc
			b.mu.Unlock()
		}
		if sm.Type == "sdp" && sm.SDP != nil {
			if err := b.onSDP(*sm.SDP); err != nil {
				b.errs <- err
				return
			}
		}
		b.msgs <- sm
	}
}

func (b *testBrowser) onSDP(d webrtc.SessionDescription) error {
	b.mu.Lock()
	b.offers = append(b.offers, d.SDP)
	b.mu.Unlock()
	if err := b.pc.SetRemoteDescription(d); err != nil {
		return err
	}
	if d.Type != webrtc.SDPTypeOffer {
		return nil
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := b.pc.SetLocalDescription(a); err != nil {
		return err
	}
	buf, err := json.Marshal(map[string]any{"type": "sdp", "sdp": b.pc.LocalDescription()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return b.conn.Write(ctx, websocket.MessageText, buf)
}

// expect waits for the next message of type typ for which ok holds (nil:
// any), skipping others.
func (b *testBrowser) expect(typ MessageType, ok func(pageMessage) bool) pageMessage {
	b.t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case m, open := <-b.msgs:
			if !open {
				b.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if m.Type == typ && (ok == nil || ok(m)) {
				return m
			}
		case err := <-b.errs:
			b.t.Fatalf("browser: %v", err)
		case <-deadline:
			b.t.Fatalf("no %s message within %s", typ, testTimeout)
		}
	}
}

// waitCall waits until the page's latest view of call id satisfies ok,
// whichever message brought it.
func (b *testBrowser) waitCall(id monitor.CallID, ok func(PhoneCall) bool) PhoneCall {
	b.t.Helper()
	deadline := time.After(testTimeout)
	for {
		b.mu.Lock()
		v, seen := b.latest[id]
		b.mu.Unlock()
		if seen && ok(v) {
			return v
		}
		select {
		case _, open := <-b.msgs:
			if !open {
				b.t.Fatalf("connection closed while waiting for call %s", id)
			}
		case err := <-b.errs:
			b.t.Fatalf("browser: %v", err)
		case <-deadline:
			b.t.Fatalf("call %s: not as wanted within %s; last seen %+v", id, testTimeout, v)
		}
	}
}

// expectCall waits for a call message in state.
func (b *testBrowser) expectCall(state sipbridge.CallState) PhoneCall {
	b.t.Helper()
	m := b.expect("call", func(m pageMessage) bool { return m.Call != nil && m.Call.State == state })
	return *m.Call
}

// playTone sends a PCMU tone at hz, 20 ms per packet, until stopped.
func (b *testBrowser) playTone(hz float64) {
	b.stopTone = make(chan struct{})
	stop := b.stopTone
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		sendTone(stop, hz, func(p *rtp.Packet) error { return b.local.WriteRTP(p) })
	}()
}

func (b *testBrowser) stop() {
	if b.stopTone != nil {
		close(b.stopTone)
		b.stopTone = nil
	}
}

// sendTone paces 20 ms PCMU packets of a tone at hz through write until
// stop closes.
func sendTone(stop <-chan struct{}, hz float64, write func(*rtp.Packet) error) {
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	p := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 0x1234}, Payload: make([]byte, 160)}
	n := 0
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		toneFrame(p.Payload, hz, n)
		n += 160
		p.SequenceNumber++
		p.Timestamp += 160
		if err := write(&p); err != nil {
			return
		}
	}
}

// collector gathers received PCMU audio once armed.
type collector struct {
	mu      sync.Mutex
	want    int
	samples []float64
	pts     map[uint8]int
	ssrcs   map[uint32]bool
	full    chan struct{}
	// lastTS is the RTP timestamp of the latest packet and lastAt when it
	// came, armed or not.
	lastTS uint32
	lastAt time.Time
}

// arm starts collecting n samples afresh; the channel closes when done.
func (c *collector) arm(n int) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want, c.samples, c.pts, c.ssrcs, c.full = n, nil, map[uint8]int{}, map[uint32]bool{}, make(chan struct{})
	return c.full
}

func (c *collector) add(p *rtp.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastTS, c.lastAt = p.Timestamp, time.Now()
	if c.full == nil || len(c.samples) >= c.want {
		return
	}
	c.pts[p.PayloadType]++
	c.ssrcs[p.SSRC] = true
	for _, v := range p.Payload {
		c.samples = append(c.samples, float64(ulawDecode(v))/32768)
	}
	if len(c.samples) >= c.want {
		close(c.full)
	}
}

// latest is the timestamp of the latest packet and when it came.
func (c *collector) latest() (uint32, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastTS, c.lastAt
}

// result is the tone heard in the second half (the jitter of the first
// packets settles) and the payload types seen.
func (c *collector) result() (int, map[uint8]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.samples[len(c.samples)/2:]
	return peakHz(x, 8000), c.pts, len(c.ssrcs)
}

// dominates reports whether the second half of what was collected has
// far more of a tone at want than at other: audio from one call only.
func (c *collector) dominates(want, other float64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.samples[len(c.samples)/2:]
	return goertzel(x, 8000, want) > 50*goertzel(x, 8000, other)
}

func waitFull(t *testing.T, full <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-full:
	case <-time.After(testTimeout):
		t.Fatalf("no audio for %s within %s", what, testTimeout)
	}
}

// farEnd plays a SIP phone on a fake call's far socket.
type farEnd struct {
	c     *fakeCall
	heard *collector
	stopC chan struct{}
	wg    sync.WaitGroup
}

func startFarEnd(t *testing.T, c *fakeCall, hz float64, pt uint8) *farEnd {
	t.Helper()
	f := &farEnd{c: c, heard: &collector{}, stopC: make(chan struct{})}
	peer := c.leg.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	buf := make([]byte, 1500)
	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		sendTone(f.stopC, hz, func(p *rtp.Packet) error {
			p.PayloadType = pt
			n, err := p.MarshalTo(buf)
			if err != nil {
				return err
			}
			_, err = c.far.WriteToUDPAddrPort(buf[:n], peer)
			return err
		})
	}()
	go func() {
		defer f.wg.Done()
		rb := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := c.far.ReadFromUDPAddrPort(rb)
			if err != nil {
				return
			}
			if p.Unmarshal(rb[:n]) == nil {
				f.heard.add(&p)
			}
		}
	}()
	t.Cleanup(f.stop)
	return f
}

func (f *farEnd) stop() {
	select {
	case <-f.stopC:
	default:
		close(f.stopC)
	}
	_ = f.c.far.Close()
	f.wg.Wait()
}
