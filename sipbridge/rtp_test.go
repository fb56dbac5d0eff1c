package sipbridge

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func newTestLeg(t testing.TB) *RTPLeg {
	t.Helper()
	l, err := listenRTP(netip.MustParseAddr("127.0.0.1"), 40000, 40999, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rtpPacket(pt byte, seq uint16) []byte {
	p := make([]byte, 12+160)
	p[0] = 0x80
	p[1] = pt
	p[2], p[3] = byte(seq>>8), byte(seq)
	return p
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func TestListenRTPRange(t *testing.T) {
	l := newTestLeg(t)
	p := int(l.LocalAddr().Port())
	if p < 40000 || p > 40999 || p%2 != 0 {
		t.Fatalf("port %d outside 40000-40999 or odd", p)
	}
	// A range of one even port that is taken has no room left.
	if _, err := listenRTP(netip.MustParseAddr("127.0.0.1"), p, p+1, nil); !errors.Is(err, ErrNoRTPPort) {
		t.Fatalf("err = %v, want ErrNoRTPPort", err)
	}
}

func TestRTPLegLatchesAndFiltersRTCP(t *testing.T) {
	l := newTestLeg(t)
	announced := newPeer(t) // where the SDP said the peer is
	real := newPeer(t)      // where its packets really come from (NAT)
	l.setRemote(addrOf(announced))

	// Before the peer's packets arrive, writes go to the SDP address.
	if _, err := l.WriteRTP(rtpPacket(0, 1)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	announced.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := announced.Read(buf); err != nil {
		t.Fatalf("announced address got nothing: %v", err)
	}

	dst := net.UDPAddrFromAddrPort(l.LocalAddr())
	// RTCP (SR, PT 200) multiplexed on the RTP port, then garbage, then RTP.
	for _, p := range [][]byte{{0x80, 200, 0, 6, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 2, 3}, {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, rtpPacket(8, 42)} {
		if _, err := real.WriteToUDP(p, dst); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.ReadRTP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 172 || buf[1] != 8 || buf[3] != 42 {
		t.Fatalf("read %d bytes pt %d seq %d, want the RTP packet", n, buf[1], buf[3])
	}
	if got := l.Remote(); got != addrOf(real) {
		t.Fatalf("remote = %s, want latched %s", got, addrOf(real))
	}
	// A later SDP (re-INVITE) does not move a latched leg.
	l.setRemote(addrOf(announced))
	if _, err := l.WriteRTP(rtpPacket(0, 2)); err != nil {
		t.Fatal(err)
	}
	real.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := real.Read(buf); err != nil {
		t.Fatalf("latched address got nothing: %v", err)
	}
	if idle, any := l.idle(time.Now()); !any || idle > time.Minute {
		t.Fatalf("idle = %v, %v", idle, any)
	}
}

func TestRTPLegClose(t *testing.T) {
	l := newTestLeg(t)
	done := make(chan error, 1)
	go func() {
		_, err := l.ReadRTP(make([]byte, 1500))
		done <- err
	}()
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadRTP after Close = %v, want net.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := l.WriteRTP(rtpPacket(0, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteRTP after Close = %v, want net.ErrClosed", err)
	}
}

// TestRTPLegAllocs proves the per-packet path (write, read, latch check)
// does not allocate.
func TestRTPLegAllocs(t *testing.T) {
	l := newTestLeg(t)
	peer := newPeer(t)
	l.setRemote(addrOf(peer))
	pkt := rtpPacket(0, 1)
	dst := net.UDPAddrFromAddrPort(l.LocalAddr())
	buf := make([]byte, 1500)
	// Latch once outside the measurement: that one change may allocate.
	_, _ = peer.WriteToUDPAddrPort(pkt, dst.AddrPort())
	if _, err := l.ReadRTP(buf); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := peer.WriteToUDPAddrPort(pkt, dst.AddrPort()); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadRTP(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := l.WriteRTP(pkt); err != nil {
			t.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet, want 0", allocs)
	}
}

// BenchmarkRelay measures one RTP packet through the leg both ways: the
// peer sends, ReadRTP receives (filter, latch check), WriteRTP answers
// and the peer receives. Each iteration is one packet per direction.
func BenchmarkRelay(b *testing.B) {
	l := newTestLeg(b)
	peer := newPeer(b)
	l.setRemote(addrOf(peer))
	pkt := rtpPacket(0, 1)
	dst := l.LocalAddr()
	buf := make([]byte, 1500)
	pbuf := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := peer.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		n, err := l.ReadRTP(buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.WriteRTP(buf[:n]); err != nil {
			b.Fatal(err)
		}
		if _, _, err := peer.ReadFromUDPAddrPort(pbuf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

func TestMediaTimeout(t *testing.T) {
	b := &Bridge{cfg: Config{MediaTimeout: 2 * time.Second, MediaStartTimeout: 10 * time.Second}}
	c := &Call{b: b}
	l := newTestLeg(t)
	now := l.created
	tests := []struct {
		name     string
		lastRecv time.Time
		at       time.Time
		want     bool
	}{
		{"waiting for the first packet", time.Time{}, now.Add(9 * time.Second), false},
		{"no packet ever", time.Time{}, now.Add(11 * time.Second), true},
		{"flowing", now.Add(20 * time.Second), now.Add(21 * time.Second), false},
		{"stopped", now.Add(20 * time.Second), now.Add(23 * time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.lastRecv.IsZero() {
				l.lastRecv.Store(0)
			} else {
				l.lastRecv.Store(tt.lastRecv.UnixNano())
			}
			if got := c.mediaTimedOut(l, tt.at); got != tt.want {
				t.Fatalf("mediaTimedOut = %v, want %v", got, tt.want)
			}
		})
	}
	if c.mediaTimedOut(nil, now) {
		t.Fatal("a call without media cannot time out")
	}
}

// TestRTPLegDropsStrayStream: a port reused from an earlier call still
// gets that call's audio (its far end never stopped). Once the leg has
// latched to the call's peer, the stray stream is neither read nor sent
// to; the address the SDP names is taken at once; and a source the SDP
// does not name takes over only once the peer has been silent for
// relatchAfter (its NAT binding moved).
func TestRTPLegDropsStrayStream(t *testing.T) {
	l := newTestLeg(t)
	peer, stray, moved := newPeer(t), newPeer(t), newPeer(t)
	l.setRemote(addrOf(peer))
	dst := net.UDPAddrFromAddrPort(l.LocalAddr())
	send := func(c *net.UDPConn, seq uint16) {
		t.Helper()
		if _, err := c.WriteToUDP(rtpPacket(0, seq), dst); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	read := func() uint16 {
		t.Helper()
		if _, err := l.ReadRTP(buf); err != nil {
			t.Fatal(err)
		}
		return uint16(buf[2])<<8 | uint16(buf[3])
	}

	// The stray stream comes first and is latched (nothing better is
	// known yet); the SDP's address takes over at its first packet.
	send(stray, 9000)
	if got := read(); got != 9000 {
		t.Fatalf("read seq %d, want the first packet", got)
	}
	send(peer, 1)
	if got := read(); got != 1 || l.Remote() != addrOf(peer) {
		t.Fatalf("read seq %d, remote %v; want the SDP's peer", got, l.Remote())
	}
	// Interleaved, only the peer's packets are read, and writes go on
	// reaching the peer.
	for i := range uint16(5) {
		send(stray, 9001+i)
		send(peer, 2+i)
	}
	for i := range uint16(5) {
		if got := read(); got != 2+i {
			t.Fatalf("read seq %d, want the peer's %d", got, 2+i)
		}
	}
	if got := l.Remote(); got != addrOf(peer) {
		t.Fatalf("remote = %v, want the peer %v", got, addrOf(peer))
	}

	// While the call is held the peer's silence is no reason to take
	// another source.
	l.setFlow(false, true)
	time.Sleep(relatchAfter + 50*time.Millisecond)
	send(stray, 9050)
	send(peer, 20)
	if got := read(); got != 20 || l.Remote() != addrOf(peer) {
		t.Fatalf("held: read seq %d, remote %v; want the silent peer kept", got, l.Remote())
	}
	l.setFlow(true, true)

	// The peer falls silent and reappears at another address (NAT): after
	// relatchAfter its new source is taken.
	time.Sleep(relatchAfter + 50*time.Millisecond)
	send(moved, 100)
	if got := read(); got != 100 || l.Remote() != addrOf(moved) {
		t.Fatalf("read seq %d, remote %v; want the moved peer after its silence", got, l.Remote())
	}
	send(stray, 9100)
	send(moved, 101)
	if got := read(); got != 101 {
		t.Fatalf("read seq %d, want the moved peer's 101", got)
	}
}
