package sipbridge

import (
	"strconv"
	"strings"
)

// Codec is an RTP payload format on this leg (RFC 4566 section 6, rtpmap
// and fmtp).
type Codec struct {
	// Name is the rtpmap encoding name: "PCMU", "PCMA", "G722", "opus",
	// "telephone-event".
	Name string
	// ClockRate is the RTP clock rate; G722 is 8000 per RFC 3551 section
	// 4.5.2 although it samples at 16 kHz, opus is 48000 (RFC 7587).
	ClockRate uint32
	// Channels is 1, or 2 for opus; 0 means 1.
	Channels uint16
	// PayloadType is this leg's payload type.
	PayloadType uint8
	// Fmtp is the format parameters, without "a=fmtp:PT ".
	Fmtp string
}

// Well-known codecs with their static payload types (RFC 3551 table 4)
// or the dynamic ones this side offers.
var (
	CodecPCMU           = Codec{Name: "PCMU", ClockRate: 8000, Channels: 1, PayloadType: 0}
	CodecPCMA           = Codec{Name: "PCMA", ClockRate: 8000, Channels: 1, PayloadType: 8}
	CodecG722           = Codec{Name: "G722", ClockRate: 8000, Channels: 1, PayloadType: 9}
	CodecOpus           = Codec{Name: "opus", ClockRate: 48000, Channels: 2, PayloadType: 111, Fmtp: "minptime=10;useinbandfec=1"}
	CodecTelephoneEvent = Codec{Name: "telephone-event", ClockRate: 8000, Channels: 1, PayloadType: 101, Fmtp: "0-16"}
)

// String is the codec as rtpmap writes it (RFC 4566 section 6: the
// channel count only where it is not 1), e.g. "PCMU/8000" or
// "opus/48000/2". It is also how the page, the logs and errors show a
// codec: the one spelling of a codec for people.
func (c Codec) String() string {
	s := c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if n := c.ChannelCount(); n != 1 {
		s += "/" + strconv.FormatUint(uint64(n), 10)
	}
	return s
}

// SameFormat reports whether c and o are the same format regardless of
// payload type and parameters: RFC 3264 section 6.1 matches on encoding
// name (case-insensitive), clock rate and channels.
func (c Codec) SameFormat(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate && c.ChannelCount() == o.ChannelCount()
}

// ChannelCount is the number of audio channels; a zero Channels means 1
// (RFC 4566 section 6, rtpmap).
func (c Codec) ChannelCount() uint16 {
	if c.Channels == 0 {
		return 1
	}
	return c.Channels
}

// isDTMF reports whether c is RFC 4733 telephone-event.
func (c Codec) isDTMF() bool { return strings.EqualFold(c.Name, "telephone-event") }

// staticPayloadType returns the RFC 3551 static payload type of c's
// format, if it has one.
func staticPayloadType(c Codec) (uint8, bool) {
	for _, s := range []Codec{CodecPCMU, CodecPCMA, CodecG722, {Name: "GSM", ClockRate: 8000, PayloadType: 3}, {Name: "G729", ClockRate: 8000, PayloadType: 18}} {
		if c.SameFormat(s) {
			return s.PayloadType, true
		}
	}
	return 0, false
}
