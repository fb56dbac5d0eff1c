package sipbridge

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestRTPLegGates: a paused direction drops its packets (reported as
// sent), the packets after it flow again in order.
func TestRTPLegGates(t *testing.T) {
	l := newTestLeg(t)
	peer := newPeer(t)
	l.setRemote(addrOf(peer))
	buf := make([]byte, 1500)

	l.setFlow(false, true)
	if n, err := l.WriteRTP(rtpPacket(0, 1)); err != nil || n != 172 {
		t.Fatalf("paused write = %d, %v; want reported as sent", n, err)
	}
	l.setFlow(true, true)
	if _, err := l.WriteRTP(rtpPacket(0, 2)); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(buf); err != nil || buf[3] != 2 {
		t.Fatalf("peer got seq %d (%v), want 2: the paused packet went out", buf[3], err)
	}

	// Inbound: while paused, packets are read and counted, not returned.
	l.setFlow(true, false)
	got := make(chan error, 1)
	go func() {
		_, err := l.ReadRTP(buf)
		got <- err
	}()
	dst := net.UDPAddrFromAddrPort(l.LocalAddr())
	if _, err := peer.WriteToUDP(rtpPacket(0, 3), dst); err != nil {
		t.Fatal(err)
	}
	// Once the held packet was taken in (the timeout's clock moved),
	// closing the leg is the only way out of ReadRTP.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for l.lastRecv.Load() == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("held packet never read")
		}
	}
	l.Close()
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadRTP = %v while paused, want only net.ErrClosed", err)
	}
	if l.Remote() != addrOf(peer) {
		t.Errorf("held packets still latch: remote %v", l.Remote())
	}
}

// TestRTPLegRepoint: a new SDP address moves even a latched leg; a
// c=0.0.0.0 address does not move it.
func TestRTPLegRepoint(t *testing.T) {
	l := newTestLeg(t)
	first, moved := newPeer(t), newPeer(t)
	l.latch(addrOf(first))
	l.setRemote(addrOf(moved))
	if l.Remote() != addrOf(first) {
		t.Fatalf("setRemote moved a latched leg to %v", l.Remote())
	}
	l.repoint(netip.AddrPortFrom(netip.IPv4Unspecified(), 4000))
	if l.Remote() != addrOf(first) {
		t.Fatalf("repoint to 0.0.0.0 moved the leg to %v", l.Remote())
	}
	l.repoint(addrOf(moved))
	if l.Remote() != addrOf(moved) || l.latched.Load() {
		t.Fatalf("repoint: remote %v latched %v", l.Remote(), l.latched.Load())
	}
	if _, err := l.WriteRTP(rtpPacket(0, 9)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	moved.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := moved.Read(buf); err != nil || buf[3] != 9 {
		t.Fatalf("moved peer got %d, %v", buf[3], err)
	}
}
