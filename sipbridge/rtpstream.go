package sipbridge

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// outStream is the identity of the RTP stream a leg sends (RFC 3550
// section 5.1): its own SSRC and a random initial sequence number and
// timestamp, continuous across everything written to it — the page's
// audio, the audio of another page it is handed to, and the
// telephone-events sent between (RFC 4733 section 2.1: events share the
// audio's SSRC, sequence space and clock).
//
// Writers hand packets of their own stream (the browser's SSRC and
// numbering); the first packet anchors offsets from that stream to ours,
// kept while the writer's numbering runs on, so that its loss gaps and
// timing pass through. A new writer (another SSRC) or a jump in its
// numbering re-anchors at the time that has passed since our last
// packet, so the far end's jitter buffer sees no jump back or ahead.
type outStream struct {
	mu    sync.Mutex
	ssrc  uint32
	clock uint32
	// lastSeq is the newest sequence number sent; lastTS the newest
	// timestamp and lastAt when it was current (UnixNano). Before the
	// first packet they hold the random start and the leg's creation, so
	// that time extrapolates from there.
	lastSeq uint16
	lastTS  uint32
	lastAt  int64

	anchored bool
	inSSRC   uint32
	inSeq    uint16
	inTS     uint32
	inAt     int64
	seqOff   uint16
	tsOff    uint32
	// reseq asks the next written packet to continue our sequence after
	// the packets of an event.
	reseq bool
	// event is set while a telephone-event is being sent: written audio
	// is dropped, since the event stands for the audio of that time
	// (RFC 4733 section 2.5.1.1).
	event bool

	pkt rtp.Packet
	buf [maxRTPPacket]byte
}

// maxRTPPacket bounds what the leg marshals (an Ethernet MTU).
const maxRTPPacket = 1500

// maxSeqJump and the one second of timestamp units below decide that a
// writer's stream jumped (a new source behind the same SSRC, a codec
// change) rather than lost or reordered a few packets.
const maxSeqJump = 100

func (s *outStream) init(created time.Time) {
	s.ssrc = rand.Uint32()            //nolint:gosec // math/rand/v2 is ChaCha8 seeded by the runtime: unpredictable SSRC (RFC 3550 8.1)
	s.lastSeq = uint16(rand.Uint32()) //nolint:gosec // math/rand/v2 is ChaCha8 seeded by the runtime: unpredictable sequence start (RFC 3550 5.1)
	s.lastTS = rand.Uint32()          //nolint:gosec // math/rand/v2 is ChaCha8 seeded by the runtime: unpredictable timestamp start (RFC 3550 5.1)
	s.lastAt = created.UnixNano()
	s.clock = 8000
}

// setClock sets the audio clock rate the stream's timestamps count in.
func (s *outStream) setClock(rate uint32) {
	if rate == 0 {
		return
	}
	s.mu.Lock()
	s.clock = rate
	s.mu.Unlock()
}

// nowTS is our timestamp at now, extrapolated from the newest packet;
// s.mu held.
func (s *outStream) nowTS(now int64) uint32 {
	d := now - s.lastAt
	if d <= 0 {
		return s.lastTS
	}
	return s.lastTS + uint32(d*int64(s.clock)/int64(time.Second))
}

// jumped reports whether p does not continue the writer's stream; s.mu
// held. dtmf is set for the writer's own telephone-events, whose
// timestamp stays at the event's start while time goes on.
func (s *outStream) jumped(p *rtp.Packet, now int64, dtmf bool) bool {
	if ds := int16(p.SequenceNumber - s.inSeq); ds > maxSeqJump || ds < -maxSeqJump {
		return true
	}
	if dtmf {
		return false
	}
	want := (now - s.inAt) * int64(s.clock) / int64(time.Second)
	got := int64(int32(p.Timestamp - s.inTS))
	diff := got - want
	return diff > int64(s.clock) || diff < -int64(s.clock)
}

// WritePacket sends p, whose payload type is already this leg's, as part
// of the leg's own stream: SSRC, sequence number and timestamp are
// rewritten (p is changed) and the packet is marshalled into the leg's
// buffer. While SendDTMF plays an event the packet is dropped. It does
// not allocate; concurrent callers are serialised.
func (l *RTPLeg) WritePacket(p *rtp.Packet) error {
	s := &l.out
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.event {
		return nil
	}
	now := time.Now().UnixNano()
	dtmf := int32(p.PayloadType) == l.dtmfPT.Load()
	switch {
	case !s.anchored || p.SSRC != s.inSSRC || s.jumped(p, now, dtmf):
		s.seqOff = s.lastSeq + 1 - p.SequenceNumber
		s.tsOff = s.nowTS(now) - p.Timestamp
		s.anchored, s.inSSRC, s.reseq = true, p.SSRC, false
		// A new talkspurt for the far end's jitter buffer (RFC 3551
		// section 4.1).
		p.Marker = true
	case s.reseq:
		s.seqOff = s.lastSeq + 1 - p.SequenceNumber
		s.reseq = false
	}
	s.inSeq = p.SequenceNumber
	if !dtmf {
		s.inTS, s.inAt = p.Timestamp, now
	}
	p.SSRC = s.ssrc
	p.SequenceNumber += s.seqOff
	p.Timestamp += s.tsOff
	if int16(p.SequenceNumber-s.lastSeq) > 0 {
		s.lastSeq = p.SequenceNumber
	}
	if !dtmf && int32(p.Timestamp-s.lastTS) >= 0 {
		s.lastTS, s.lastAt = p.Timestamp, now
	}
	n, err := p.MarshalTo(s.buf[:])
	if err != nil {
		return fmt.Errorf("rtp marshal: %w", err)
	}
	_, err = l.WriteRTP(s.buf[:n])
	return err
}

// dtmfInterval is how often an event's packets are sent: the audio's
// packet interval, the natural choice of RFC 4733 section 2.5.1.2.
const dtmfInterval = 20 * time.Millisecond

// dtmfVolume is the power level put into events, -10 dBm0 (a typical
// DTMF level; RFC 4733 section 2.3.4).
const dtmfVolume = 10

// sendDTMFEvent sends key code as the negotiated telephone-event (see
// sendEvent); without one it fails with ErrCallState.
func (l *RTPLeg) sendDTMFEvent(ctx context.Context, code uint8, length time.Duration) error {
	pt := l.dtmfPT.Load()
	if pt < 0 {
		return ErrCallState
	}
	return l.sendEvent(ctx, uint8(pt), l.dtmfRate.Load(), code, length)
}

// sendEvent sends one key press as RFC 4733 telephone-events of payload
// type pt (clock rate rate): every dtmfInterval a packet with the event's
// start timestamp and the duration so far, the first one marked, until
// length; then the end packet three times (section 2.5.1.4). Written
// audio is dropped meanwhile. When ctx ends the end packets go out at
// once, so that the far end does not hear the key forever.
func (l *RTPLeg) sendEvent(ctx context.Context, pt uint8, rate uint32, code uint8, length time.Duration) error {
	s := &l.out
	s.mu.Lock()
	s.event = true
	start := time.Now()
	ts := s.nowTS(start.UnixNano())
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.event, s.reseq = false, true
		s.mu.Unlock()
	}()
	units := func(d time.Duration) uint16 {
		return uint16(min(int64(d)*int64(rate)/int64(time.Second), 0xffff))
	}
	tick := time.NewTicker(dtmfInterval)
	defer tick.Stop()
	var err error
	played := length
	// The first packet of an event is marked (RFC 4733 section 2.5.1.1),
	// an end packet when the press is shorter than one interval.
	marked := false
loop:
	for k := 1; time.Duration(k)*dtmfInterval < length; k++ {
		if err := l.writeEvent(pt, ts, !marked, telephoneEvent{event: code, volume: dtmfVolume, duration: units(time.Duration(k) * dtmfInterval)}); err != nil {
			return err
		}
		marked = true
		select {
		case <-tick.C:
		case <-ctx.Done():
			err, played = ctx.Err(), time.Since(start)
			break loop
		}
	}
	end := telephoneEvent{event: code, end: true, volume: dtmfVolume, duration: units(played)}
	for i := range 3 {
		if i > 0 && err == nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if werr := l.writeEvent(pt, ts, !marked, end); werr != nil {
			return werr
		}
		marked = true
	}
	return err
}

// writeEvent sends one telephone-event packet at timestamp ts with the
// next sequence number.
func (l *RTPLeg) writeEvent(pt uint8, ts uint32, marker bool, e telephoneEvent) error {
	s := &l.out
	s.mu.Lock()
	defer s.mu.Unlock()
	var payload [telephoneEventSize]byte
	e.put(payload[:])
	s.lastSeq++
	s.pkt = rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: s.lastSeq, Timestamp: ts, SSRC: s.ssrc}, Payload: payload[:]}
	n, err := s.pkt.MarshalTo(s.buf[:])
	s.pkt.Payload = nil
	if err != nil {
		return fmt.Errorf("rtp marshal: %w", err)
	}
	_, err = l.WriteRTP(s.buf[:n])
	return err
}
