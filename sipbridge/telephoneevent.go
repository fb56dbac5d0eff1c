package sipbridge

// RFC 4733 telephone-events: the payload of one event packet, the digits
// they stand for, and the receiver's rule for telling key presses apart.

// dtmfDigits are the DTMF keys in RFC 4733 event code order (section
// 3.2): 0-9, *, #, A-D. A digit's event code is its index.
const dtmfDigits = "0123456789*#ABCD"

// digitEvent returns the event code of a DTMF key (a-d accepted for
// A-D).
func digitEvent(d byte) (uint8, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i := 0; i < len(dtmfDigits); i++ {
		if dtmfDigits[i] == d {
			return uint8(i), true
		}
	}
	return 0, false
}

// eventDigit returns the key of event code e as a one-character string
// (a slice of dtmfDigits: no allocation); false for codes that are no
// DTMF key (flash, tones).
func eventDigit(e uint8) (string, bool) {
	if int(e) >= len(dtmfDigits) {
		return "", false
	}
	return dtmfDigits[e : e+1], true
}

// telephoneEvent is one RFC 4733 section 2.3 payload: event code, end
// bit, volume (0..63, -dBm0) and duration in timestamp units since the
// event began.
type telephoneEvent struct {
	event    uint8
	end      bool
	volume   uint8
	duration uint16
}

// telephoneEventSize is the payload size of one event.
const telephoneEventSize = 4

// parseTelephoneEvent reads the first event of an RTP payload; further
// events packed behind it (RFC 4733 section 2.5.1.5) are ignored. It
// fails only for a payload shorter than one event, with the unwrapped
// sentinel, so that the RTP read path never allocates.
func parseTelephoneEvent(p []byte) (telephoneEvent, error) {
	if len(p) < telephoneEventSize {
		return telephoneEvent{}, ErrBadTelephoneEvent
	}
	return telephoneEvent{
		event:    p[0],
		end:      p[1]&0x80 != 0,
		volume:   p[1] & 0x3f,
		duration: uint16(p[2])<<8 | uint16(p[3]),
	}, nil
}

// put writes e into p, which holds at least telephoneEventSize bytes; the
// reserved bit stays zero.
func (e telephoneEvent) put(p []byte) {
	p[0] = e.event
	p[1] = e.volume & 0x3f
	if e.end {
		p[1] |= 0x80
	}
	p[2], p[3] = byte(e.duration>>8), byte(e.duration)
}

// eventDetector turns received event packets into key presses: every
// packet of an event carries the event's start timestamp and the end
// packet comes three times (RFC 4733 section 2.5.1), so a press is a new
// timestamp. An event longer than the duration field can count is sent
// as segments (section 2.5.1.3): a packet of the same key, while the
// last one has not ended, at the old timestamp plus the old duration
// continues it. The zero value is ready; one goroutine uses it.
type eventDetector struct {
	seen     bool
	ts       uint32
	event    uint8
	ended    bool
	duration uint16
}

// segmentSlack is how far (in timestamp units) a continuing segment may
// start from where the last one ended; senders round to their packet
// interval.
const segmentSlack = 960

// packet reports the key of a new press, or false for a packet of a press
// already reported (or of an older one, reordered).
func (d *eventDetector) packet(ts uint32, e telephoneEvent) (string, bool) {
	if d.seen {
		if ts == d.ts {
			d.ended = d.ended || e.end
			d.duration = max(d.duration, e.duration)
			return "", false
		}
		if int32(ts-d.ts) < 0 {
			return "", false
		}
		next := d.ts + uint32(d.duration)
		if !d.ended && e.event == d.event && ts-next+segmentSlack <= 2*segmentSlack {
			d.ts, d.ended, d.duration = ts, e.end, e.duration
			return "", false
		}
	}
	d.seen, d.ts, d.event, d.ended, d.duration = true, ts, e.event, e.end, e.duration
	return eventDigit(e.event)
}

// setFormats sets the telephone-event payload type to send and to read
// (nil: none negotiated) and the audio clock rate of the stream.
func (l *RTPLeg) setFormats(audio Codec, dtmf *Codec) {
	l.out.setClock(audio.ClockRate)
	if dtmf == nil {
		l.dtmfPT.Store(-1)
		return
	}
	l.dtmfRate.Store(dtmf.ClockRate)
	l.dtmfPT.Store(int32(dtmf.PayloadType))
}

// receivedEvent reports the key of a new press in the telephone-event
// packet b to onDigit. It runs in ReadRTP and does not allocate.
func (l *RTPLeg) receivedEvent(b []byte) {
	ts, payload, ok := rtpPayload(b)
	if !ok {
		return
	}
	e, err := parseTelephoneEvent(payload)
	if err != nil {
		return
	}
	if k, ok := l.detect.packet(ts, e); ok {
		if fn := l.onDigit.Load(); fn != nil {
			(*fn)(k)
		}
	}
}

// rtpPayload returns the timestamp and payload of the RTP packet b,
// skipping CSRCs, a header extension and padding (RFC 3550 section 5.1),
// without allocating; false when b is too short for what its header says.
func rtpPayload(b []byte) (uint32, []byte, bool) {
	if len(b) < rtpHeader {
		return 0, nil, false
	}
	off := rtpHeader + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return 0, nil, false
		}
		off += 4 + 4*(int(b[off+2])<<8|int(b[off+3]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if off > end {
		return 0, nil, false
	}
	ts := uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	return ts, b[off:end], true
}
