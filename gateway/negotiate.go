package gateway

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// gatherTimeout bounds ICE gathering for the first answer (STUN and TURN
// servers may be slow to reply).
const gatherTimeout = 5 * time.Second

// reconcile moves the PeerConnection towards what the session needs: the
// codec of the live call (or of the call ringing) pinned by a server offer
// when the page sends another, and then the call's media joined.
func (s *Session) reconcile() {
	if !s.ready || s.offering {
		return
	}
	if s.pending != nil && s.pending != s.focus {
		// The page moved on while the call waited.
		s.pending = nil
	}
	target := s.want
	if s.pending != nil {
		target = &s.pendCodec
	}
	if target != nil && (s.pinned == nil || !s.pinned.SameFormat(*target)) {
		if err := s.offer(*target); err != nil {
			s.log.Error("renegotiate", "codec", target.String(), "err", err)
			var call monitor.CallID
			if s.pending != nil {
				call = s.pending.id
			}
			s.sendError("The audio connection could not be switched to the call.", call, "")
			s.want, s.pending = nil, nil
		}
		return
	}
	if s.pending != nil {
		if err := s.attach(); err != nil {
			s.log.Error("join call media", "err", err)
			s.sendError("The call's audio could not be connected.", s.pending.id, "")
		}
		s.pending = nil
	}
}

// browserCodec is the browser-leg form of a SIP-leg codec.
func browserCodec(c sipbridge.Codec) (sipbridge.Codec, bool) {
	for _, k := range supported {
		if k.SameFormat(c) {
			return k, true
		}
	}
	return sipbridge.Codec{}, false
}

// offer renegotiates on the live connection with only codec and
// telephone-event at its rate (RFC 4733 section 7.1.1); ICE and DTLS stay
// (RFC 8829 section 5.2.1 keeps the ICE credentials of a subsequent offer).
func (s *Session) offer(codec sipbridge.Codec) error {
	bc, ok := browserCodec(codec)
	if !ok {
		return fmt.Errorf("offer %s: %w", codec, ErrNoCodec)
	}
	tr := s.transceiver()
	if tr == nil {
		return fmt.Errorf("offer %s: %w", codec, ErrNotReady)
	}
	prefs := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: capability(bc)},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: bc.ClockRate, Channels: 1, SDPFmtpLine: "0-16"}},
	}
	if err := tr.SetCodecPreferences(prefs); err != nil {
		// The browser did not offer telephone-event at this rate: the
		// codec alone.
		if err := tr.SetCodecPreferences(prefs[:1]); err != nil {
			return fmt.Errorf("codec preferences %s: %w", codec, err)
		}
	}
	o, err := s.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := s.pc.SetLocalDescription(o); err != nil {
		return fmt.Errorf("set local offer: %w", err)
	}
	s.offering, s.offered = true, bc
	s.send(serverMessage{Type: MsgSDP, SDP: s.pc.LocalDescription()}, nil)
	return nil
}

func (s *Session) transceiver() *webrtc.RTPTransceiver {
	for _, t := range s.pc.GetTransceivers() {
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			return t
		}
	}
	return nil
}

// onSDP applies the page's offer (the first, or an ICE restart) or its
// answer to our offer.
func (s *Session) onSDP(ctx context.Context, d webrtc.SessionDescription) error {
	if d.Type == webrtc.SDPTypeAnswer {
		if !s.offering {
			return fmt.Errorf("answer without offer: %w", ErrBadMessage)
		}
		s.offering = false
		if err := s.pc.SetRemoteDescription(d); err != nil {
			s.sendError("The browser's audio settings were not accepted.", "", "")
			return fmt.Errorf("set remote answer: %w", err)
		}
		c := s.offered
		s.pinned = &c
		return nil
	}
	if s.offering {
		// Glare: the server's offer is outstanding. The page is the polite
		// side (RFC 8829 section 4.1.8.1 rollback) and must not offer now.
		return fmt.Errorf("offer during our offer: %w", ErrBadMessage)
	}
	if err := s.pc.SetRemoteDescription(d); err != nil {
		s.sendError("The browser's audio settings were not accepted.", "", "")
		return fmt.Errorf("set remote offer: %w", err)
	}
	if s.sender == nil {
		// The first offer: the outgoing track takes the page's transceiver
		// (added after SetRemoteDescription, so it is sendrecv), in the
		// first configured format the page offered.
		first, ok := s.firstOffered(d)
		if !ok {
			s.sendError("Your browser offered no audio format this server can use (it passes through "+s.g.codecNames()+"). Try another browser or ask an administrator.", "", "")
			return fmt.Errorf("page offer: %w", ErrNoCodec)
		}
		track, err := webrtc.NewTrackLocalStaticRTP(capability(first), "audio", "switchboard")
		if err != nil {
			return fmt.Errorf("new track: %w", err)
		}
		sender, err := s.pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("add track: %w", err)
		}
		// Nothing reads the sender's RTCP: the SRTP session drops it
		// (dropRTCP), and the sender-report interceptor needs none.
		s.sender, s.track, s.trackCodec = sender, track, first
	}
	a, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(a); err != nil {
		return fmt.Errorf("set local answer: %w", err)
	}
	// Non-trickle: the answer carries every candidate, so the page needs
	// no candidate messages.
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	local := s.pc.LocalDescription()
	s.send(serverMessage{Type: MsgSDP, SDP: local}, nil)
	s.ready = true
	// The page's offer lists all its codecs; it sends the first of our
	// answer (RFC 3264 section 6.1), which a call of that format uses
	// without a renegotiation.
	s.pinned = nil
	if f := sdpCodecs(local); len(f) > 0 {
		if bc, ok := browserCodec(f[0]); ok {
			s.pinned = &bc
		}
	}
	return nil
}

// firstOffered is the first configured codec, in its browser-leg form,
// that the page's offer d has.
func (s *Session) firstOffered(d webrtc.SessionDescription) (sipbridge.Codec, bool) {
	offered := sdpCodecs(&d)
	for _, k := range s.g.codecs {
		if slices.ContainsFunc(offered, k.SameFormat) {
			return browserCodec(k)
		}
	}
	return sipbridge.Codec{}, false
}

// sdpCodecs lists the audio formats of desc's first audio section in its
// order, telephone-event left out.
func sdpCodecs(desc *webrtc.SessionDescription) []sipbridge.Codec {
	if desc == nil {
		return nil
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(desc.SDP); err != nil {
		return nil
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		var out []sipbridge.Codec
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			rc, err := sd.GetCodecForPayloadType(uint8(pt))
			if err != nil || strings.EqualFold(rc.Name, "telephone-event") {
				continue
			}
			out = append(out, sipbridge.Codec{Name: rc.Name, ClockRate: rc.ClockRate, Channels: channels(rc.EncodingParameters), PayloadType: uint8(pt)})
		}
		return out
	}
	return nil
}

// channels reads rtpmap's encoding parameters: the channel count, 1 when
// absent.
func channels(param string) uint16 {
	if n, err := strconv.ParseUint(param, 10, 16); err == nil && n > 0 {
		return uint16(n)
	}
	return 1
}

// attach joins the pending call's media: the page-bound track of the
// call's format on the sender (kept when the format is the same), the
// browser's packets mapped to the SIP leg's payload types, and the relay
// from the SIP leg. Moving the page between calls re-targets both
// directions; nothing is renegotiated unless the format differs.
func (s *Session) attach() error {
	c, codec := s.pending, s.pendCodec
	leg := c.h.sip.Media()
	if leg == nil {
		return fmt.Errorf("call %s: %w", c.id, ErrNotReady)
	}
	bc, ok := browserCodec(codec)
	if !ok {
		return fmt.Errorf("call %s codec %s: %w", c.id, codec, ErrNoCodec)
	}
	if s.track == nil || !s.trackCodec.SameFormat(bc) {
		track, err := webrtc.NewTrackLocalStaticRTP(capability(bc), "audio", "switchboard")
		if err != nil {
			return fmt.Errorf("new track: %w", err)
		}
		if err := s.sender.ReplaceTrack(track); err != nil {
			return fmt.Errorf("replace track: %w", err)
		}
		s.track, s.trackCodec = track, bc
	}
	if s.joined != nil && s.joined != c {
		s.unjoin()
	}
	dtmf, hasDTMF := c.h.sip.DTMFPayloadType()
	var pt [128]int16
	ptMap(&pt, s.pc.RemoteDescription(), codec, dtmf, hasDTMF)
	if c.up == nil || c.up.leg != leg || c.up.pt != pt {
		// The leg owns its stream towards the SIP peer (SSRC, sequence
		// numbers running on across joins); the target only says where
		// the page's packets go and how their payload types map.
		c.up = &upTarget{leg: leg, pt: pt}
	}
	c.codec = codec
	s.up.target.Store(c.up)

	if c.down == nil {
		user := s.user.Name
		d := newDownstream(leg, &s.cont, codec.ClockRate, func(dur time.Duration) { s.g.observeAnswer(dur, user) })
		if !c.answered.IsZero() {
			d.answeredAt.Store(c.answered.UnixNano())
		}
		c.down = d
		s.relays.Add(1)
		go func() {
			defer s.relays.Done()
			d.run()
		}()
	}
	c.down.target.Store(&downTarget{track: s.track, audioPT: codec.PayloadType, clock: codec.ClockRate})
	s.joined = c
	return nil
}

// unjoin takes the page's audio off the joined call, both ways; the call's
// downstream keeps reading its leg.
func (s *Session) unjoin() {
	s.up.target.Store(nil)
	if s.joined != nil && s.joined.down != nil {
		s.joined.down.target.Store(nil)
	}
	s.joined = nil
}

// ptMap fills m with the SIP payload type for each payload type the browser
// declared in desc (RFC 3264 section 5.1: the browser sends what it said it
// receives): the call's codec, and telephone-event at its rate when the SIP
// leg has it. Everything else is dropped.
func ptMap(m *[128]int16, desc *webrtc.SessionDescription, codec sipbridge.Codec, dtmf uint8, hasDTMF bool) {
	for i := range m {
		m[i] = ptDrop
	}
	if desc == nil {
		return
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(desc.SDP); err != nil {
		return
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			rc, err := sd.GetCodecForPayloadType(uint8(pt))
			if err != nil {
				continue
			}
			got := sipbridge.Codec{Name: rc.Name, ClockRate: rc.ClockRate, Channels: channels(rc.EncodingParameters)}
			switch {
			case got.SameFormat(codec):
				m[pt] = int16(codec.PayloadType)
			case hasDTMF && strings.EqualFold(rc.Name, "telephone-event") && rc.ClockRate == codec.ClockRate:
				m[pt] = int16(dtmf)
			}
		}
		return
	}
}
