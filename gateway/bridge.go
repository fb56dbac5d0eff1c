package gateway

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// maxRTP is the largest RTP packet relayed; one more byte is read so that
// an oversize datagram is recognised and dropped rather than cut short.
const maxRTP = 1500

// ptDrop marks a payload type that is not relayed.
const ptDrop = -1

// upTarget is where the browser's packets go during one call: the SIP leg
// and the payload type map (browser type → SIP type; RFC 3264 lets each leg
// number formats its own way). The leg owns the stream the SIP peer sees
// (its SSRC, sequence numbers and timestamps, RFC 3550 section 5.1), so
// that DTMF events it sends share it.
type upTarget struct {
	leg MediaLeg
	pt  [128]int16
}

// upstream relays the browser's audio to the current call's SIP leg for
// the life of the PeerConnection; target changes per call. The packets
// come from pion's SRTP session itself: the session's API gives each
// browser stream an upSink (mediaAPI.forSession), whose Write relays the
// decrypted packet in the SRTP session's goroutine, so no goroutine is
// woken per packet beyond pion's own two (ICE read loop, mux).
type upstream struct {
	target atomic.Pointer[upTarget]
}

// sink is the writer for one browser RTP stream (SSRC); the SRTP session
// closes it with the stream.
func (u *upstream) sink(uint32) io.ReadWriteCloser {
	return &upSink{up: u, closedReader: newClosedReader()}
}

// upSink takes one browser stream's decrypted RTP packets from pion's SRTP
// session. Write has one caller at a time (the SRTP session's read loop),
// and relays or drops the packet before it returns: the bytes are pion's
// and are reused for the next packet. Read, which pion's track would call,
// gives nothing: it waits until the stream is closed.
type upSink struct {
	up  *upstream
	pkt rtp.Packet
	closedReader
}

// Write relays b and never fails: an undeliverable packet is one packet
// lost, and an error would only make pion log it.
func (k *upSink) Write(b []byte) (int, error) {
	k.up.forward(&k.pkt, b)
	return len(b), nil
}

// closedReader is the read side of a stream pion's SRTP session writes
// into and nothing reads from: Read waits until Close, then returns
// io.EOF (what the session's own buffers do once closed).
type closedReader struct {
	done chan struct{}
	once *sync.Once
}

func newClosedReader() closedReader {
	return closedReader{done: make(chan struct{}), once: new(sync.Once)}
}

// Read returns io.EOF once the stream is closed.
func (r closedReader) Read([]byte) (int, error) {
	<-r.done
	return 0, io.EOF
}

// Close ends Read; it is idempotent.
func (r closedReader) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// forward relays the RTP packet b, parsed into p (whose payload then
// points into b); it drops what it cannot relay.
func (u *upstream) forward(p *rtp.Packet, b []byte) {
	t := u.target.Load()
	if t == nil || len(b) > maxRTP {
		return
	}
	if err := p.Unmarshal(b); err != nil {
		return
	}
	pt := t.pt[p.PayloadType&0x7f]
	if pt == ptDrop {
		return
	}
	p.PayloadType = uint8(pt)
	// Header extensions were negotiated with the browser only (RFC 8285).
	p.Extension = false
	p.ExtensionProfile = 0
	p.Extensions = p.Extensions[:0]
	// A failed write (peer gone, call ending) loses one packet; the call's
	// end is reported by the SIP side.
	_ = t.leg.WritePacket(p)
}

// downTarget is the browser track a call's audio goes to, and the SIP
// payload type that carries it. Each join of the call to the page gets a
// new one, so that the offsets are taken afresh from the page's stream
// (continuity) at the join's first packet.
type downTarget struct {
	track   *webrtc.TrackLocalStaticRTP
	audioPT uint8
	// clock is the call's RTP clock rate; 0 takes the downstream's.
	clock uint32

	// Set at the first packet, and again when the SIP peer's SSRC
	// changes; touched only by the downstream goroutine.
	started bool
	ssrc    uint32
	seqOff  uint16
	tsOff   uint32
}

// continuity carries the browser-bound stream's last sequence number and
// timestamp from one call to the next, and across swaps between calls: the
// sender keeps its SSRC, so a jump in sequence numbers would look like
// loss or reordering to the browser. The timestamp moves on by the time
// that passed (RFC 3550 section 5.1: it follows the sampling clock), or
// the browser's jitter buffer takes the new call's audio for late packets
// and fills the gap with the old call's sound.
type continuity struct {
	seq atomic.Uint32
	ts  atomic.Uint32
	// at is the UnixNano time of the last packet written.
	at atomic.Int64
	// used is set once any packet was sent.
	used atomic.Bool
}

// downstream relays one call's SIP leg to the browser while the call is
// joined to the page; otherwise it reads and drops, so that the leg's
// socket never fills up.
type downstream struct {
	leg    MediaLeg
	target atomic.Pointer[downTarget]
	cont   *continuity
	// clock is the call's RTP clock rate.
	clock uint32
	// answeredAt, when not zero, is the UnixNano time of the answer; the
	// first packet after it is measured and clears it.
	answeredAt atomic.Int64
	observe    func(time.Duration)

	buf  [maxRTP + 1]byte
	pkt  rtp.Packet
	done chan struct{}
}

func newDownstream(leg MediaLeg, cont *continuity, clock uint32, observe func(time.Duration)) *downstream {
	return &downstream{leg: leg, cont: cont, clock: clock, observe: observe, done: make(chan struct{})}
}

// run relays until the leg is closed.
func (d *downstream) run() {
	defer close(d.done)
	for {
		n, err := d.leg.ReadRTP(d.buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return
			}
			// A transient error (ICMP port unreachable) loses nothing.
			var ne net.Error
			if errors.As(err, &ne) && !ne.Timeout() {
				continue
			}
			return
		}
		d.forward(n)
	}
}

// forward relays the n bytes in d.buf.
func (d *downstream) forward(n int) {
	t := d.target.Load()
	if t == nil || n > maxRTP {
		return
	}
	p := &d.pkt
	if err := p.Unmarshal(d.buf[:n]); err != nil {
		return
	}
	// Only the call's audio: the browser has no use for the SIP peer's
	// telephone-event or comfort noise.
	if p.PayloadType != t.audioPT {
		return
	}
	// A new SSRC from the SIP peer (a PBX that bridged another party in,
	// a phone that restarted its stream) has sequence numbers and
	// timestamps of its own: the page's stream takes it on where it is,
	// as at a join, or a jump back would make the browser drop every
	// packet as a replay (SRTP, RFC 3711 section 3.3.2) until the new
	// numbers passed the old.
	if !t.started || p.SSRC != t.ssrc {
		t.started, t.ssrc = true, p.SSRC
		seq, ts := uint16(0), uint32(0)
		if d.cont.used.Load() {
			clock := t.clock
			if clock == 0 {
				clock = d.clock
			}
			// At least one 20 ms frame on, more when the page heard
			// nothing for a while.
			step := uint64(clock / 50)
			if el := time.Now().UnixNano() - d.cont.at.Load(); el > 0 {
				step = max(step, uint64(el)*uint64(clock)/uint64(time.Second))
			}
			seq = uint16(d.cont.seq.Load()) + 1
			ts = d.cont.ts.Load() + uint32(step)
		} else {
			seq, ts = p.SequenceNumber, p.Timestamp
		}
		t.seqOff = seq - p.SequenceNumber
		t.tsOff = ts - p.Timestamp
		d.cont.used.Store(true)
	}
	p.SequenceNumber += t.seqOff
	p.Timestamp += t.tsOff
	p.Extension = false
	p.Extensions = p.Extensions[:0]
	// The track sets the browser leg's payload type and SSRC.
	if err := t.track.WriteRTP(p); err != nil {
		return
	}
	d.cont.seq.Store(uint32(p.SequenceNumber))
	d.cont.ts.Store(p.Timestamp)
	d.cont.at.Store(time.Now().UnixNano())
	if at := d.answeredAt.Load(); at != 0 && d.answeredAt.CompareAndSwap(at, 0) && d.observe != nil {
		d.observe(time.Duration(time.Now().UnixNano() - at))
	}
}
