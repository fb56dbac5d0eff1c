package gateway

import (
	"context"

	"github.com/pion/rtp"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// SIP is what the gateway needs of the SIP side: place calls, hear of
// incoming ones and report account registration. Its values (codecs, call
// states and events) are sipbridge's own; FromBridge adapts a
// *sipbridge.Bridge.
type SIP interface {
	// Dial sends an INVITE from account to target offering codecs in order
	// (telephone-event is added by the SIP side); progress arrives on the
	// call's Events.
	Dial(ctx context.Context, account, target string, codecs []sipbridge.Codec) (SIPCall, error)
	// OnIncoming sets the handler for incoming calls; fn returns quickly.
	OnIncoming(fn func(c SIPCall))
	// Statuses reports the registration state of every account.
	Statuses() []monitor.SourceStatus
}

// SIPCall is one SIP call as the gateway drives it; *sipbridge.Call has
// every method but Media in this form.
type SIPCall interface {
	ID() monitor.CallID
	Account() string
	Direction() monitor.Direction
	Remote() monitor.Party
	// Offered lists an incoming call's codecs in the caller's order.
	Offered() []sipbridge.Codec
	// Events delivers progress; it is closed after the ended event.
	Events() <-chan sipbridge.CallEvent
	// Codec is the negotiated audio codec with this leg's payload type.
	Codec() (sipbridge.Codec, bool)
	// DTMFPayloadType is the leg's RFC 4733 telephone-event payload type.
	DTMFPayloadType() (uint8, bool)
	// Media is the RTP leg, nil until media is negotiated.
	Media() MediaLeg
	Answer(ctx context.Context, accept []sipbridge.Codec) (sipbridge.Codec, error)
	Reject(ctx context.Context, code int) error
	Hangup(ctx context.Context) error
}

// MediaLeg is the RTP socket of a SIP call (*sipbridge.RTPLeg). Both
// methods move one whole RTP packet and must not allocate; ReadRTP returns
// net.ErrClosed once the call has ended. WritePacket takes a packet whose
// payload type is already the SIP leg's and sends it in the leg's own
// stream (the leg rewrites SSRC, sequence number and timestamp, and may
// change p).
type MediaLeg interface {
	ReadRTP(b []byte) (int, error)
	WritePacket(p *rtp.Packet) error
}
