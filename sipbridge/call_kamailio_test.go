package sipbridge

import (
	"context"
	"errors"
	"math"
	"net"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// callBed is kamailio, a bridge registered as 1000 and a baresip phone
// 1001 sending a 1000 Hz tone.
type callBed struct {
	kam   *siptest.Kamailio
	br    *runningBridge
	phone *siptest.Baresip
}

func newCallBed(t *testing.T, autoAnswer bool, incoming func(*Call)) *callBed {
	t.Helper()
	siptest.RequireBinaries(t, "kamailio", "baresip")
	kam := siptest.StartKamailio(t, siptest.KamailioOptions{})
	br := startBridge(t, Config{RTPListenIP: "127.0.0.1", Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", kam.Addr(), 60)}}, incoming)
	br.sink.waitStatus(t, "office", monitor.LinkRegistered, 15*time.Second)
	phone := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1001", Registrar: kam.Addr(), ToneHz: 1000, AutoAnswer: autoAnswer, Codecs: []string{"PCMU"}})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := phone.WaitRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	return &callBed{kam: kam, br: br, phone: phone}
}

// waitState reads c's events until state; it fails on an earlier end.
func waitState(t *testing.T, c *Call, state CallState, d time.Duration) CallEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed before %s", state)
			}
			if ev.State == state {
				return ev
			}
			if ev.State == StateEnded {
				t.Fatalf("call ended (%s, %d %s) before %s", ev.Reason, ev.Status, ev.Text, state)
			}
		case <-timer.C:
			t.Fatalf("state %s not reached in %v", state, d)
		}
	}
}

// sendTone writes a PCMU tone of hz into leg every 20 ms until stop.
func sendTone(leg *RTPLeg, pt uint8, hz float64, stop <-chan struct{}) {
	const samples = 160
	pkt := make([]byte, 12+samples)
	pkt[0], pkt[1] = 0x80, pt
	pkt[8], pkt[9], pkt[10], pkt[11] = 0x12, 0x34, 0x56, 0x78
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	pcm := make([]int16, samples)
	for n := 0; ; n++ {
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(n*samples+i)/8000))
		}
		siptest.MuLawEncode(pkt[12:12], pcm)
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		if _, err := leg.WriteRTP(pkt); err != nil {
			return
		}
		seq++
		ts += samples
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// heardTone reads about a second and a half of PCMU from leg and returns
// its dominant frequency.
func heardTone(t *testing.T, leg *RTPLeg) float64 {
	t.Helper()
	var pcm []int16
	buf := make([]byte, 1500)
	for len(pcm) < 8000*3/2 {
		n, err := leg.ReadRTP(buf)
		if err != nil {
			t.Fatalf("read rtp: %v", err)
		}
		if buf[1]&0x7f != 0 || n <= 12 {
			continue
		}
		pcm = siptest.MuLawDecode(pcm, buf[12:n])
	}
	return siptest.DominantFrequency(pcm, 8000)
}

func near(got, want float64) bool { return math.Abs(got-want) < want*0.03 }

func TestOutgoingCallAudio(t *testing.T) {
	bed := newCallBed(t, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := bed.br.Dial(ctx, "office", "1001", []Codec{CodecPCMU, CodecPCMA})
	if err != nil {
		t.Fatal(err)
	}
	if c.Direction() != monitor.Outbound || c.Account() != "office" || c.Remote().Number != "1001" {
		t.Fatalf("call %s %s %+v", c.Direction(), c.Account(), c.Remote())
	}
	ev := waitState(t, c, StateConnected, 15*time.Second)
	if ev.Codec == nil || ev.Codec.Name != "PCMU" {
		t.Fatalf("answered with codec %v, want PCMU", ev.Codec)
	}
	if pt, ok := c.DTMFPayloadType(); !ok || pt != 101 {
		t.Errorf("dtmf payload type = %d, %v", pt, ok)
	}
	leg := c.Media()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { defer close(sent); sendTone(leg, ev.Codec.PayloadType, 440, stop) }()
	if hz := heardTone(t, leg); !near(hz, 1000) {
		t.Errorf("heard %.0f Hz from the phone, want 1000", hz)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-sent
	last := drain(t, c)
	if last.Reason != monitor.ReasonCompleted {
		t.Errorf("ended %+v, want completed", last)
	}
	if mc, ok := bed.br.sink.lastCall(c.ID()); !ok || mc.State != monitor.Ended || mc.Answered.IsZero() {
		t.Errorf("monitor call %+v", mc)
	}
	if err := bed.phone.WaitRecorded(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if hz, err := bed.phone.CheckHeard(440); err != nil {
		t.Errorf("phone heard %.0f Hz: %v", hz, err)
	}
	if _, err := leg.ReadRTP(make([]byte, 1500)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadRTP after end = %v, want net.ErrClosed", err)
	}
}

// drain reads c's events to the end and returns the ended one.
func drain(t *testing.T, c *Call) CallEvent {
	t.Helper()
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	var last CallEvent
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				if last.State != StateEnded {
					t.Fatalf("events closed without ended: %+v", last)
				}
				<-c.Done()
				return last
			}
			last = ev
		case <-timer.C:
			t.Fatal("call did not end")
		}
	}
}

func TestIncomingCallAudio(t *testing.T) {
	calls := make(chan *Call, 1)
	bed := newCallBed(t, true, func(c *Call) { calls <- c })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bed.phone.Dial(ctx, "sip:1000@"+bed.kam.Addr()); err != nil {
		t.Fatal(err)
	}
	var c *Call
	select {
	case c = <-calls:
	case <-ctx.Done():
		t.Fatal("no incoming call")
	}
	if c.Direction() != monitor.Inbound || c.Remote().Number != "1001" || len(c.Offered()) == 0 {
		t.Fatalf("incoming %s %+v offered %v", c.Direction(), c.Remote(), c.Offered())
	}
	codec, err := c.Answer(ctx, []Codec{CodecPCMA, CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	if codec.Name != "PCMU" {
		t.Fatalf("answered with %s, want PCMU (the caller offers only PCMU)", codec)
	}
	waitState(t, c, StateConnected, 5*time.Second)
	leg := c.Media()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { defer close(sent); sendTone(leg, codec.PayloadType, 440, stop) }()
	if hz := heardTone(t, leg); !near(hz, 1000) {
		t.Errorf("heard %.0f Hz from the phone, want 1000", hz)
	}
	// The phone hangs up only once it has recorded a second of us: we
	// may hear it before it hears much of us.
	if err := bed.phone.WaitRecorded(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := bed.phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	last := drain(t, c)
	close(stop)
	<-sent
	if last.Reason != monitor.ReasonCompleted {
		t.Errorf("ended %+v, want completed", last)
	}
	if hz, err := bed.phone.CheckHeard(440); err != nil {
		t.Errorf("phone heard %.0f Hz: %v", hz, err)
	}
}

func TestOutgoingCallCancelWhileRinging(t *testing.T) {
	bed := newCallBed(t, false, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := bed.br.Dial(ctx, "office", "1001", []Codec{CodecPCMU})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, c, StateRinging, 15*time.Second)
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if last := drain(t, c); last.Reason != monitor.ReasonCancelled {
		t.Errorf("ended %+v, want cancelled", last)
	}
	if _, err := bed.phone.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Errorf("phone did not stop ringing: %v", err)
	}
}

func TestIncomingCallCallerCancels(t *testing.T) {
	calls := make(chan *Call, 1)
	bed := newCallBed(t, false, func(c *Call) { calls <- c })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bed.phone.Dial(ctx, "sip:1000@"+bed.kam.Addr()); err != nil {
		t.Fatal(err)
	}
	var c *Call
	select {
	case c = <-calls:
	case <-ctx.Done():
		t.Fatal("no incoming call")
	}
	if err := bed.phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	last := drain(t, c)
	if last.Reason != monitor.ReasonCancelled {
		t.Errorf("ended %+v, want cancelled", last)
	}
	if _, err := c.Answer(ctx, []Codec{CodecPCMU}); !errors.Is(err, ErrCallEnded) {
		t.Errorf("Answer after cancel = %v, want ErrCallEnded", err)
	}
}
