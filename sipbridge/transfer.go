package sipbridge

import (
	"context"

	"github.com/switchboard/switchboard/monitor"
)

// Transfer hands the far end on to target (blind transfer, RFC 3515
// REFER): a number or user at the account's domain, user@host or a sip:
// URI, as Dial takes it. It returns once the REFER was accepted (202) or
// refused (an error wrapping ErrRefused); either way progress arrives on
// Events as Transfer: trying, ringing, then accepted — and the call ends
// with the text "Transferred to …" — or failed, with the call kept. No
// final NOTIFY within TransferTimeout counts as failed. The call must be
// connected (ErrCallState), with no other transfer under way
// (ErrTransferPending).
func (c *Call) Transfer(ctx context.Context, target string) error { return c.transfer(ctx, target) }

// TransferTo connects the far end of c to the far end of consult
// (attended transfer: REFER with Replaces naming consult's dialog, RFC
// 3891). Both calls must be connected; both end on success, reported on
// c's Events as for Transfer.
func (c *Call) TransferTo(ctx context.Context, consult *Call) error {
	return c.transferTo(ctx, consult)
}

// TransferredFrom is the call this one replaces because the far end
// transferred us (a REFER made us place it, or an INVITE with Replaces
// took that call over); empty otherwise.
func (c *Call) TransferredFrom() monitor.CallID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tr.transferredFrom
}

// OnTransferred sets the handler for calls that replace one of ours: a
// REFER from the far end made the bridge place next (called as soon as
// next is placed; old ends once next is answered and the transferor
// hangs up), or an INVITE with Replaces took old over (next is answered
// already, without ringing; old ends right after). fn returns quickly;
// the gateway moves the page's audio from old to next.
func (b *Bridge) OnTransferred(fn func(old, next *Call)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onTransferred = fn
}

// SendDTMF sends digits (0-9, *, #, A-D; a-d too) to the far end: RFC 4733
// telephone-events in the call's RTP stream when the far end negotiated
// them, SIP INFO application/dtmf-relay otherwise. Each key sounds for
// DTMFDuration with a pause as long between keys; SendDTMF returns when
// the last one is sent. Calls of one call take turns.
func (c *Call) SendDTMF(ctx context.Context, digits string) error { return c.sendDTMF(ctx, digits) }
