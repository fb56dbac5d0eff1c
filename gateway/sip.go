package gateway

import (
	"context"

	"github.com/pion/rtp"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// SIP is what the gateway needs of the SIP side: place calls, hear of
// incoming ones and of calls that replace ours, and report account
// registration. Its values (codecs, call and media states, events) are
// sipbridge's own; FromBridge adapts a *sipbridge.Bridge.
type SIP interface {
	// Dial sends an INVITE from account to target offering codecs in order
	// (telephone-event is added by the SIP side); progress arrives on the
	// call's Events.
	Dial(ctx context.Context, account, target string, codecs []sipbridge.Codec) (SIPCall, error)
	// OnIncoming sets the handler for incoming calls; fn returns quickly.
	OnIncoming(fn func(c SIPCall))
	// OnTransferred sets the handler for a call that replaces one of ours
	// because the far end transferred us: a REFER made the SIP side place
	// next, or an INVITE with Replaces took old over (next is then
	// answered already). fn returns quickly.
	OnTransferred(fn func(old, next SIPCall))
	// Statuses reports the registration state of every account.
	Statuses() []monitor.SourceStatus
}

// SIPCall is one SIP call as the gateway drives it; *sipbridge.Call has
// every method but Media and TransferTo in this form.
type SIPCall interface {
	ID() monitor.CallID
	Account() string
	Direction() monitor.Direction
	Remote() monitor.Party
	// State is the call's current state.
	State() sipbridge.CallState
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
	// MediaState is what the call's audio is doing now.
	MediaState() sipbridge.MediaState
	Answer(ctx context.Context, accept []sipbridge.Codec) (sipbridge.Codec, error)
	Reject(ctx context.Context, code int) error
	Hangup(ctx context.Context) error
	// Hold and Resume re-INVITE the far end (a=sendonly, a=sendrecv) and
	// return once it answered.
	Hold(ctx context.Context) error
	Resume(ctx context.Context) error
	// Transfer hands the far end on to target (blind); it returns at the
	// REFER's 202 or refusal, progress arrives on Events.
	Transfer(ctx context.Context, target string) error
	// TransferTo connects the far end to the far end of consult
	// (attended); consult is a call of the same SIP side.
	TransferTo(ctx context.Context, consult SIPCall) error
	// TransferredFrom is the call this one replaces, if any.
	TransferredFrom() monitor.CallID
	// SendDTMF sends digits to the far end.
	SendDTMF(ctx context.Context, digits string) error
}

// MediaLeg is the RTP socket of a SIP call (*sipbridge.RTPLeg). Both
// methods move one whole RTP packet and must not allocate; ReadRTP returns
// net.ErrClosed once the call has ended. WritePacket takes a packet whose
// payload type is already the SIP leg's and sends it in the leg's own
// stream (the leg rewrites SSRC, sequence number and timestamp, and may
// change p). A leg that is an io.Closer as
// well is closed by a forced shutdown, whose calls may never end.
type MediaLeg interface {
	ReadRTP(b []byte) (int, error)
	WritePacket(p *rtp.Packet) error
}
