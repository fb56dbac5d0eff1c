package sipbridge

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge/siptest"
)

// sipAddr is the bridge's SIP UDP address.
func sipAddr(r *runningBridge) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sip.udpC.LocalAddr().String()
}

// nextEvent returns c's next event; it fails when none comes in d.
func nextEvent(t *testing.T, c *Call, d time.Duration) CallEvent {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatal("events closed")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no event in %v (media %s)", d, c.MediaState())
	}
	return CallEvent{}
}

// wantMedia reads c's next event and checks that it reports media state
// want (and nothing else unless codec says so).
func wantMedia(t *testing.T, c *Call, want MediaState) CallEvent {
	t.Helper()
	ev := nextEvent(t, c, 15*time.Second)
	if ev.Media != want || ev.State != StateConnected {
		t.Fatalf("event %+v, want media %s in state connected", ev, want)
	}
	if got := c.MediaState(); got != want {
		t.Fatalf("MediaState() = %s after the event for %s", got, want)
	}
	return ev
}

// monitorStates is the sequence of distinct states the monitor saw for
// call id.
func (s *statusSink) monitorStates(id monitor.CallID) []monitor.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []monitor.State
	for _, c := range s.calls {
		if c.ID == id && (len(out) == 0 || out[len(out)-1] != c.State) {
			out = append(out, c.State)
		}
	}
	return out
}

// counter counts the RTP packets a peer socket receives until it is
// closed, and signals the first one.
type counter struct {
	n     atomic.Int64
	first chan struct{}
	once  sync.Once
}

func countPackets(conn *net.UDPConn, wg *sync.WaitGroup) *counter {
	c := &counter{first: make(chan struct{})}
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return
			}
			c.n.Add(1)
			c.once.Do(func() { close(c.first) })
		}
	})
	return c
}

// TestFarEndChangesTheSession: a sipp caller refreshes the session with
// the same SDP, holds and resumes by UPDATE, holds the RFC 2543 way
// (c=0.0.0.0) for longer than the media timeout, resumes at another
// port, and sends a re-INVITE without SDP whose ACK switches to PCMA.
func TestFarEndChangesTheSession(t *testing.T) {
	siptest.RequireBinaries(t, "sipp")
	calls := make(chan *Call, 1)
	b := newTestBridge(t, Config{MediaTimeout: time.Second, RTPListenIP: "127.0.0.1",
		Accounts: []AccountConfig{testAccount("office", "1000", "pw1000", silentRegistrar(t), 60)}}, func(c *Call) { calls <- c })
	r := runBridge(t, b)
	r.waitReady(t)
	rtp1, rtp2 := newPeer(t), newPeer(t)
	const held = 3 * time.Second // three media timeouts without RTP
	sipp := siptest.StartSipp(t, "uac-reinvite.xml", sipAddr(r), "-s", "1000",
		"-key", "rtp1", strconv.Itoa(int(addrOf(rtp1).Port())), "-key", "rtp2", strconv.Itoa(int(addrOf(rtp2).Port())),
		"-d", strconv.Itoa(int(held/time.Millisecond)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var c *Call
	select {
	case c = <-calls:
	case <-ctx.Done():
		t.Fatal("no call from sipp")
	}
	if _, err := c.Answer(ctx, []Codec{CodecPCMU, CodecPCMA}); err != nil {
		t.Fatal(err)
	}
	ev := waitState(t, c, StateConnected, 10*time.Second)
	if ev.Media != MediaActive || ev.Codec == nil || ev.Codec.Name != "PCMU" {
		t.Fatalf("connected %+v, want media active on PCMU", ev)
	}
	leg := c.Media()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Our tone goes out all the time; the leg passes it only when the
	// media state lets it.
	wg.Go(func() { sendTone(leg, 0, 440, stop) })
	// The far end's audio comes from its current socket while the call
	// is active; a holding phone sends nothing.
	var far atomic.Pointer[net.UDPConn]
	far.Store(rtp1)
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if conn := far.Load(); conn != nil && c.MediaState() == MediaActive {
				_, _ = conn.WriteToUDPAddrPort(rtpPacket(0, seq), leg.LocalAddr())
			}
		}
	})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			if _, err := leg.ReadRTP(buf); err != nil {
				return
			}
		}
	})
	at1, at2 := countPackets(rtp1, &wg), countPackets(rtp2, &wg)
	defer func() {
		close(stop)
		rtp1.Close()
		rtp2.Close()
		wg.Wait()
	}()

	// The refresh changed nothing, so the next event is the UPDATE hold.
	wantMedia(t, c, MediaRemoteHold)
	wantMedia(t, c, MediaActive)
	wantMedia(t, c, MediaRemoteHold)
	// The c=0.0.0.0 hold: nothing of ours may reach the far end. It
	// stays silent until our audio reached its new port, so that the leg
	// cannot find that port by latching onto its packets.
	far.Store(nil)
	sentBefore := at1.n.Load() + at2.n.Load()
	wantMedia(t, c, MediaActive)
	// A packet or two may have been on its way when the hold began.
	if leaked := at1.n.Load() + at2.n.Load() - sentBefore; leaked > 3 {
		t.Errorf("%d packets reached the far end during its hold", leaked)
	}
	select {
	case <-at2.first:
	case <-ctx.Done():
		t.Fatal("no RTP at the far end's new port")
	}
	far.Store(rtp2)
	if got := leg.Remote().Port(); got != addrOf(rtp2).Port() {
		t.Errorf("leg sends to port %d, want the new %d", got, addrOf(rtp2).Port())
	}
	ev = nextEvent(t, c, 15*time.Second)
	if ev.Codec == nil || ev.Codec.Name != "PCMA" || ev.Codec.PayloadType != 8 || ev.Media != "" || ev.State != StateConnected {
		t.Fatalf("event %+v (codec %v), want the codec change to PCMA", ev, ev.Codec)
	}
	if codec, _ := c.Codec(); codec.Name != "PCMA" {
		t.Errorf("Codec() = %s after the change", codec)
	}
	last := drain(t, c)
	if last.Reason != monitor.ReasonCompleted || last.Text != "The other side hung up" || last.Media != MediaNone {
		t.Errorf("ended %+v, want the far end's BYE (not the media timeout)", last)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Error(err)
	}
	want := []monitor.State{monitor.Ringing, monitor.Connected, monitor.Held, monitor.Connected, monitor.Held, monitor.Connected, monitor.Ended}
	if got := r.sink.monitorStates(c.ID()); !slicesEqual(got, want) {
		t.Errorf("monitor states %v, want %v", got, want)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// incomingFromSipp runs a bridge with account 1000 (registered nowhere:
// sipp calls it directly), starts scenario with args against it and
// answers the call with PCMU or PCMA.
func incomingFromSipp(t *testing.T, ctx context.Context, cfg Config, scenario string, args ...string) (*runningBridge, *siptest.Sipp, *Call) {
	t.Helper()
	siptest.RequireBinaries(t, "sipp")
	calls := make(chan *Call, 1)
	cfg.RTPListenIP = "127.0.0.1"
	cfg.Accounts = []AccountConfig{testAccount("office", "1000", "pw1000", silentRegistrar(t), 60)}
	minSE := cfg.MinSE
	cfg.MinSE = 0
	b := newTestBridge(t, cfg, func(c *Call) { calls <- c })
	if minSE != 0 {
		// Below the RFC's 90 s, which only a test may do.
		b.cfg.MinSE = minSE
	}
	r := runBridge(t, b)
	r.waitReady(t)
	sipp := siptest.StartSipp(t, scenario, append([]string{sipAddr(r), "-s", "1000"}, args...)...)
	var c *Call
	select {
	case c = <-calls:
	case <-ctx.Done():
		t.Fatal("no call from sipp")
	}
	if _, err := c.Answer(ctx, []Codec{CodecPCMU, CodecPCMA}); err != nil {
		t.Fatal(err)
	}
	if ev := waitState(t, c, StateConnected, 10*time.Second); ev.Media != MediaActive {
		t.Fatalf("connected %+v, want media active", ev)
	}
	return r, sipp, c
}

// TestHoldGlare: our hold re-INVITE crosses the far end's; we refuse
// theirs with 491, they refuse ours with 491, and Hold tries again after
// the RFC 3261 section 14.1 wait and succeeds.
func TestHoldGlare(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, sipp, c := incomingFromSipp(t, ctx, Config{}, "uac-glare.xml", "-d", "500")
	start := time.Now()
	if err := c.Hold(ctx); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	t.Logf("hold answered after glare in %v (retry wait 0-2 s: we do not own the Call-ID)", time.Since(start).Round(time.Millisecond))
	// Their crossing hold was refused: the only change is ours.
	wantMedia(t, c, MediaLocalHold)
	last := drain(t, c)
	if last.Reason != monitor.ReasonCompleted || last.Media != MediaNone {
		t.Errorf("ended %+v", last)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Error(err)
	}
}
