package gateway

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// fakeSIP is a SIP side for tests: calls are driven by the test, media
// goes over a real pair of loopback UDP sockets.
type fakeSIP struct {
	mu          sync.Mutex
	incoming    func(SIPCall)
	transferred func(old, next SIPCall)
	statuses    []monitor.SourceStatus
	dialed      chan *fakeCall
	t           testing.TB
	// gate, when set, holds every Dial until it is closed (an INVITE
	// slow to go out).
	gate chan struct{}
	// onDial, when set, plays the far end before Dial returns (events
	// that arrive before the gateway has the call).
	onDial func(c *fakeCall)
}

func newFakeSIP(t testing.TB, accounts ...string) *fakeSIP {
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

func (f *fakeSIP) OnTransferred(fn func(old, next SIPCall)) {
	f.mu.Lock()
	f.transferred = fn
	f.mu.Unlock()
}

// transfer plays a far end that transferred us: old is replaced by next
// (a call the SIP side placed after a REFER, or an INVITE with Replaces).
func (f *fakeSIP) transfer(old, next *fakeCall) {
	next.transferredFrom = old.id
	f.mu.Lock()
	fn := f.transferred
	f.mu.Unlock()
	fn(old, next)
}

// newCall is a call of account that the test hands over by hand.
func (f *fakeSIP) newCall(id, account string, dir monitor.Direction, remote string) *fakeCall {
	return newFakeCall(f.t, monitor.MakeCallID(monitor.SourceName(account), id), account, dir, monitor.Party{Number: remote})
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
	if f.gate != nil {
		<-f.gate
	}
	if target == "fail" {
		return nil, errors.New("no route to the registrar")
	}
	c := newFakeCall(f.t, monitor.MakeCallID(monitor.SourceName(account), "out-"+target), account, monitor.Outbound, monitor.Party{Number: target})
	c.offered = codecs
	// As sipbridge does once the INVITE is out.
	c.progress(sipbridge.StateTrying, nil)
	if f.onDial != nil {
		f.onDial(c)
	}
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
	state    sipbridge.CallState
	answered chan []sipbridge.Codec
	rejected chan int
	hungUp   chan struct{}
	// stuck makes Hangup wait for its ctx, as a SIP side whose far end
	// never answers the BYE.
	stuck bool

	// Call control as the far end plays it.
	mediaState sipbridge.MediaState
	// farHolds is set while the far end holds the call.
	farHolds bool
	// holdErr, when set, is what Hold and Resume return (a far end that
	// refuses the re-INVITE, or a SIP side without hold).
	holdErr error
	// control receives "hold", "resume", "transfer TARGET", "transfer-to
	// ID" and "dtmf DIGITS" as the gateway asks for them.
	control chan string
	// transferErr and dtmfErr are what Transfer/TransferTo and SendDTMF
	// return.
	transferErr error
	dtmfErr     error

	transferredFrom monitor.CallID
	// reportsMedia makes Answer report active media, as a SIP side with
	// media states does; without it the gateway derives it.
	reportsMedia bool
}

func newFakeCall(t testing.TB, id monitor.CallID, account string, dir monitor.Direction, remote monitor.Party) *fakeCall {
	t.Helper()
	leg, far := newLegPair(t)
	state := sipbridge.StateTrying
	if dir == monitor.Inbound {
		state = sipbridge.StateRinging
	}
	return &fakeCall{
		id: id, account: account, direction: dir, remote: remote, state: state,
		events: make(chan sipbridge.CallEvent, 64), leg: leg, far: far,
		answered: make(chan []sipbridge.Codec, 1), rejected: make(chan int, 1), hungUp: make(chan struct{}, 1),
		control: make(chan string, 16), mediaState: sipbridge.MediaNone,
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
	c.state = state
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: state, Codec: codec}
}

// setMedia changes the media state and emits it, as sipbridge does: the
// event repeats the call's state.
func (c *fakeCall) setMedia(m sipbridge.MediaState, text string) {
	c.mu.Lock()
	c.mediaState = m
	st := c.state
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: st, Media: m, Text: text}
}

// connect answers an outgoing call (or a transferred one) with codec and
// reports active media, as sipbridge does.
func (c *fakeCall) connect(codec sipbridge.Codec) {
	c.progress(sipbridge.StateConnected, &codec)
	c.setMedia(sipbridge.MediaActive, "")
}

// farHold plays the far end holding the call (a=sendonly) and resuming.
func (c *fakeCall) farHold(on bool) {
	c.mu.Lock()
	c.farHolds = on
	m := c.mediaState
	c.mu.Unlock()
	c.setMedia(holdState(m == sipbridge.MediaLocalHold || m == sipbridge.MediaInactive, on), "")
}

// holdState is the media state for who holds (RFC 3264 section 8.4).
func holdState(we, they bool) sipbridge.MediaState {
	switch {
	case we && they:
		return sipbridge.MediaInactive
	case we:
		return sipbridge.MediaLocalHold
	case they:
		return sipbridge.MediaRemoteHold
	}
	return sipbridge.MediaActive
}

// transferStep emits a transfer's progress.
func (c *fakeCall) transferStep(state sipbridge.TransferState, status int, msg string) {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: st, Transfer: &sipbridge.TransferProgress{State: state, Status: status, Message: msg}}
}

// sendDigits plays the far end pressing keys.
func (c *fakeCall) sendDigits(d string) {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: st, DTMF: d}
}

// changeCodec plays a re-INVITE that chose another codec.
func (c *fakeCall) changeCodec(codec sipbridge.Codec) {
	c.mu.Lock()
	c.codec = &codec
	st := c.state
	c.mu.Unlock()
	c.events <- sipbridge.CallEvent{State: st, Codec: &codec}
}

// nextControl waits for the next call-control request the gateway made.
func (c *fakeCall) nextControl(t *testing.T) string {
	t.Helper()
	select {
	case s := <-c.control:
		return s
	case <-time.After(testTimeout):
		t.Fatalf("call %s: no call-control request within %s", c.id, testTimeout)
		return ""
	}
}

func (c *fakeCall) State() sipbridge.CallState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *fakeCall) MediaState() sipbridge.MediaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mediaState
}

func (c *fakeCall) TransferredFrom() monitor.CallID { return c.transferredFrom }

func (c *fakeCall) Hold(context.Context) error {
	c.control <- "hold"
	c.mu.Lock()
	err, they := c.holdErr, c.farHolds
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.setMedia(holdState(true, they), "")
	return nil
}

func (c *fakeCall) Resume(context.Context) error {
	c.control <- "resume"
	c.mu.Lock()
	err, they := c.holdErr, c.farHolds
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.setMedia(holdState(false, they), "")
	return nil
}

func (c *fakeCall) Transfer(_ context.Context, target string) error {
	c.control <- "transfer " + target
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transferErr
}

func (c *fakeCall) TransferTo(_ context.Context, consult SIPCall) error {
	c.control <- "transfer-to " + string(consult.ID())
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transferErr
}

func (c *fakeCall) SendDTMF(_ context.Context, digits string) error {
	c.control <- "dtmf " + digits
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dtmfErr
}

// configure changes how the far end behaves (holdErr, transferErr,
// dtmfErr, reportsMedia) while the gateway may be calling it.
func (c *fakeCall) configure(fn func(c *fakeCall)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c)
}

// noControl fails when the gateway asked for call control not expected.
func (c *fakeCall) noControl(t *testing.T) {
	t.Helper()
	select {
	case s := <-c.control:
		t.Errorf("call %s: unexpected %q", c.id, s)
	default:
	}
}

// end emits the last event and closes the media, once.
func (c *fakeCall) end(reason monitor.Reason, status int) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.state = sipbridge.StateEnded
	c.mediaState = sipbridge.MediaNone
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
				c.mu.Lock()
				report := c.reportsMedia
				c.mu.Unlock()
				if report {
					c.setMedia(sipbridge.MediaActive, "")
				}
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

// Close closes the socket, as *sipbridge.RTPLeg's Close does.
func (l *fakeLeg) Close() error { return l.conn.Close() }

// newLegPair opens the gateway-side and far-side sockets of a call.
func newLegPair(t testing.TB) (*fakeLeg, *net.UDPConn) {
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
