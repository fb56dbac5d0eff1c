package sipbridge

import (
	"context"
	"net"
	"net/netip"
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
	// moh: the far end plays music on hold; heardMOH counts what of it
	// the leg passes on.
	var moh atomic.Bool
	var heardMOH atomic.Int64
	mohHeard := make(chan struct{})
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if conn := far.Load(); conn != nil && (c.MediaState() == MediaActive || moh.Load()) {
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
			if moh.Load() && heardMOH.Add(1) == 10 {
				close(mohHeard)
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
	// Music on hold (they are sendonly) still reaches the page.
	moh.Store(true)
	select {
	case <-mohHeard:
	case <-ctx.Done():
		t.Fatalf("%d packets of music on hold passed on", heardMOH.Load())
	}
	moh.Store(false)
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

// farEar decodes the PCMU that reaches a far end's socket, by phase of
// the test.
type farEar struct {
	mu      sync.Mutex
	changed chan struct{}
	phase   int
	pcm     [3][]int16
	packets [3]int
	first   [3]time.Time
}

func listenFar(conn *net.UDPConn, wg *sync.WaitGroup) *farEar {
	e := &farEar{changed: make(chan struct{})}
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n <= 12 || buf[1]&0x7f != 0 {
				continue
			}
			now := time.Now()
			e.mu.Lock()
			if e.first[e.phase].IsZero() {
				e.first[e.phase] = now
			}
			e.packets[e.phase]++
			e.pcm[e.phase] = siptest.MuLawDecode(e.pcm[e.phase], buf[12:n])
			close(e.changed)
			e.changed = make(chan struct{})
			e.mu.Unlock()
		}
	})
	return e
}

func (e *farEar) setPhase(ph int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.phase = ph
}

// heard waits until phase ph holds n samples.
func (e *farEar) heard(t *testing.T, ctx context.Context, ph, n int) ([]int16, time.Time) {
	t.Helper()
	for {
		e.mu.Lock()
		pcm, first, ch := e.pcm[ph], e.first[ph], e.changed
		e.mu.Unlock()
		if len(pcm) >= n {
			return pcm, first
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("far end: phase %d: %d of %d samples", ph, len(pcm), n)
		}
	}
}

// TestHoldGlare: our hold re-INVITE crosses the far end's; we refuse
// theirs with 491, they refuse ours with 491, and Hold tries again after
// the RFC 3261 section 14.1 wait and succeeds. At the far end's media
// socket our tone stops while held (nothing played meanwhile arrives)
// and returns after Resume.
func TestHoldGlare(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rtp := newPeer(t)
	var wg sync.WaitGroup
	ear := listenFar(rtp, &wg)
	defer func() {
		rtp.Close()
		wg.Wait()
	}()
	_, sipp, c := incomingFromSipp(t, ctx, Config{}, "uac-glare.xml", "-key", "rtp", strconv.Itoa(int(addrOf(rtp).Port())), "-d", "3000")
	p := startProbe(t, c.Media(), 0, 440)
	// The far end sends its 1000 Hz all along, even while we hold: what
	// we pass on of it is up to us.
	stopFar := make(chan struct{})
	defer close(stopFar)
	wg.Go(func() { playFrom(rtp, c.Media().LocalAddr(), 1000, stopFar) })
	pcm, _ := ear.heard(t, ctx, beforeHold, 8000)
	if hz := siptest.DominantFrequency(pcm, 8000); !near(hz, 440) {
		t.Fatalf("far end heard %.0f Hz, want 440", hz)
	}

	start := time.Now()
	if err := c.Hold(ctx); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	t.Logf("hold answered after glare in %v (retry wait 0-2 s: we do not own the Call-ID)", time.Since(start).Round(time.Millisecond))
	ear.setPhase(whileHeld)
	p.setPhase(whileHeld)
	p.hz.Store(700)
	// Their crossing hold was refused: the only change is ours.
	wantMedia(t, c, MediaLocalHold)
	p.playFor(t, ctx, 50)
	p.hz.Store(550)
	p.playFor(t, ctx, 2)
	start = time.Now()
	if err := c.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	ear.setPhase(afterHold)
	p.setPhase(afterHold)
	wantMedia(t, c, MediaActive)
	pcm, first := ear.heard(t, ctx, afterHold, 4000)
	t.Logf("latency: resume answered and first audio at the far end %v after Resume was called", first.Sub(start).Round(10*time.Microsecond))
	if hz := siptest.DominantFrequency(pcm, 8000); !near(hz, 550) {
		t.Errorf("far end heard %.0f Hz after the resume, want 550", hz)
	}
	if n := p.samples(whileHeld); n > 2*160 {
		t.Errorf("%d samples of the far end passed on while we held the call", n)
	}
	if hz := siptest.DominantFrequency(mustHeard(t, ctx, p, afterHold), 8000); !near(hz, 1000) {
		t.Errorf("heard %.0f Hz of the far end after the resume, want 1000", hz)
	}
	ear.mu.Lock()
	held, heldPCM := ear.packets[whileHeld], ear.pcm[whileHeld]
	ear.mu.Unlock()
	// A packet may have been on its way as the hold began.
	if held > 2 {
		t.Errorf("%d packets reached the far end while we held the call", held)
	}
	for _, r := range siptest.ToneRuns(append(heldPCM, pcm...), 8000, 160, 440, 550, 700) {
		if r.Hz == 700 {
			t.Errorf("the far end heard the tone played while held")
		}
	}
	last := drain(t, c)
	if last.Reason != monitor.ReasonCompleted || last.Media != MediaNone {
		t.Errorf("ended %+v", last)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Error(err)
	}
}

// playFrom sends a PCMU tone of hz from conn to dst every 20 ms until
// stop.
func playFrom(conn *net.UDPConn, dst netip.AddrPort, hz float64, stop <-chan struct{}) {
	const samples = 160
	pkt := make([]byte, 12+samples)
	pkt[0], pkt[8] = 0x80, 0x42
	tone := siptest.Sine(hz, 8000, 8000, 0.25)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		off := (n * samples) % len(tone)
		siptest.MuLawEncode(pkt[12:12], tone[off:off+samples])
		pkt[2], pkt[3] = byte(n>>8), byte(n)
		ts := uint32(n * samples)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		if _, err := conn.WriteToUDPAddrPort(pkt, dst); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}
