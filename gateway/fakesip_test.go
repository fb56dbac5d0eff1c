package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// fakeSIP is a SIP side for tests: calls are driven by the test, media
// goes over a real pair of loopback UDP sockets.
type fakeSIP struct {
	mu       sync.Mutex
	incoming func(SIPCall)
	statuses []monitor.SourceStatus
	dialed   chan *fakeCall
	t        *testing.T
}

func newFakeSIP(t *testing.T, accounts ...string) *fakeSIP {
	t.Helper()
	f := &fakeSIP{dialed: make(chan *fakeCall, 4), t: t}
	for _, a := range accounts {
		f.statuses = append(f.statuses, monitor.SourceStatus{Name: monitor.SourceName(a), Type: "sip", State: monitor.LinkRegistered})
	}
	return f
}

func (f *fakeSIP) OnIncoming(fn func(SIPCall)) {
	f.mu.Lock()
	f.incoming = fn
	f.mu.Unlock()
}

func (f *fakeSIP) Statuses() []monitor.SourceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]monitor.SourceStatus(nil), f.statuses...)
}

func (f *fakeSIP) setStatus(st monitor.SourceStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.statuses {
		if f.statuses[i].Name == st.Name {
			f.statuses[i] = st
		}
	}
}

func (f *fakeSIP) Dial(_ context.Context, account, target string, codecs []sipbridge.Codec) (SIPCall, error) {
	if target == "fail" {
		return nil, errors.New("no route to the registrar")
	}
	c := newFakeCall(f.t, monitor.MakeCallID(monitor.SourceName(account), "out-"+target), account, monitor.Outbound, monitor.Party{Number: target})
	c.offered = codecs
	f.dialed <- c
	return c, nil
}

// ring delivers an incoming call offering codecs.
func (f *fakeSIP) ring(id, account string, codecs ...sipbridge.Codec) *fakeCall {
	c := newFakeCall(f.t, monitor.MakeCallID(monitor.SourceName(account), id), account, monitor.Inbound, monitor.Party{Number: "0301234"})
	c.offered = codecs
	f.mu.Lock()
	fn := f.incoming
	f.mu.Unlock()
	fn(c)
	return c
}

// fakeCall is one call; the test plays the far end through far.
type fakeCall struct {
	id        monitor.CallID
	account   string
	direction monitor.Direction
	remote    monitor.Party
	offered   []sipbridge.Codec
	events    chan sipbridge.CallEvent
	leg       *fakeLeg
	far       *net.UDPConn

	mu       sync.Mutex
	codec    *sipbridge.Codec
	media    bool
	ended    bool
	answered chan []sipbridge.Codec
	rejected chan int
	hungUp   chan struct{}
	// stuck makes Hangup wait for its ctx, as a SIP side whose far end
	// never answers the BYE.
	stuck bool
}

func newFakeCall(t *testing.T, id monitor.CallID, account string, dir monitor.Direction, remote monitor.Party) *fakeCall {
	t.Helper()
	leg, far := newLegPair(t)
	return &fakeCall{
		id: id, account: account, direction: dir, remote: remote,
		events: make(chan sipbridge.CallEvent, 16), leg: leg, far: far,
		answered: make(chan []sipbridge.Codec, 1), rejected: make(chan int, 1), hungUp: make(chan struct{}, 1),
	}
}

func (c *fakeCall) ID() monitor.CallID                 { return c.id }
func (c *fakeCall) Account() string                    { return c.account }
func (c *fakeCall) Direction() monitor.Direction       { return c.direction }
func (c *fakeCall) Remote() monitor.Party              { return c.remote }
func (c *fakeCall) Offered() []sipbridge.Codec         { return c.offered }
func (c *fakeCall) Events() <-chan sipbridge.CallEvent { return c.events }
func (c *fakeCall) DTMFPayloadType() (uint8, bool) {
	return 101, true
}

func (c *fakeCall) Codec() (sipbridge.Codec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.codec == nil {
		return sipbridge.Codec{}, false
	}
	return *c.codec, true
}

func (c *fakeCall) Media() MediaLeg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.media {
		return nil
	}
	return c.leg
}

// progress emits a state; with codec, media is negotiated.
func (c *fakeCall) progress(state sipbridge.CallState, codec *sipbridge.Codec) {
	c.mu.Lock()
	if codec != nil {
		c.codec, c.media = codec, true
	}
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: state, Codec: codec}
}

// end emits the last event and closes the media, once.
func (c *fakeCall) end(reason monitor.Reason, status int) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: sipbridge.StateEnded, Reason: reason, Status: status}
	close(c.events)
	_ = c.leg.conn.Close()
}

func (c *fakeCall) Answer(_ context.Context, accept []sipbridge.Codec) (sipbridge.Codec, error) {
	for _, o := range c.offered {
		for _, a := range accept {
			if a.SameFormat(o) {
				o := o
				c.answered <- accept
				c.progress(sipbridge.StateConnected, &o)
				return o, nil
			}
		}
	}
	return sipbridge.Codec{}, ErrNoCodec
}

func (c *fakeCall) Reject(_ context.Context, code int) error {
	c.rejected <- code
	c.end(monitor.ReasonRejected, code)
	return nil
}

func (c *fakeCall) Hangup(ctx context.Context) error {
	select {
	case c.hungUp <- struct{}{}:
	default:
	}
	if c.stuck {
		<-ctx.Done()
		return ctx.Err()
	}
	c.end(monitor.ReasonCompleted, 0)
	return nil
}

// fakeLeg is the gateway's side of a call's RTP: a UDP socket sending to
// the far end's. It sends packets as they are written, without a stream
// of its own.
type fakeLeg struct {
	conn *net.UDPConn
	peer netip.AddrPort
	mu   sync.Mutex
	buf  [1500]byte
}

func (l *fakeLeg) ReadRTP(b []byte) (int, error) {
	n, _, err := l.conn.ReadFromUDPAddrPort(b)
	return n, err
}

func (l *fakeLeg) WritePacket(p *rtp.Packet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := p.MarshalTo(l.buf[:])
	if err != nil {
		return err
	}
	_, err = l.conn.WriteToUDPAddrPort(l.buf[:n], l.peer)
	return err
}

// newLegPair opens the gateway-side and far-side sockets of a call.
func newLegPair(t *testing.T) (*fakeLeg, *net.UDPConn) {
	t.Helper()
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return &fakeLeg{conn: a, peer: b.LocalAddr().(*net.UDPAddr).AddrPort()}, b
}
