package sipbridge

import (
	"context"
	"slices"
	"sync"

	"github.com/emiago/sipgo"

	"github.com/switchboard/switchboard/monitor"
)

// CallState is where a softphone call is: what a call's Events report
// and, unchanged, what the /phone protocol shows the page (the gateway
// passes these values through, and static/phone.js names the same set). A
// new state is added here, once.
type CallState string

// Call states.
const (
	// StateTrying: the INVITE was sent (or received) and is being worked on.
	StateTrying CallState = "trying"
	// StateRinging: the far end rings (180), or an incoming call rings here.
	StateRinging CallState = "ringing"
	// StateEarly: a 183 with SDP arrived; early media flows (announcements,
	// ring-back tones) before the answer.
	StateEarly CallState = "early"
	// StateConnected: the call was answered (200 OK and ACK) and media
	// flows both ways.
	StateConnected CallState = "connected"
	// StateEnded: the call is over; Reason says why. Events closes after it.
	StateEnded CallState = "ended"
)

// CallEvent is one step of a call.
type CallEvent struct {
	// State is the call's new state.
	State CallState
	// Status is the SIP status code that caused the step, if any.
	Status int
	// Text is the reason phrase or a plain-words message for the page.
	Text string
	// Codec is set when media got negotiated (early or connected).
	Codec *Codec
	// Reason is set when the call ended.
	Reason monitor.Reason
	// Media is set when the call's media state changed; State then
	// repeats the call's current state. With MediaError, Text says what
	// was lost in plain words.
	Media MediaState
	// Transfer is set when a transfer this side started made progress.
	Transfer *TransferProgress
	// DTMF holds digits received from the far end (RFC 4733 events or SIP
	// INFO), in the order they arrived.
	DTMF string
}

// eventBuffer bounds a call's Events channel. A call has only a handful of
// steps; repeated provisional responses of the same state are folded.
const eventBuffer = 32

// Call is one SIP call of an account, outgoing (Dial) or incoming
// (OnIncoming). It is also a call in the monitor, keyed by its Call-ID.
type Call struct {
	b    *Bridge
	acct *account
	id   monitor.CallID
	key  string
	// tkey is the call's key in the account's tracker (and so its id):
	// key, with the node's tag in a cluster.
	tkey    string
	dir     monitor.Direction
	remote  monitor.Party
	offered []Codec

	events chan CallEvent
	done   chan struct{}
	// hangup asks the call's goroutine to end the call; buffered 1.
	hangup chan struct{}

	mu       sync.Mutex
	state    CallState
	codec    Codec
	hasCodec bool
	dtmf     uint8
	hasDTMF  bool
	media    *RTPLeg
	ended    bool

	// local is this side's current SDP, answered again on re-INVITE.
	local sdpParams
	// out is the dialog of an outgoing call.
	out *sipgo.DialogClientSession
	// in is the dialog of an incoming call.
	in *inboundCall

	// ctl is the mid-dialog state: exchanges, media state, session timer
	// (reinvite.go); guarded by mu.
	ctl callControl
	// tr is the call's transfer state (refer.go), under mu.
	tr transferState
	// dtmfMu lets one SendDTMF at a time play its digits.
	dtmfMu sync.Mutex
}

// ID is the call's monitor ID (account name and SIP Call-ID).
func (c *Call) ID() monitor.CallID { return c.id }

// Account is the name of the account the call belongs to.
func (c *Call) Account() string { return c.acct.cfg.Name }

// Direction is Outbound for Dial and Inbound for incoming calls.
func (c *Call) Direction() monitor.Direction { return c.dir }

// Remote is the far end: the dialled target or the caller.
func (c *Call) Remote() monitor.Party { return c.remote }

// Offered lists an incoming call's audio codecs in the caller's order,
// telephone-event excluded; nil for outgoing calls.
func (c *Call) Offered() []Codec { return slices.Clone(c.offered) }

// Events delivers the call's progress; it is closed after the "ended"
// event.
func (c *Call) Events() <-chan CallEvent { return c.events }

// Done is closed once the call has ended and its resources are released.
func (c *Call) Done() <-chan struct{} { return c.done }

// Codec is the negotiated audio codec with this leg's payload type.
func (c *Call) Codec() (Codec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codec, c.hasCodec
}

// DTMFPayloadType is this leg's RFC 4733 telephone-event payload type,
// when the far end accepted it.
func (c *Call) DTMFPayloadType() (uint8, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dtmf, c.hasDTMF
}

// Media is the call's RTP leg, nil until media is negotiated.
func (c *Call) Media() *RTPLeg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// State is the call's current state.
func (c *Call) State() CallState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Answer accepts an incoming call with the first codec, in the caller's
// order, that is in accept (matched by name, clock rate and channels). It
// sends 200 OK with the SDP answer and returns once the caller's ACK
// arrived.
func (c *Call) Answer(ctx context.Context, accept []Codec) (Codec, error) {
	if c.in == nil {
		return Codec{}, ErrCallState
	}
	return c.in.answer(ctx, c, accept)
}

// Reject declines an unanswered incoming call with code: 486 busy, 603
// decline, 480 unavailable (anything else outside 400-699 becomes 603).
func (c *Call) Reject(ctx context.Context, code int) error {
	if c.in == nil {
		return ErrCallState
	}
	return c.in.reject(ctx, c, code)
}

// Hangup ends the call: CANCEL while an outgoing call rings, 480 for an
// unanswered incoming one, BYE once answered. It returns once the call has
// ended or ctx is done.
func (c *Call) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	c.askHangup()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// askHangup asks the call's goroutine to end the call, without waiting.
func (c *Call) askHangup() {
	select {
	case c.hangup <- struct{}{}:
	default:
	}
}
