package sipbridge

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Direction is an SDP media direction attribute (RFC 3264 section 5.1);
// hold is signalled with sendonly or inactive (section 8.4).
type Direction string

// Media directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// reverse is the direction the answerer puts for an offered direction
// (RFC 3264 section 6.1).
func (d Direction) reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// SDP is what this user agent needs of a session description: the first
// audio stream and where to send it.
type SDP struct {
	// SessionID and Version are the o= line's values.
	SessionID uint64
	Version   uint64
	// Addr is the connection address of the audio stream (media-level c=
	// over session-level).
	Addr netip.Addr
	// Port is the m=audio port; 0 means the stream is rejected or
	// disabled (RFC 3264 section 6).
	Port uint16
	// Proto is the m= line's transport, "RTP/AVP" for plain RTP.
	Proto string
	// Codecs lists the audio formats in m= line order, telephone-event
	// excluded, with this SDP's payload types.
	Codecs []Codec
	// DTMF lists the telephone-event formats (RFC 4733), one per clock
	// rate.
	DTMF []Codec
	// Direction is the audio stream's direction; default sendrecv.
	Direction Direction
	// Ptime is the a=ptime value in milliseconds, 0 when absent.
	Ptime int
	// RTCPMux is set when a=rtcp-mux asks for RTCP on the RTP port
	// (RFC 5761).
	RTCPMux bool
}

// RTPAddr is where the audio stream is received.
func (s *SDP) RTPAddr() netip.AddrPort { return netip.AddrPortFrom(s.Addr, s.Port) }

// maxSDP bounds the SDP body accepted; real ones are a few hundred bytes.
const maxSDP = 64 << 10

// ParseSDP parses an SDP body (RFC 4566) and returns its first audio
// stream. It fails with ErrBadSDP for malformed lines and when there is no
// audio stream.
func ParseSDP(b []byte) (*SDP, error) {
	if len(b) > maxSDP {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadSDP, len(b))
	}
	var (
		s           SDP
		sessionAddr netip.Addr
		mediaAddr   netip.Addr
		inAudio     bool
		seenAudio   bool
		seenV       bool
		sessionDir  Direction
		pts         []uint8
		rtpmap      = map[uint8]Codec{}
		fmtp        = map[uint8]string{}
	)
	for n, line := range bytes.Split(b, []byte("\n")) {
		l := strings.TrimRight(string(line), "\r")
		if l == "" {
			continue
		}
		if len(l) < 2 || l[1] != '=' {
			return nil, fmt.Errorf("%w: line %d %q", ErrBadSDP, n+1, clip(l))
		}
		typ, val := l[0], l[2:]
		if !seenV && typ != 'v' {
			return nil, fmt.Errorf("%w: first line is not v=", ErrBadSDP)
		}
		switch typ {
		case 'v':
			if seenV || val != "0" {
				return nil, fmt.Errorf("%w: version %q", ErrBadSDP, clip(val))
			}
			seenV = true
		case 'o':
			f := strings.Fields(val)
			if len(f) != 6 {
				return nil, fmt.Errorf("%w: o= line %q", ErrBadSDP, clip(val))
			}
			s.SessionID, _ = strconv.ParseUint(f[1], 10, 64)
			s.Version, _ = strconv.ParseUint(f[2], 10, 64)
		case 'c':
			a, err := parseConnection(val)
			if err != nil {
				return nil, err
			}
			switch {
			case inAudio:
				mediaAddr = a
			case !seenAudio:
				sessionAddr = a
			}
		case 'm':
			if inAudio {
				// Only the first audio stream is used; later m= lines end it.
				inAudio = false
				continue
			}
			f := strings.Fields(val)
			if len(f) < 3 {
				return nil, fmt.Errorf("%w: m= line %q", ErrBadSDP, clip(val))
			}
			if f[0] != "audio" || seenAudio {
				continue
			}
			port, _, _ := strings.Cut(f[1], "/")
			p, err := strconv.ParseUint(port, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("%w: m= port %q", ErrBadSDP, clip(f[1]))
			}
			s.Port, s.Proto = uint16(p), f[2]
			for _, pt := range f[3:] {
				v, err := strconv.ParseUint(pt, 10, 7)
				if err != nil {
					return nil, fmt.Errorf("%w: m= payload type %q", ErrBadSDP, clip(pt))
				}
				pts = append(pts, uint8(v))
			}
			inAudio, seenAudio = true, true
		case 'a':
			name, arg, _ := strings.Cut(val, ":")
			dir := Direction(name)
			switch dir {
			case SendRecv, SendOnly, RecvOnly, Inactive:
				if inAudio {
					s.Direction = dir
				} else if !seenAudio {
					sessionDir = dir
				}
				continue
			}
			if !inAudio {
				continue
			}
			switch name {
			case "rtpmap":
				pt, c, err := parseRTPMap(arg)
				if err != nil {
					return nil, err
				}
				rtpmap[pt] = c
			case "fmtp":
				ptS, params, _ := strings.Cut(arg, " ")
				pt, err := strconv.ParseUint(ptS, 10, 7)
				if err != nil {
					return nil, fmt.Errorf("%w: fmtp %q", ErrBadSDP, clip(arg))
				}
				fmtp[uint8(pt)] = strings.TrimSpace(params)
			case "ptime":
				if v, err := strconv.Atoi(strings.TrimSpace(arg)); err == nil && v > 0 && v <= 1000 {
					s.Ptime = v
				}
			case "rtcp-mux":
				s.RTCPMux = true
			}
		}
	}
	if !seenAudio {
		return nil, fmt.Errorf("%w: no audio stream", ErrBadSDP)
	}
	s.Addr = mediaAddr
	if !s.Addr.IsValid() {
		s.Addr = sessionAddr
	}
	if !s.Addr.IsValid() && s.Port != 0 {
		return nil, fmt.Errorf("%w: no connection address", ErrBadSDP)
	}
	if s.Direction == "" {
		s.Direction = sessionDir
	}
	if s.Direction == "" {
		s.Direction = SendRecv
	}
	seen := map[uint8]bool{}
	for _, pt := range pts {
		if seen[pt] {
			continue
		}
		seen[pt] = true
		c, ok := rtpmap[pt]
		if !ok {
			c, ok = staticCodec(pt)
		}
		if !ok {
			// A dynamic payload type without rtpmap cannot be used.
			continue
		}
		c.PayloadType = pt
		c.Fmtp = fmtp[pt]
		if c.isDTMF() {
			s.DTMF = append(s.DTMF, c)
			continue
		}
		s.Codecs = append(s.Codecs, c)
	}
	return &s, nil
}

// staticCodec returns the RFC 3551 static format of payload type pt.
func staticCodec(pt uint8) (Codec, bool) {
	for _, c := range []Codec{CodecPCMU, CodecPCMA, CodecG722, {Name: "GSM", ClockRate: 8000, Channels: 1, PayloadType: 3}, {Name: "G729", ClockRate: 8000, Channels: 1, PayloadType: 18}} {
		if c.PayloadType == pt {
			return c, true
		}
	}
	return Codec{}, false
}

// parseConnection parses "IN IP4 192.0.2.1" (a TTL or count suffix of a
// multicast address is dropped).
func parseConnection(val string) (netip.Addr, error) {
	f := strings.Fields(val)
	if len(f) != 3 || f[0] != "IN" || (f[1] != "IP4" && f[1] != "IP6") {
		return netip.Addr{}, fmt.Errorf("%w: c= line %q", ErrBadSDP, clip(val))
	}
	host, _, _ := strings.Cut(f[2], "/")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q", ErrBadSDP, clip(host))
	}
	return a.Unmap(), nil
}

// parseRTPMap parses "96 opus/48000/2".
func parseRTPMap(arg string) (uint8, Codec, error) {
	ptS, enc, ok := strings.Cut(arg, " ")
	if !ok {
		return 0, Codec{}, fmt.Errorf("%w: rtpmap %q", ErrBadSDP, clip(arg))
	}
	pt, err := strconv.ParseUint(ptS, 10, 7)
	if err != nil {
		return 0, Codec{}, fmt.Errorf("%w: rtpmap payload type %q", ErrBadSDP, clip(ptS))
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return 0, Codec{}, fmt.Errorf("%w: rtpmap encoding %q", ErrBadSDP, clip(enc))
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return 0, Codec{}, fmt.Errorf("%w: rtpmap clock rate %q", ErrBadSDP, clip(parts[1]))
	}
	ch := uint64(1)
	if len(parts) == 3 {
		ch, err = strconv.ParseUint(parts[2], 10, 16)
		if err != nil || ch == 0 {
			return 0, Codec{}, fmt.Errorf("%w: rtpmap channels %q", ErrBadSDP, clip(parts[2]))
		}
	}
	return uint8(pt), Codec{Name: parts[0], ClockRate: uint32(rate), Channels: uint16(ch), PayloadType: uint8(pt)}, nil
}

// clip shortens untrusted text quoted in an error.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// OfferCodecs assigns payload types to codecs for an offer: the RFC 3551
// static type for formats that have one, else the codec's own type when it
// is dynamic (96-127) and free, else the next free dynamic type.
// Duplicates (same format) are dropped, telephone-event entries are
// moved to the DTMF list, and telephone-event/8000 (plus /48000 when opus
// is offered) is added when missing (RFC 4733).
func OfferCodecs(codecs []Codec) (audio, dtmf []Codec) {
	used := map[uint8]bool{}
	var want []Codec
	for _, c := range codecs {
		if c.Name == "" || c.ClockRate == 0 {
			continue
		}
		if c.Channels == 0 {
			c.Channels = 1
		}
		dup := false
		for _, w := range want {
			if w.SameFormat(c) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if pt, ok := staticPayloadType(c); ok {
			c.PayloadType = pt
			used[pt] = true
		}
		want = append(want, c)
	}
	hasDTMF := func(rate uint32) bool {
		for _, w := range want {
			if w.isDTMF() && w.ClockRate == rate {
				return true
			}
		}
		return false
	}
	addDTMF := func(rate uint32, pt uint8) {
		if !hasDTMF(rate) {
			d := CodecTelephoneEvent
			d.ClockRate, d.PayloadType = rate, pt
			want = append(want, d)
		}
	}
	addDTMF(8000, CodecTelephoneEvent.PayloadType)
	for _, w := range want {
		if strings.EqualFold(w.Name, "opus") {
			addDTMF(48000, 110)
			break
		}
	}
	// Dynamic types second, so that static ones are never taken.
	for i := range want {
		c := &want[i]
		if _, ok := staticPayloadType(*c); ok {
			continue
		}
		if c.PayloadType < 96 || c.PayloadType > 127 || used[c.PayloadType] {
			c.PayloadType = 0
			for pt := uint8(96); pt <= 127; pt++ {
				if !used[pt] {
					c.PayloadType = pt
					break
				}
			}
			if c.PayloadType == 0 {
				continue
			}
		}
		used[c.PayloadType] = true
	}
	for _, c := range want {
		if c.PayloadType == 0 && !c.SameFormat(CodecPCMU) {
			continue
		}
		if c.isDTMF() {
			dtmf = append(dtmf, c)
		} else {
			audio = append(audio, c)
		}
	}
	return audio, dtmf
}

// Negotiate picks the answer to offer: the first audio codec in the
// offer's order that matches one of accept (name, clock rate, channels),
// carrying the offer's payload type and parameters so that opus and G722
// pass through unchanged, and the offered telephone-event of the same
// clock rate, if any. An offer without a usable audio stream fails with
// ErrNoCommonCodec (answered with 488, RFC 3261 section 13.3.1.4).
func Negotiate(offer *SDP, accept []Codec) (audio Codec, dtmf *Codec, err error) {
	if offer.Port == 0 {
		return Codec{}, nil, fmt.Errorf("%w: audio stream disabled", ErrNoCommonCodec)
	}
	if offer.Proto != "RTP/AVP" && offer.Proto != "RTP/AVPF" {
		return Codec{}, nil, fmt.Errorf("%w: transport %q", ErrNoCommonCodec, clip(offer.Proto))
	}
	for _, o := range offer.Codecs {
		for _, a := range accept {
			if o.SameFormat(a) {
				return o, pickDTMF(offer.DTMF, o.ClockRate), nil
			}
		}
	}
	names := make([]string, 0, len(offer.Codecs))
	for _, o := range offer.Codecs {
		names = append(names, o.String())
	}
	return Codec{}, nil, fmt.Errorf("%w: offered %s", ErrNoCommonCodec, strings.Join(names, ", "))
}

// pickDTMF returns the telephone-event format of the audio clock rate,
// else the 8000 Hz one.
func pickDTMF(dtmf []Codec, rate uint32) *Codec {
	var fallback *Codec
	for i := range dtmf {
		d := dtmf[i]
		if d.ClockRate == rate {
			return &d
		}
		if d.ClockRate == 8000 && fallback == nil {
			fallback = &d
		}
	}
	return fallback
}

// sdpParams is what BuildSDP writes.
type sdpParams struct {
	sessionID, version uint64
	addr               netip.Addr
	port               uint16
	codecs             []Codec
	dtmf               []Codec
	direction          Direction
	ptime              int
}

// BuildSDP writes an SDP body for one audio stream (RFC 4566, RFC 3264
// section 5): audio formats in order, then telephone-event.
func buildSDP(p sdpParams) []byte {
	ipv := "IP4"
	if p.addr.Is6() && !p.addr.Is4In6() {
		ipv = "IP6"
	}
	addr := p.addr.Unmap().String()
	var b strings.Builder
	b.Grow(256)
	fmt.Fprintf(&b, "v=0\r\no=- %d %d IN %s %s\r\ns=%s\r\nc=IN %s %s\r\nt=0 0\r\n", p.sessionID, p.version, ipv, addr, DefaultUserAgent, ipv, addr)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", p.port)
	all := append(append([]Codec(nil), p.codecs...), p.dtmf...)
	for _, c := range all {
		fmt.Fprintf(&b, " %d", c.PayloadType)
	}
	b.WriteString("\r\n")
	for _, c := range all {
		fmt.Fprintf(&b, "a=rtpmap:%d %s\r\n", c.PayloadType, c.String())
		if c.Fmtp != "" {
			fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", c.PayloadType, c.Fmtp)
		}
	}
	if p.ptime > 0 {
		fmt.Fprintf(&b, "a=ptime:%d\r\n", p.ptime)
	}
	dir := p.direction
	if dir == "" {
		dir = SendRecv
	}
	fmt.Fprintf(&b, "a=%s\r\n", dir)
	return []byte(b.String())
}
