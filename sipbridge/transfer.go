package sipbridge

import (
	"context"

	"github.com/switchboard/switchboard/monitor"
)

// Transfer hands the far end on to target (blind transfer, RFC 3515
// REFER). It returns once the REFER was accepted (202) or refused;
// progress arrives on Events as Transfer, and success ends the call.
func (c *Call) Transfer(ctx context.Context, target string) error { return errNotBuilt }

// TransferTo connects the far end of c to the far end of consult
// (attended transfer: REFER with Replaces naming consult's dialog, RFC
// 3891). Both calls end on success.
func (c *Call) TransferTo(ctx context.Context, consult *Call) error { return errNotBuilt }

// TransferredFrom is the call this one replaces because the far end
// transferred us (a REFER made us place it, or an INVITE with Replaces
// took that call over); empty otherwise.
func (c *Call) TransferredFrom() monitor.CallID { return "" }

// OnTransferred sets the handler for calls that replace one of ours: a
// REFER from the far end made the bridge place next, or an INVITE with
// Replaces took old over. fn returns quickly; the gateway moves the
// page's audio from old to next.
func (b *Bridge) OnTransferred(fn func(old, next *Call)) {}

// SendDTMF sends digits (0-9, *, #, A-D) to the far end: RFC 4733
// telephone-events in the call's RTP stream when the far end negotiated
// them, SIP INFO application/dtmf-relay otherwise.
func (c *Call) SendDTMF(ctx context.Context, digits string) error { return errNotBuilt }
