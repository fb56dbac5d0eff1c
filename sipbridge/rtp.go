package sipbridge

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/sipbridge/rawudp"
)

// RTPLeg is the RTP socket of one call: one UDP socket from the configured
// port range. It sends to the address the remote SDP names until the
// peer's own packets arrive, then latches to their source (symmetric RTP,
// RFC 4961), so a phone behind NAT is reached where it really is. Once
// latched, packets from any other source are dropped — a port reused
// from an earlier call may still get that call's audio, and it must
// neither be heard nor take the call's outgoing audio away — unless they
// come from the address the SDP names, or the latched peer of a call
// that is not held has sent nothing for relatchAfter (its NAT binding
// moved). RTCP
// multiplexed on the same port (RFC 5761) is dropped by ReadRTP; RTCP on
// port+1 is never read at all.
//
// ReadRTP has one caller at a time, WriteRTP may run beside it. Neither
// allocates.
type RTPLeg struct {
	// conn reads and writes with raw system calls (rawudp): a relay makes
	// several for every packet of every call.
	conn  *rawudp.Conn
	local netip.AddrPort
	log   *slog.Logger

	// peer is where WriteRTP sends; nil while unknown. A new value is
	// stored only when the peer's address changes, never per packet.
	peer atomic.Pointer[netip.AddrPort]
	// latched is set once the peer's own packets decided peer.
	latched atomic.Bool
	// declared is the address the remote SDP names; nil while unknown.
	declared atomic.Pointer[netip.AddrPort]
	// lastRecv is the UnixNano of the last RTP packet read from the peer;
	// 0 before the first one.
	lastRecv atomic.Int64
	// strays counts packets dropped for coming from another source, for
	// rate-limited logging.
	strays atomic.Uint32
	// created is when the leg opened, for the media timeout.
	created time.Time
	// moved counts address changes, for rate-limited logging.
	moved     atomic.Uint32
	closeOnce sync.Once
	closed    atomic.Bool

	// out is the stream the leg sends (rtpstream.go).
	out outStream
	// dtmfPT is the negotiated telephone-event payload type, -1 without
	// one; ReadRTP reports the key presses it carries to onDigit, with
	// detect (ReadRTP's own) telling presses apart (telephoneevent.go).
	dtmfPT   atomic.Int32
	dtmfRate atomic.Uint32
	detect   eventDetector
	onDigit  atomic.Pointer[func(digit string)]
	// gate pauses the directions a hold stops (rtpgate.go).
	gate legGate
}

// rtcpMinPT and rtcpMaxPT bound the second byte of an RTCP packet
// (SR 200 .. APP 204): RFC 5761 section 4 reserves payload types 72-76 so
// that RTP and RTCP can be told apart on one port.
const (
	rtcpMinPT = 200
	rtcpMaxPT = 204
	rtpHeader = 12
)

// relatchAfter is how long a latched peer must have been silent before
// packets from a source the SDP does not name take its place: long enough
// that a stray stream never wins against a talking peer (one packet per
// 20 ms), short enough that a phone whose NAT binding moved is heard again
// at once.
const relatchAfter = 300 * time.Millisecond

// listenRTP opens an RTP socket on ip at an even port from [lo, hi],
// starting at a random place so that consecutive calls do not reuse a
// port whose old peer may still be sending.
func listenRTP(ip netip.Addr, lo, hi int, log *slog.Logger) (*RTPLeg, error) {
	if lo%2 == 1 {
		lo++
	}
	n := (hi-lo)/2 + 1
	if n <= 0 {
		return nil, fmt.Errorf("rtp listen %s: %w", ip, ErrNoRTPPort)
	}
	start := rand.N(n) //nolint:gosec // math/rand/v2 is ChaCha8 seeded by the runtime: unpredictable ports
	for i := range n {
		port := lo + 2*((start+i)%n)
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			continue
		}
		return newRTPLeg(conn, log), nil
	}
	return nil, fmt.Errorf("rtp listen %s:%d-%d: %w", ip, lo, hi, ErrNoRTPPort)
}

func newRTPLeg(conn *net.UDPConn, log *slog.Logger) *RTPLeg {
	if log == nil {
		log = slog.Default()
	}
	l := &RTPLeg{conn: rawudp.New(conn), log: log, created: time.Now()}
	l.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	l.out.init(l.created)
	l.dtmfPT.Store(-1)
	return l
}

// LocalAddr is the address the leg receives on.
func (l *RTPLeg) LocalAddr() netip.AddrPort { return l.local }

// setRemote sets where to send before the peer's packets arrive (the c=
// and m= lines of its SDP). Once latched, a re-INVITE's SDP does not move
// the leg away from where packets really come from; packets from the
// address it names are taken at once all the same.
func (l *RTPLeg) setRemote(ap netip.AddrPort) {
	if !ap.IsValid() {
		return
	}
	p := new(netip.AddrPort)
	*p = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	l.declared.Store(p)
	if l.latched.Load() {
		return
	}
	l.peer.Store(p)
}

// Remote is where WriteRTP sends now (invalid while unknown).
func (l *RTPLeg) Remote() netip.AddrPort {
	if p := l.peer.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// ReadRTP reads the next RTP packet into b and returns its length.
// Packets too short for an RTP header, of another version, or RTCP are
// skipped, and so is everything while we hold the call. It returns
// net.ErrClosed once the leg is closed.
func (l *RTPLeg) ReadRTP(b []byte) (int, error) {
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return 0, net.ErrClosed
			}
			return 0, fmt.Errorf("rtp read: %w", err)
		}
		if n < rtpHeader || b[0]>>6 != 2 {
			continue
		}
		if pt := b[1]; pt >= rtcpMinPT && pt <= rtcpMaxPT {
			continue
		}
		now := time.Now().UnixNano()
		if !l.accept(from, now) {
			continue
		}
		l.lastRecv.Store(now)
		if l.recvPaused() {
			continue
		}
		if int32(b[1]&0x7f) == l.dtmfPT.Load() {
			l.receivedEvent(b[:n])
		}
		return n, nil
	}
}

// accept reports whether a packet from from, arriving at now (UnixNano),
// is the peer's, latching to from when it becomes the peer: the first
// source, the one the SDP names, or any once the latched peer of a call
// that is not held has been silent for relatchAfter.
func (l *RTPLeg) accept(from netip.AddrPort, now int64) bool {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if !l.latched.Load() {
		l.latch(from)
		return true
	}
	if p := l.peer.Load(); p != nil && *p == from {
		return true
	}
	// A held call's peer may be silent for minutes: that is no NAT move.
	quiet := l.gate.paused.Load() == 0 && now-l.lastRecv.Load() >= int64(relatchAfter)
	if d := l.declared.Load(); (d != nil && *d == from) || quiet {
		l.latch(from)
		return true
	}
	if n := l.strays.Add(1); n == 1 || n%1000 == 0 {
		l.log.Info("rtp from another source dropped", "local", l.local, "from", from, "peer", l.Remote(), "dropped", n)
	}
	return false
}

// latch makes from the peer when it differs from the current one.
func (l *RTPLeg) latch(from netip.AddrPort) {
	if p := l.peer.Load(); p != nil && *p == from && l.latched.Load() {
		return
	}
	old := l.Remote()
	// A fresh pointer only on a change: storing &from would make every
	// packet's address escape to the heap.
	p := new(netip.AddrPort)
	*p = from
	l.peer.Store(p)
	l.latched.Store(true)
	// Log the first few moves only: a peer flapping between addresses
	// must not flood the log.
	if n := l.moved.Add(1); n <= 3 {
		l.log.Debug("rtp peer latched", "local", l.local, "from", old, "to", from)
	}
}

// WriteRTP sends one RTP packet to the peer. Before the peer's address is
// known, and while a hold pauses this direction, the packet is dropped and
// reported as written, since audio cannot wait.
func (l *RTPLeg) WriteRTP(b []byte) (int, error) {
	p := l.peer.Load()
	if p == nil || l.sendPaused() {
		if l.closed.Load() {
			return 0, net.ErrClosed
		}
		return len(b), nil
	}
	n, err := l.conn.WriteToUDPAddrPort(b, *p)
	if err != nil {
		if l.closed.Load() {
			return n, net.ErrClosed
		}
		return n, fmt.Errorf("rtp write: %w", err)
	}
	return n, nil
}

// idle reports how long no RTP has arrived and whether any ever did.
func (l *RTPLeg) idle(now time.Time) (time.Duration, bool) {
	last := l.lastRecv.Load()
	if last == 0 {
		return now.Sub(l.created), false
	}
	return now.Sub(time.Unix(0, last)), true
}

// Close closes the socket; ReadRTP then returns net.ErrClosed. It is
// idempotent.
func (l *RTPLeg) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		err = l.conn.Close()
	})
	return err
}
