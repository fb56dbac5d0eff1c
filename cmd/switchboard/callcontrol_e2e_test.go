package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/sipbridge/siptest"
	"github.com/switchboard/switchboard/web/browsertest"
)

// Tones of the call-control test: each party is known by what it sends.
const (
	ccPage  = 440  // the page's fake microphone
	ccSipp  = 700  // the test's socket, the media of the sipp phone 1004
	ccPhone = 1000 // baresip 1002
	ccOther = 1600 // baresip 1003
)

// TestBrowserCallControlPhones runs the real binary with headless
// Chromium on the softphone page and real phones behind kamailio: a sipp
// phone whose media are the test's socket (1004), and two baresip phones
// (1002, 1003), each sending its own tone. The page holds and resumes
// (the far end stops hearing it and hears it again), sends keys as SIP
// INFO and as RFC 4733 events, fails a blind transfer and keeps the call,
// is held and resumed by the phone, transfers blind and attended, is
// transferred by the phone, and takes a waiting call and swaps back. The
// socket goes on sending after its call, so later calls may get a stray
// stream on a reused port. It logs the latencies of the README's
// performance table. The gateway has udp_port set, so Chromium's ICE and
// all its calls' audio pass the one shared port (the other browser tests
// give each page a socket of its own).
// SWITCHBOARD_PHONE_SHOTS=DIR keeps screenshots.
func TestBrowserCallControlPhones(t *testing.T) {
	browsertest.Require(t)
	k := siptest.StartKamailio(t, siptest.KamailioOptions{})
	p1 := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1002", Registrar: k.Addr(), ToneHz: ccPhone, AutoAnswer: true})
	p2 := siptest.StartBaresip(t, siptest.BaresipOptions{User: "1003", Registrar: k.Addr(), ToneHz: ccOther, AutoAnswer: true})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	for _, p := range []*siptest.Baresip{p1, p2} {
		if err := p.WaitRegistered(ctx); err != nil {
			t.Fatal(err)
		}
	}
	far := startFarSocket(t, ccSipp)
	uas := siptest.StartSippUAS(ctx, t, siptest.SippUASOptions{Registrar: k.Addr(), User: "1004", Scenario: "uas-hold-info.xml",
		Args: []string{"-key", "rtp", strconv.Itoa(far.port())}})

	sb := startSwitchboard(t, softphoneNode{Registrar: k.Addr(), RTP: siptest.FreePorts(t, 20),
		Gateway: fmt.Sprintf("udp_port: %d", siptest.FreePort(t)),
		More:    fmt.Sprintf("listen: 127.0.0.1:%d\ndata_dir: %s\n", siptest.FreePort(t), t.TempDir())}.yaml(t))

	wav := filepath.Join(t.TempDir(), "mic-440.wav")
	if err := siptest.WriteToneWAV(wav, ccPage, 48000, 1, 300); err != nil {
		t.Fatal(err)
	}
	s := browsertest.Start(ctx, t, browsertest.Options{Env: []string{"FAKE_AUDIO_WAV=" + wav}, Ack: true}, "phone_callctl.js", sb.url, "paula", "pw-paula", os.Getenv("SWITCHBOARD_PHONE_SHOTS"))
	step(ctx, t, s, "registered")
	s.Ack(t)
	var lat []string
	latency := func(t *testing.T, what string, d time.Duration) {
		t.Helper()
		t.Logf("latency: %s: %v", what, d.Round(time.Millisecond))
		lat = append(lat, fmt.Sprintf("%s: %v", what, d.Round(time.Millisecond)))
	}
	defer func() { t.Logf("latencies:\n  %s", strings.Join(lat, "\n  ")) }()

	if !t.Run("browser holds and resumes, keys as INFO", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		v := step(ctx, t, s, "hold-connected")
		wantHz(t, "the page hears the sipp phone", v.Hz, ccSipp)
		if hz := far.heardHz(t, ctx, time.Time{}); math.Abs(hz-ccPage) > 50 {
			t.Errorf("the far end hears %.0f Hz, want the page's %d", hz, ccPage)
		}
		s.Ack(t)

		v = step(ctx, t, s, "hold-held")
		held := time.Now()
		if !strings.Contains(strings.ToLower(v.Media), "on hold") {
			t.Errorf("the held call says %q", v.Media)
		}
		time.Sleep(1500 * time.Millisecond) // the far end listens a while
		// The gate closes as the hold is answered; the page shows it a
		// moment later, so a packet or two may come just after.
		if n := far.loudPackets(held.Add(200*time.Millisecond), time.Now()); n > 2 {
			t.Errorf("the far end got %d packets of the page's audio while held", n)
		}
		resume := time.Now()
		s.Ack(t)

		v = step(ctx, t, s, "hold-resumed")
		wantHz(t, "after the resume the page hears", v.Hz, ccSipp)
		first := far.firstLoud(t, ctx, resume)
		if hz := far.heardHz(t, ctx, resume); math.Abs(hz-ccPage) > 50 {
			t.Errorf("after the resume the far end hears %.0f Hz, want the page's %d", hz, ccPage)
		}
		latency(t, "page Resume → media active on the page", time.UnixMilli(v.At).Sub(resume))
		latency(t, "page Resume → first audio at the far end", first.Sub(resume))
		s.Ack(t)

		step(ctx, t, s, "info-sent")
		s.Ack(t)
		step(ctx, t, s, "hold-ended")
		// The scenario checks the hold, the resume and the INFO bodies.
		if err := uas.Wait(ctx); err != nil {
			t.Errorf("sipp phone: %v", err)
		}
		s.Ack(t)
	}) {
		return
	}

	var prev1 string
	if !t.Run("keys as RFC 4733, failed blind transfer, far end holds, blind transfer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		since := time.Now()
		v := step(ctx, t, s, "phone-connected")
		wantHz(t, "the page hears 1002", v.Hz, ccPhone)
		waitPhoneEvent(t, ctx, p1, "CALL_ESTABLISHED", since)
		heard(t, ctx, p1, ccPage)
		prev1, _ = p1.Recordings()
		s.Ack(t)

		step(ctx, t, s, "dtmf-sent")
		got := ""
		for len(got) < 4 {
			got += waitPhoneEvent(t, ctx, p1, "CALL_DTMF_START", since).Param
		}
		if got != "12#9" {
			t.Errorf("1002 decoded %q, want 12#9", got)
		}
		// baresip logs each telephone-event it decodes ("received event:
		// '1' (end=0)"), and keys in SIP INFO otherwise.
		if b, err := os.ReadFile(p1.LogPath()); err != nil {
			t.Error(err)
		} else if log := string(b); !strings.Contains(log, "received event: '1'") || strings.Contains(log, "SIP INFO") {
			t.Errorf("1002 did not get the keys as RFC 4733 events:\n%s", log)
		}
		s.Ack(t)

		v = step(ctx, t, s, "blind-failed")
		if !strings.Contains(v.Text, "failed") {
			t.Errorf("the failed transfer says %q", v.Text)
		}
		wantHz(t, "after the failed transfer the page hears", v.Hz, ccPhone)
		s.Ack(t)

		step(ctx, t, s, "far-hold")
		if err := p1.Hold(ctx); err != nil {
			t.Fatal(err)
		}
		hold := time.Now()
		s.Ack(t)
		v = step(ctx, t, s, "far-held")
		if !strings.Contains(strings.ToLower(v.Media), "held by") {
			t.Errorf("the call held by the phone says %q", v.Media)
		}
		latency(t, "phone's hold → the page hears it stop", time.UnixMilli(v.At).Sub(hold))
		if err := p1.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		resume := time.Now()
		s.Ack(t)
		v = step(ctx, t, s, "far-resumed")
		wantHz(t, "after the phone's resume the page hears", v.Hz, ccPhone)
		latency(t, "phone's resume → the page hears it again", time.UnixMilli(v.At).Sub(resume))
		s.Ack(t)

		prev2, _ := p2.Recordings()
		v = step(ctx, t, s, "blind-clicked")
		flowing := waitNewCall(t, ctx, p1, prev1)
		latency(t, "page Transfer (blind) → 1002 hears 1003 (recording polled every 50 ms)", flowing.Sub(time.UnixMilli(v.At)))
		s.Ack(t)
		v = step(ctx, t, s, "blind-done")
		waitNewCall(t, ctx, p2, prev2)
		heard(t, ctx, p1, ccOther)
		heard(t, ctx, p2, ccPhone)
		if err := p1.Hangup(ctx); err != nil {
			t.Error(err)
		}
		waitIdle(t, ctx, p1)
		waitIdle(t, ctx, p2)
		s.Ack(t)
	}) {
		return
	}

	if !t.Run("attended transfer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		since := time.Now()
		step(ctx, t, s, "att-first")
		waitPhoneEvent(t, ctx, p1, "CALL_ESTABLISHED", since)
		prev1, _ := p1.Recordings()
		s.Ack(t)
		v := step(ctx, t, s, "att-consult")
		wantHz(t, "in the consultation the page hears", v.Hz, ccOther)
		waitPhoneEvent(t, ctx, p2, "CALL_ESTABLISHED", since)
		heard(t, ctx, p2, ccPage) // and a second passes: the next recording gets a new name
		prev2, _ := p2.Recordings()
		s.Ack(t)
		v = step(ctx, t, s, "att-completed")
		flowing := waitNewCall(t, ctx, p1, prev1)
		latency(t, "page Complete (attended) → 1002 hears 1003 (recording polled every 50 ms)", flowing.Sub(time.UnixMilli(v.At)))
		waitNewCall(t, ctx, p2, prev2)
		s.Ack(t)
		step(ctx, t, s, "att-done")
		heard(t, ctx, p1, ccOther)
		heard(t, ctx, p2, ccPhone)
		if err := p1.Hangup(ctx); err != nil {
			t.Error(err)
		}
		waitIdle(t, ctx, p1)
		waitIdle(t, ctx, p2)
		s.Ack(t)
	}) {
		return
	}

	if !t.Run("the phone transfers the page", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		since := time.Now()
		step(ctx, t, s, "xfer-connected")
		waitPhoneEvent(t, ctx, p1, "CALL_ESTABLISHED", since)
		prev2, _ := p2.Recordings()
		refer := time.Now()
		if _, err := p1.Command(ctx, "transfer", "sip:1003@"+k.Addr()); err != nil {
			t.Fatal(err)
		}
		s.Ack(t)
		v := step(ctx, t, s, "xfer-heard")
		wantHz(t, "after the transfer the page hears", v.Hz, ccOther)
		if !strings.HasPrefix(v.Who, "1003") {
			t.Errorf("the new call shows %q", v.Who)
		}
		latency(t, "phone's transfer (REFER) → the page hears 1003", time.UnixMilli(v.At).Sub(refer))
		waitNewCall(t, ctx, p2, prev2)
		heard(t, ctx, p2, ccPage)
		s.Ack(t)
		step(ctx, t, s, "xfer-ended")
		waitIdle(t, ctx, p1)
		waitIdle(t, ctx, p2)
		s.Ack(t)
	}) {
		return
	}

	t.Run("call waiting", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		account := "sip:1001@" + k.Addr()
		step(ctx, t, s, "cw-ready")
		if err := p1.Dial(ctx, account); err != nil {
			t.Fatal(err)
		}
		s.Ack(t)
		v := step(ctx, t, s, "cw-first")
		wantHz(t, "the page hears the first caller", v.Hz, ccPhone)
		if err := p2.Dial(ctx, account); err != nil {
			t.Fatal(err)
		}
		s.Ack(t)
		v = step(ctx, t, s, "cw-second")
		wantHz(t, "the page hears the second caller", v.Hz, ccOther)
		s.Ack(t)
		v = step(ctx, t, s, "cw-swapped")
		wantHz(t, "swapped back, the page hears the first caller", v.Hz, ccPhone)
		s.Ack(t)
		v = step(ctx, t, s, "cw-held-ended")
		waitIdle(t, ctx, p2)
		wantHz(t, "the held call hung up, the page still hears the first caller", v.Hz, ccPhone)
		s.Ack(t)
		step(ctx, t, s, "cw-live-ended")
		waitIdle(t, ctx, p1)
		s.Ack(t)
	})
	s.Finish(t)
}

func wantHz(t *testing.T, what string, got, want int) {
	t.Helper()
	if got < want-50 || got > want+50 {
		t.Errorf("%s %d Hz, want %d", what, got, want)
	}
}

// waitPhoneEvent waits for p's next event of type typ that came after
// since.
func waitPhoneEvent(t *testing.T, ctx context.Context, p *siptest.Baresip, typ string, since time.Time) siptest.Event {
	t.Helper()
	ev, err := p.WaitEventFunc(ctx, func(e siptest.Event) bool { return e.Type == typ && !e.At.Before(since) })
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// heard checks that p's current call has carried a second of hz to it.
func heard(t *testing.T, ctx context.Context, p *siptest.Baresip, hz float64) {
	t.Helper()
	if err := p.WaitRecorded(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := p.CheckHeard(hz); err != nil {
		t.Errorf("phone %s heard %.0f Hz, want %.0f: %v", p.User(), got, hz, err)
	}
}

// waitNewCall waits until p records a call other than the one recorded
// in prev and has heard 100 ms of audio in it; it returns when.
func waitNewCall(t *testing.T, ctx context.Context, p *siptest.Baresip, prev string) time.Time {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if dec, _ := p.Recordings(); dec != "" && dec != prev {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("phone %s recorded no new call: %v", p.User(), ctx.Err())
		case <-tick.C:
		}
	}
	if err := p.WaitRecorded(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// waitIdle waits until every call p reported has closed.
func waitIdle(t *testing.T, ctx context.Context, p *siptest.Baresip) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		open := map[string]bool{}
		for _, e := range p.Events() {
			switch e.Type {
			case "CALL_INCOMING", "CALL_OUTGOING", "CALL_RINGING", "CALL_PROGRESS", "CALL_ESTABLISHED":
				open[e.ID] = true
			case "CALL_CLOSED":
				delete(open, e.ID)
			}
		}
		if len(open) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("phone %s still has %d calls: %v", p.User(), len(open), ctx.Err())
		case <-tick.C:
		}
	}
}

// farSocket is the media of a sipp phone: a loopback UDP socket that
// sends a PCMU tone to whoever sent to it last, every 20 ms, and keeps
// what it hears with the arrival times. It goes on sending after its
// call has ended, as a phone that never stops does: the bridge may give
// that RTP port to a later call, which must neither hear the stray
// stream nor lose its own audio to it.
type farSocket struct {
	conn *net.UDPConn
	wg   sync.WaitGroup

	mu      sync.Mutex
	peer    netip.AddrPort
	packets []farPacket
	changed chan struct{}
}

type farPacket struct {
	at  time.Time
	pcm []int16
}

// loudLevel is the RMS (of full scale) above which a packet carries the
// page's tone rather than silence.
const loudLevel = 1000.0 / 32768

func startFarSocket(t *testing.T, hz float64) *farSocket {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &farSocket{conn: conn, changed: make(chan struct{})}
	stop := make(chan struct{})
	f.wg.Go(f.listen)
	f.wg.Go(func() { f.play(hz, stop) })
	t.Cleanup(func() {
		close(stop)
		conn.Close()
		f.wg.Wait()
	})
	return f
}

func (f *farSocket) port() int { return f.conn.LocalAddr().(*net.UDPAddr).Port }

func (f *farSocket) listen() {
	buf := make([]byte, 1500)
	for {
		n, from, err := f.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n <= 12 || buf[1]&0x7f != 0 {
			continue // PCMU only: no comfort noise, no events
		}
		p := farPacket{at: time.Now(), pcm: siptest.MuLawDecode(nil, buf[12:n])}
		f.mu.Lock()
		f.peer = from
		f.packets = append(f.packets, p)
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
	}
}

// play sends hz once it knows where to, until stop.
func (f *farSocket) play(hz float64, stop <-chan struct{}) {
	const samples = 160
	pkt := make([]byte, 12+samples)
	pkt[0] = 0x80
	pkt[8], pkt[9], pkt[10], pkt[11] = 0x5e, 0xed, 0xfa, 0x12
	pcm := make([]int16, samples)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var phase float64
	for n := uint32(0); ; {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		f.mu.Lock()
		to := f.peer
		f.mu.Unlock()
		if !to.IsValid() {
			continue
		}
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(phase))
			phase += 2 * math.Pi * hz / 8000
		}
		siptest.MuLawEncode(pkt[12:12], pcm)
		pkt[2], pkt[3] = byte(n>>8), byte(n)
		ts := n * samples
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		if _, err := f.conn.WriteToUDPAddrPort(pkt, to); err != nil {
			return
		}
		n++
	}
}

// loudPackets counts packets with audio in them that came between from
// and to.
func (f *farSocket) loudPackets(from, to time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.packets {
		if !p.at.Before(from) && !p.at.After(to) && siptest.RMS(p.pcm) >= loudLevel {
			n++
		}
	}
	return n
}

// loudSince waits for a second of audio that came after since and returns
// it with the arrival time of its first packet.
func (f *farSocket) loudSince(t *testing.T, ctx context.Context, since time.Time) ([]int16, time.Time) {
	t.Helper()
	for {
		f.mu.Lock()
		var pcm []int16
		var first time.Time
		for _, p := range f.packets {
			if p.at.Before(since) || siptest.RMS(p.pcm) < loudLevel {
				continue
			}
			if first.IsZero() {
				first = p.at
			}
			pcm = append(pcm, p.pcm...)
		}
		ch := f.changed
		f.mu.Unlock()
		if len(pcm) >= 8000 {
			return pcm, first
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("the far end heard %d samples of audio after %s: %v", len(pcm), since.Format(time.StampMilli), ctx.Err())
		}
	}
}

// firstLoud is when the first packet with audio came after since.
func (f *farSocket) firstLoud(t *testing.T, ctx context.Context, since time.Time) time.Time {
	t.Helper()
	_, first := f.loudSince(t, ctx, since)
	return first
}

// heardHz is the strongest frequency of the first second of audio after
// since.
func (f *farSocket) heardHz(t *testing.T, ctx context.Context, since time.Time) float64 {
	t.Helper()
	pcm, _ := f.loudSince(t, ctx, since)
	return siptest.DominantFrequency(pcm, 8000)
}

// stepArgs are the values the script's steps report.
type stepArgs struct {
	Hz     int    `json:"hz"`
	At     int64  `json:"at"` // the page's clock, Unix milliseconds
	Media  string `json:"media"`
	Text   string `json:"text"`
	Error  string `json:"error"`
	Status string `json:"status"`
	Who    string `json:"who"`
}

// step takes s's next step, which must be want, with what it reports.
func step(ctx context.Context, t *testing.T, s *browsertest.Script, want string) stepArgs {
	t.Helper()
	var v stepArgs
	s.NextInto(ctx, t, want, &v)
	return v
}
