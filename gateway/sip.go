package gateway

import (
	"context"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/monitor"
)

// SIP is what the gateway needs of the SIP side: place calls, hear of
// incoming ones and report account registration. FromBridge adapts a
// *sipbridge.Bridge.
type SIP interface {
	// Dial sends an INVITE from account to target offering codecs in order
	// (telephone-event is added by the SIP side); progress arrives on the
	// call's Events.
	Dial(ctx context.Context, account, target string, codecs []Codec) (SIPCall, error)
	// OnIncoming sets the handler for incoming calls; fn returns quickly.
	OnIncoming(fn func(c SIPCall))
	// Statuses reports the registration state of every account.
	Statuses() []monitor.SourceStatus
}

// SIPCall is one SIP call as the gateway drives it.
type SIPCall interface {
	ID() monitor.CallID
	Account() string
	Direction() monitor.Direction
	Remote() monitor.Party
	// Offered lists an incoming call's codecs in the caller's order.
	Offered() []Codec
	// Events delivers progress; it is closed after the "ended" event.
	Events() <-chan CallEvent
	// Codec is the negotiated audio codec with this leg's payload type.
	Codec() (Codec, bool)
	// DTMFPayloadType is the leg's RFC 4733 telephone-event payload type.
	DTMFPayloadType() (uint8, bool)
	// Media is the RTP leg, nil until media is negotiated.
	Media() MediaLeg
	Answer(ctx context.Context, accept []Codec) (Codec, error)
	Reject(ctx context.Context, code int) error
	Hangup(ctx context.Context) error
}

// MediaLeg is the RTP socket of a SIP call. Both methods move one whole RTP
// packet and must not allocate; ReadRTP returns net.ErrClosed once the call
// has ended.
type MediaLeg interface {
	ReadRTP(b []byte) (int, error)
	WriteRTP(b []byte) (int, error)
}

// Codec is an RTP payload format on one leg (RFC 4566 rtpmap).
type Codec struct {
	// Name is the rtpmap encoding name: PCMU, PCMA, G722, opus,
	// telephone-event.
	Name string
	// ClockRate is the RTP clock rate; G722 is 8000 (RFC 3551 section 4.5.2).
	ClockRate uint32
	// Channels is 1, or 2 for opus.
	Channels uint16
	// PayloadType is this leg's payload type.
	PayloadType uint8
	// Fmtp is the format parameters line, without "a=fmtp:PT ".
	Fmtp string
}

// String is the codec as the page shows it, e.g. "PCMU/8000".
func (c Codec) String() string {
	return c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
}

// sameFormat reports whether a and b are the same format, ignoring payload
// type and parameters (RFC 3264 section 6.1 matches on name, rate and
// channels).
func (c Codec) sameFormat(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate && channels(c) == channels(o)
}

func channels(c Codec) uint16 {
	if c.Channels == 0 {
		return 1
	}
	return c.Channels
}

// CallState is where a SIP call is.
type CallState string

// Call states as the SIP side reports them.
const (
	StateTrying   CallState = "trying"
	StateRinging  CallState = "ringing"
	StateEarly    CallState = "early"
	StateAnswered CallState = "answered"
	StateEnded    CallState = "ended"
)

// CallEvent is one step of a SIP call.
type CallEvent struct {
	State  CallState
	Status int
	Text   string
	// Codec is set when media got negotiated (early or answered).
	Codec *Codec
	// Reason is set when the call ended.
	Reason monitor.Reason
}
