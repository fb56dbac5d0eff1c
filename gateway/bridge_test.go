package gateway

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// mediaPair is a gateway-API PeerConnection and a pion browser over
// loopback, connected, each sending a PCMU track to the other.
type mediaPair struct {
	track *webrtc.TrackLocalStaticRTP
	// got receives a value for each packet the browser reads.
	got chan struct{}
	// mic is the browser's track; remote is it at the gateway.
	mic    *webrtc.TrackLocalStaticRTP
	remote chan *webrtc.TrackRemote
}

func newMediaPair(tb testing.TB) *mediaPair {
	tb.Helper()
	api, err := newAPI(testConfig())
	if err != nil {
		tb.Fatal(err)
	}
	gw, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	br, err := browserAPI(&testing.T{}).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	m := &mediaPair{got: make(chan struct{}, 1024), remote: make(chan *webrtc.TrackRemote, 1)}
	if m.mic, err = webrtc.NewTrackLocalStaticRTP(capPCMU, "mic", "browser"); err != nil {
		tb.Fatal(err)
	}
	if _, err := br.AddTrack(m.mic); err != nil {
		tb.Fatal(err)
	}
	gw.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { m.remote <- t })
	done := make(chan struct{})
	br.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := t.Read(buf); err != nil {
				return
			}
			m.got <- struct{}{}
		}
	})
	connected := make(chan struct{})
	gw.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			close(connected)
		}
	})
	offer, err := br.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	g1 := webrtc.GatheringCompletePromise(br)
	if err := br.SetLocalDescription(offer); err != nil {
		tb.Fatal(err)
	}
	<-g1
	if err := gw.SetRemoteDescription(*br.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	m.track, err = webrtc.NewTrackLocalStaticRTP(capPCMU, "audio", "switchboard")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := gw.AddTrack(m.track); err != nil {
		tb.Fatal(err)
	}
	ans, err := gw.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	g2 := webrtc.GatheringCompletePromise(gw)
	if err := gw.SetLocalDescription(ans); err != nil {
		tb.Fatal(err)
	}
	<-g2
	if err := br.SetRemoteDescription(*gw.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(testTimeout):
		tb.Fatal("peer connections did not connect")
	}
	tb.Cleanup(func() {
		_ = gw.GracefulClose()
		_ = br.GracefulClose()
		select {
		case <-done:
			// The only sender has stopped: drainers of got end.
			close(m.got)
		case <-time.After(testTimeout):
		}
	})
	return m
}

// testPacket is a 20 ms PCMU packet.
func testPacket(tb testing.TB, pt uint8) []byte {
	tb.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: 7, Timestamp: 1600, SSRC: 42}, Payload: make([]byte, 160)}
	toneFrame(p.Payload, 440, 0)
	b, err := p.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestRelayStepsDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts through pion's pools under the race detector (make allocs runs it without)")
	}
	leg, far := newLegPair(t)
	go func() { // the far end swallows what the upstream sends
		buf := make([]byte, 1500)
		for {
			if _, _, err := far.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	var up upstream
	tgt := &upTarget{leg: leg}
	for i := range tgt.pt {
		tgt.pt[i] = ptDrop
	}
	tgt.pt[0] = 0
	up.target.Store(tgt)
	pkt := testPacket(t, 0)
	// The step as pion's SRTP session makes it: a decrypted packet
	// written to the stream's sink.
	sink := up.sink(42)
	defer sink.Close()
	if _, err := sink.Write(pkt); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(200, func() { _, _ = sink.Write(pkt) }); a != 0 {
		t.Errorf("browser → SIP step: %v allocations per packet, want 0", a)
	}
	var n int

	m := newMediaPair(t)
	d := newDownstream(leg, &continuity{}, 8000, nil)
	d.target.Store(&downTarget{track: m.track, audioPT: 0})
	n = copy(d.buf[:], pkt)
	d.forward(n)
	<-m.got
	go func() {
		for range m.got {
		}
	}()
	var seq uint16 = 100
	if a := testing.AllocsPerRun(200, func() {
		// A new sequence number each time, or SRTP replay protection
		// (RFC 3711 section 3.3.2) drops the packet at the browser.
		copy(d.buf[:], pkt)
		seq++
		binary.BigEndian.PutUint16(d.buf[2:], seq)
		d.forward(n)
	}); a != 0 {
		t.Errorf("SIP → browser step: %v allocations per packet, want 0", a)
	}
}

// BenchmarkBridge measures the media path.
//
// step: both relay steps (browser → SIP and SIP → browser, including SRTP
// and the UDP writes) on one goroutine; pkts/s is per core.
// sip-to-browser: one packet at a time from a SIP peer's socket through the
// relay to the receiving pion peer; added-µs/pkt is its latency minus a
// bare loopback UDP hop.
func BenchmarkBridge(b *testing.B) {
	b.Run("step", func(b *testing.B) {
		leg, far := newLegPair(&testing.T{})
		defer far.Close()
		defer leg.conn.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := far.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
		m := newMediaPair(b)
		go func() {
			for range m.got {
			}
		}()
		var up upstream
		tgt := &upTarget{leg: leg}
		for i := range tgt.pt {
			tgt.pt[i] = ptDrop
		}
		tgt.pt[0] = 0
		up.target.Store(tgt)
		d := newDownstream(leg, &continuity{}, 8000, nil)
		d.target.Store(&downTarget{track: m.track, audioPT: 0})
		pkt := testPacket(b, 0)
		upPkt := testPacket(b, 0)
		n := len(pkt)
		sink := up.sink(42)
		defer sink.Close()
		copy(d.buf[:], pkt)
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			binary.BigEndian.PutUint16(upPkt[2:], uint16(i))
			_, _ = sink.Write(upPkt)
			copy(d.buf[:], pkt)
			binary.BigEndian.PutUint16(d.buf[2:], uint16(i))
			d.forward(n)
		}
		b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "pkts/s")
	})
	b.Run("sip-to-browser", func(b *testing.B) {
		leg, far := newLegPair(&testing.T{})
		defer far.Close()
		m := newMediaPair(b)
		d := newDownstream(leg, &continuity{}, 8000, nil)
		d.target.Store(&downTarget{track: m.track, audioPT: 0})
		go d.run()
		defer func() { _ = leg.conn.Close(); <-d.done }()
		to := leg.conn.LocalAddr().(*net.UDPAddr).AddrPort()
		pkt := testPacket(b, 0)

		// Baseline: the same socket to a plain reader, one hop.
		sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		sinkAddr := sink.LocalAddr().(*net.UDPAddr).AddrPort()
		rb := make([]byte, 1500)
		const baseN = 2000
		t0 := time.Now()
		for range baseN {
			if _, err := far.WriteToUDPAddrPort(pkt, sinkAddr); err != nil {
				b.Fatal(err)
			}
			if _, _, err := sink.ReadFromUDPAddrPort(rb); err != nil {
				b.Fatal(err)
			}
		}
		hop := time.Since(t0) / baseN

		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			binary.BigEndian.PutUint16(pkt[2:], uint16(i))
			if _, err := far.WriteToUDPAddrPort(pkt, to); err != nil {
				b.Fatal(err)
			}
			<-m.got
		}
		per := time.Since(start) / time.Duration(b.N)
		b.ReportMetric(float64((per-hop).Nanoseconds())/1e3, "added-µs/pkt")
	})
}

// TestDownstreamNewSSRC: when the SIP peer's stream changes SSRC (a PBX
// bridging another party in, a phone restarting its stream) its sequence
// numbers and timestamps start elsewhere, often behind; the page's stream
// goes on from where it was, or the browser would drop every packet as a
// replay until the new numbers passed the old.
func TestDownstreamNewSSRC(t *testing.T) {
	leg, _ := newLegPair(t)
	track, err := webrtc.NewTrackLocalStaticRTP(capPCMU, "audio", "test")
	if err != nil {
		t.Fatal(err)
	}
	d := newDownstream(leg, &continuity{}, 8000, nil)
	d.target.Store(&downTarget{track: track, audioPT: 0})
	feed := func(ssrc uint32, seq uint16, ts uint32) (uint16, uint32) {
		t.Helper()
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: make([]byte, 160)}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d.forward(copy(d.buf[:], b))
		return uint16(d.cont.seq.Load()), d.cont.ts.Load()
	}
	tests := []struct {
		name string
		ssrc uint32
		seq  uint16
		ts   uint32
	}{
		{"first", 1, 30000, 500000},
		{"same stream", 1, 30001, 500160},
		{"new ssrc, numbers behind", 2, 7000, 100000},
		{"new stream goes on", 2, 7001, 100160},
		{"the old one again", 1, 30002, 500320},
	}
	var lastSeq uint16
	var lastTS uint32
	for i, tt := range tests {
		seq, ts := feed(tt.ssrc, tt.seq, tt.ts)
		if i == 0 {
			if seq != tt.seq || ts != tt.ts {
				t.Fatalf("%s: out %d/%d, want the stream's own numbers", tt.name, seq, ts)
			}
		} else if seq != lastSeq+1 || ts-lastTS < 160 || ts-lastTS > 8000 {
			t.Errorf("%s: out seq %d ts %d after %d/%d, want the next sequence number and a frame or more later", tt.name, seq, ts, lastSeq, lastTS)
		}
		lastSeq, lastTS = seq, ts
	}
}
