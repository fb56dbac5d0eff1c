package sipbridge

import (
	"net/netip"
	"sync/atomic"
)

// legGate pauses the directions of an RTP leg that the media state holds
// (RFC 3264 section 8.4): nothing of the page goes out while either side
// holds, nothing of the far end comes in while we hold. The bits are read
// once per packet.
type legGate struct{ paused atomic.Uint32 }

const (
	pauseOut uint32 = 1 << iota
	pauseIn
)

// setFlow opens or pauses each direction: out is the page's audio to the
// far end, in the far end's audio to the page.
func (l *RTPLeg) setFlow(out, in bool) {
	var p uint32
	if !out {
		p |= pauseOut
	}
	if !in {
		p |= pauseIn
	}
	l.gate.paused.Store(p)
}

// sendPaused reports whether packets for the far end are dropped now.
func (l *RTPLeg) sendPaused() bool { return l.gate.paused.Load()&pauseOut != 0 }

// recvPaused reports whether packets from the far end are read and dropped
// now (still latched and counted, so a held peer is followed and its
// silence is not mistaken for a dead one).
func (l *RTPLeg) recvPaused() bool { return l.gate.paused.Load()&pauseIn != 0 }

// repoint sends to ap from now on: the far end's new SDP (a re-INVITE or
// UPDATE) moved its media. Unlike setRemote it overrides a latched peer;
// the next packet from the far end latches again, so a peer behind NAT is
// found at its new place.
func (l *RTPLeg) repoint(ap netip.AddrPort) {
	if !ap.IsValid() || ap.Addr().IsUnspecified() {
		return
	}
	p := new(netip.AddrPort)
	*p = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	l.declared.Store(p)
	l.latched.Store(false)
	l.peer.Store(p)
}
