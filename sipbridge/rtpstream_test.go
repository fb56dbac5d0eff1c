package sipbridge

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// readPacket reads one RTP packet at peer.
func readPacket(t *testing.T, peer *net.UDPConn) rtp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := peer.Read(buf)
	if err != nil {
		t.Fatalf("peer read: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return p
}

// browserPacket is a 20 ms PCMU packet of a writer's own stream.
func browserPacket(ssrc uint32, seq uint16, ts uint32) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: make([]byte, 160)}
}

func TestWritePacketOwnsStream(t *testing.T) {
	l := newTestLeg(t)
	peer := newPeer(t)
	l.setRemote(addrOf(peer))
	l.setFormats(CodecPCMU, nil)

	// The first writer: loss of one packet (seq 9) must pass through.
	var got []rtp.Packet
	for _, seq := range []uint16{7, 8, 10, 11} {
		if err := l.WritePacket(browserPacket(42, seq, 1600+uint32(seq-7)*160)); err != nil {
			t.Fatal(err)
		}
		got = append(got, readPacket(t, peer))
	}
	ssrc := got[0].SSRC
	if ssrc == 42 || !got[0].Marker {
		t.Fatalf("first packet ssrc %d marker %v: want the leg's own SSRC and a marker", ssrc, got[0].Marker)
	}
	for i, p := range got {
		if p.SSRC != ssrc {
			t.Fatalf("packet %d ssrc %d, want %d", i, p.SSRC, ssrc)
		}
	}
	if d := got[2].SequenceNumber - got[1].SequenceNumber; d != 2 {
		t.Fatalf("the writer's loss became a step of %d, want 2", d)
	}
	if d := got[3].Timestamp - got[0].Timestamp; d != 4*160 {
		t.Fatalf("timestamps advanced %d, want %d", d, 4*160)
	}

	// A second writer (another page, another SSRC and numbering) goes on
	// in the same stream: next sequence number, time moving forward.
	before := time.Now()
	if err := l.WritePacket(browserPacket(77, 50000, 99)); err != nil {
		t.Fatal(err)
	}
	p := readPacket(t, peer)
	if p.SSRC != ssrc || p.SequenceNumber != got[3].SequenceNumber+1 || !p.Marker {
		t.Fatalf("second writer: ssrc %d seq %d marker %v, want %d, %d, marked", p.SSRC, p.SequenceNumber, p.Marker, ssrc, got[3].SequenceNumber+1)
	}
	if d := int32(p.Timestamp - got[3].Timestamp); d < 0 || time.Duration(d)*time.Second/8000 > time.Since(before)+time.Second {
		t.Fatalf("second writer's first timestamp moved %d units", d)
	}
	// The same writer jumping far ahead in its numbering is re-anchored too.
	if err := l.WritePacket(browserPacket(77, 20000, 99+160)); err != nil {
		t.Fatal(err)
	}
	if q := readPacket(t, peer); q.SequenceNumber != p.SequenceNumber+1 {
		t.Fatalf("after a jump seq %d, want %d", q.SequenceNumber, p.SequenceNumber+1)
	}
}

func TestWritePacketAllocs(t *testing.T) {
	l := newTestLeg(t)
	peer := newPeer(t)
	l.setRemote(addrOf(peer))
	pkt := browserPacket(42, 1, 160)
	buf := make([]byte, 1500)
	seq, ts := uint16(1), uint32(160)
	step := func() {
		seq++
		ts += 160
		pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp = 42, seq, ts
		if err := l.WritePacket(pkt); err != nil {
			t.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if a := testing.AllocsPerRun(200, step); a != 0 {
		t.Fatalf("WritePacket: %.1f allocations per packet, want 0", a)
	}
}

// TestSendEventInStream checks an RFC 4733 event between audio: the
// audio's SSRC and sequence, one timestamp (the event's start) for all
// of its packets, a marker on the first, the duration growing by one
// interval per packet, the end packet three times with the full
// duration, and no audio while it plays.
func TestSendEventInStream(t *testing.T) {
	l := newTestLeg(t)
	peer := newPeer(t)
	l.setRemote(addrOf(peer))
	te := CodecTelephoneEvent
	l.setFormats(CodecPCMU, &te)

	// Audio from a writer every 20 ms, as a page sends it.
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := uint16(0); ; i++ {
			if err := l.WritePacket(browserPacket(42, 100+i, 8000+uint32(i)*160)); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	first := readPacket(t, peer)
	length := 100 * time.Millisecond
	sent := make(chan error, 1)
	go func() { sent <- l.sendDTMFEvent(context.Background(), 5, length) }()

	var pkts []rtp.Packet
	for {
		p := readPacket(t, peer)
		pkts = append(pkts, p)
		if p.PayloadType == 0 && len(pkts) > 1 && pkts[len(pkts)-2].PayloadType == te.PayloadType {
			break // audio again after the event
		}
	}
	close(stop)
	<-wrote
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var events []rtp.Packet
	lastAudio := first
	for i, p := range pkts {
		if p.SSRC != first.SSRC {
			t.Fatalf("packet %d has SSRC %d, want %d", i, p.SSRC, first.SSRC)
		}
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d seq %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if p.PayloadType == te.PayloadType {
			events = append(events, p)
		} else if len(events) == 0 {
			lastAudio = p
		}
	}
	if len(events) < 4 {
		t.Fatalf("%d event packets", len(events))
	}
	ts := events[0].Timestamp
	if int32(ts-lastAudio.Timestamp) < 0 || int32(pkts[len(pkts)-1].Timestamp-ts) < 0 {
		t.Fatalf("event timestamp %d outside the audio around it (%d .. %d)", ts, lastAudio.Timestamp, pkts[len(pkts)-1].Timestamp)
	}
	if !events[0].Marker {
		t.Fatal("first event packet not marked")
	}
	full := uint16(length * 8000 / time.Second)
	var prev uint16
	for i, p := range events {
		e, err := parseTelephoneEvent(p.Payload)
		if err != nil || e.event != 5 || p.Timestamp != ts || (i > 0 && p.Marker) {
			t.Fatalf("event packet %d: %+v %v ts %d marker %v", i, e, err, p.Timestamp, p.Marker)
		}
		endPacket := i >= len(events)-3
		if e.end != endPacket {
			t.Fatalf("event packet %d of %d: end bit %v", i, len(events), e.end)
		}
		switch {
		case endPacket && e.duration != full:
			t.Fatalf("end packet duration %d, want %d", e.duration, full)
		case !endPacket && e.duration != prev+160:
			t.Fatalf("packet %d duration %d after %d, want +160", i, e.duration, prev)
		}
		prev = e.duration
	}
}

// TestReceivedEventsReportKeys reads a key press (start, updates, three
// end packets) and a second key through ReadRTP: each key is reported
// once, and reading event packets does not allocate.
func TestReceivedEventsReportKeys(t *testing.T) {
	l := newTestLeg(t)
	peer := newPeer(t)
	te := CodecTelephoneEvent
	l.setFormats(CodecPCMU, &te)
	var keys []string
	fn := func(k string) { keys = append(keys, k) }
	l.onDigit.Store(&fn)
	dst := l.LocalAddr()
	seq := uint16(0)
	send := func(ts uint32, e telephoneEvent) {
		t.Helper()
		var payload [4]byte
		e.put(payload[:])
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: te.PayloadType, SequenceNumber: seq, Timestamp: ts, SSRC: 9}, Payload: payload[:]}
		seq++
		b, _ := p.Marshal()
		if _, err := peer.WriteToUDPAddrPort(b, dst); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadRTP(make([]byte, 1500)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []uint16{160, 320, 480} {
		send(1000, telephoneEvent{event: 1, volume: 10, duration: d})
	}
	for range 3 {
		send(1000, telephoneEvent{event: 1, end: true, volume: 10, duration: 800})
	}
	send(5000, telephoneEvent{event: 11, end: true, volume: 10, duration: 800})
	if got := len(keys); got != 2 || keys[0] != "1" || keys[1] != "#" {
		t.Fatalf("keys %q, want [1 #]", keys)
	}

	var payload [4]byte
	telephoneEvent{event: 3, volume: 10, duration: 160}.put(payload[:])
	raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: te.PayloadType, Timestamp: 9000, SSRC: 9}, Payload: payload[:]}).Marshal()
	buf := make([]byte, 1500)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := peer.WriteToUDPAddrPort(raw, dst); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadRTP(buf); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("reading telephone-events: %.1f allocations per packet", a)
	}
}

func TestRTPPayload(t *testing.T) {
	base := []byte{0x80, 101, 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 9}
	tests := []struct {
		name string
		pkt  []byte
		ts   uint32
		want []byte
		ok   bool
	}{
		{"plain", append(append([]byte{}, base...), 1, 2, 3, 4), 0x1234, []byte{1, 2, 3, 4}, true},
		{"one csrc", append([]byte{0x81, 101, 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 7}, 1, 2, 3, 4), 0x1234, []byte{1, 2, 3, 4}, true},
		{"extension", append([]byte{0x90, 101, 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 9, 0xbe, 0xde, 0, 1, 9, 9, 9, 9}, 1, 2, 3, 4), 0x1234, []byte{1, 2, 3, 4}, true},
		{"padding", append([]byte{0xa0, 101, 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 9}, 1, 2, 3, 4, 0, 0, 0, 4), 0x1234, []byte{1, 2, 3, 4}, true},
		{"extension past the end", []byte{0x90, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xbe, 0xde, 0, 9}, 0, nil, false},
		{"padding past the start", []byte{0xa0, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 40}, 0, nil, false},
		{"short", base[:8], 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, p, ok := rtpPayload(tt.pkt)
			if ok != tt.ok || (ok && (ts != tt.ts || string(p) != string(tt.want))) {
				t.Fatalf("rtpPayload = %d %v %v", ts, p, ok)
			}
		})
	}
}

// BenchmarkWritePacket measures the page's audio into the SIP leg: the
// stream rewrite, marshal and UDP send of WritePacket, and the peer's
// receive.
func BenchmarkWritePacket(b *testing.B) {
	l := newTestLeg(b)
	peer := newPeer(b)
	l.setRemote(addrOf(peer))
	pkt := browserPacket(42, 0, 0)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	var n uint16
	for b.Loop() {
		n++
		pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp = 42, n, uint32(n)*160
		if err := l.WritePacket(pkt); err != nil {
			b.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
