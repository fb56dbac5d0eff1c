package sipbridge

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// ccBed is kamailio and a bridge registered there as 1000 (account
// "office").
type ccBed struct {
	kam *siptest.Kamailio
	*side
}

// side is one bridge of a test with the calls it is handed: incoming
// ones and the ones that replace a call of its own (OnTransferred).
type side struct {
	br          *runningBridge
	account     string
	incoming    chan *Call
	transferred chan [2]*Call
}

func newCCBed(t *testing.T, account func(*AccountConfig)) *ccBed {
	t.Helper()
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	return &ccBed{kam: kam, side: startSide(t, kam, "office", "1000", account)}
}

// startSide runs a bridge registered at kam as user (account name).
func startSide(t *testing.T, kam *siptest.Kamailio, name, user string, account func(*AccountConfig)) *side {
	t.Helper()
	acct := testAccount(name, user, siptest.Password(user), kam.Addr(), 60)
	if account != nil {
		account(&acct)
	}
	s := &side{account: name, incoming: make(chan *Call, 4), transferred: make(chan [2]*Call, 4)}
	s.br = startBridge(t, Config{RTPListenIP: "127.0.0.1", Accounts: []AccountConfig{acct}}, func(c *Call) { s.incoming <- c })
	s.br.OnTransferred(func(old, next *Call) { s.transferred <- [2]*Call{old, next} })
	s.br.sink.waitStatus(t, name, monitor.LinkRegistered, 15*time.Second)
	return s
}

// sipAddr is the bridge's SIP address, for peers that call it directly.
func (s *side) sipAddr() string { return s.br.stack().udpC.LocalAddr().String() }

// phone starts a registered, auto-answering baresip phone playing hz.
func (bed *ccBed) phone(t *testing.T, user string, hz float64, codecs ...string) *siptest.Baresip {
	t.Helper()
	if len(codecs) == 0 {
		codecs = []string{"PCMU"}
	}
	p := siptest.StartBaresip(t, siptest.BaresipOptions{User: user, Registrar: bed.kam.Addr(), ToneHz: hz, AutoAnswer: true, Codecs: codecs})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

// dial places a call to target and waits until it is connected.
func (s *side) dial(t *testing.T, target string, codecs ...Codec) *Call {
	t.Helper()
	if len(codecs) == 0 {
		codecs = []Codec{CodecPCMU}
	}
	c, err := s.br.Dial(context.Background(), s.account, target, codecs)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, StateConnected, 15*time.Second)
	return c
}

// answerNext answers the next incoming call with PCMU.
func (s *side) answerNext(t *testing.T, ctx context.Context) *Call {
	t.Helper()
	select {
	case c := <-s.incoming:
		if _, err := c.Answer(ctx, []Codec{CodecPCMU}); err != nil {
			t.Fatal(err)
		}
		waitState(t, c, StateConnected, 5*time.Second)
		return c
	case <-ctx.Done():
		t.Fatal("no incoming call")
	}
	return nil
}

// waitTransferred waits for the OnTransferred handler.
func (s *side) waitTransferred(t *testing.T, d time.Duration) (old, next *Call) {
	t.Helper()
	select {
	case p := <-s.transferred:
		return p[0], p[1]
	case <-time.After(d):
		t.Fatalf("OnTransferred not called in %v", d)
	}
	return nil, nil
}

// waitEvent reads c's events until match; an end that does not match
// fails the test.
func waitEvent(t *testing.T, c *Call, what string, d time.Duration, match func(CallEvent) bool) CallEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed before %s", what)
			}
			if match(ev) {
				return ev
			}
			if ev.State == StateEnded {
				t.Fatalf("call ended (%s, %d %s) before %s", ev.Reason, ev.Status, ev.Text, what)
			}
		case <-timer.C:
			t.Fatalf("%s not seen in %v", what, d)
		}
	}
}

// transferStep matches a transfer progress event of state.
func transferStep(state TransferState) func(CallEvent) bool {
	return func(ev CallEvent) bool { return ev.Transfer != nil && ev.Transfer.State == state }
}

// legTap reads a call's RTP leg until it closes, as the gateway does:
// telephone-events it carries are reported by the leg, PCMU audio is
// decoded for tone checks.
type legTap struct {
	mu    sync.Mutex
	pcm   []int16
	first time.Time
	wake  chan struct{}
	done  chan struct{}
}

func tapLeg(t *testing.T, leg *RTPLeg) *legTap {
	t.Helper()
	p := &legTap{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 1500)
		for {
			n, err := leg.ReadRTP(buf)
			if err != nil {
				return
			}
			if buf[1]&0x7f != CodecPCMU.PayloadType {
				continue
			}
			_, payload, ok := rtpPayload(buf[:n])
			if !ok {
				continue
			}
			p.mu.Lock()
			if p.first.IsZero() {
				p.first = time.Now()
			}
			p.pcm = siptest.MuLawDecode(p.pcm, payload)
			p.mu.Unlock()
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		leg.Close()
		<-p.done
	})
	return p
}

// tone forgets what was heard so far, waits for a second and a half more
// and returns its dominant frequency.
func (p *legTap) tone(t *testing.T, d time.Duration) float64 {
	t.Helper()
	p.mu.Lock()
	p.pcm = p.pcm[:0]
	p.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.pcm) >= 8000*3/2 {
			hz := siptest.DominantFrequency(p.pcm, 8000)
			p.mu.Unlock()
			return hz
		}
		p.mu.Unlock()
		select {
		case <-p.wake:
		case <-p.done:
			t.Fatal("leg closed before a tone was heard")
		case <-timer.C:
			t.Fatalf("no second and a half of audio in %v", d)
		}
	}
}

// firstAudio is when the first audio packet arrived (zero before).
func (p *legTap) firstAudio() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

// playTone writes a PCMU tone into leg every 20 ms through WritePacket,
// as the gateway writes the page's audio, until the returned stop is
// called or the leg closes.
func playTone(t *testing.T, leg *RTPLeg, hz float64) (stop func()) {
	t.Helper()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		pcm := make([]int16, 160)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: CodecPCMU.PayloadType, SSRC: 0xb0b}, Payload: make([]byte, 0, 160)}
		for n := 0; ; n++ {
			for i := range pcm {
				pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(n*160+i)/8000))
			}
			pkt.Payload = siptest.MuLawEncode(pkt.Payload[:0], pcm)
			pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp = 0xb0b, uint16(n), uint32(n*160)
			if err := leg.WritePacket(&pkt); errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	t.Cleanup(stop)
	return stop
}
