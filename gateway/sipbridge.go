package gateway

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// FromBridge adapts the SIP bridge to the gateway's SIP interface. The
// adapter only changes types, as Go's method sets require (Dial returns
// *sipbridge.Call, Media a *sipbridge.RTPLeg, OnTransferred and TransferTo
// take *sipbridge.Call): no goroutine, no copied values; events, codecs
// and states are the bridge's own.
func FromBridge(b *sipbridge.Bridge) SIP { return bridgeSIP{b: b} }

var (
	_ SIP     = bridgeSIP{}
	_ SIPCall = bridgeCall{}
)

type bridgeSIP struct{ b *sipbridge.Bridge }

func (s bridgeSIP) Dial(ctx context.Context, account, target string, codecs []sipbridge.Codec) (SIPCall, error) {
	c, err := s.b.Dial(ctx, account, target, codecs)
	if err != nil {
		return nil, err
	}
	return bridgeCall{c}, nil
}

func (s bridgeSIP) OnIncoming(fn func(SIPCall)) {
	s.b.OnIncoming(func(c *sipbridge.Call) { fn(bridgeCall{c}) })
}

func (s bridgeSIP) OnTransferred(fn func(old, next SIPCall)) {
	s.b.OnTransferred(func(old, next *sipbridge.Call) { fn(bridgeCall{old}, bridgeCall{next}) })
}

func (s bridgeSIP) Statuses() []monitor.SourceStatus { return s.b.Statuses() }

// bridgeCall is a *sipbridge.Call seen through SIPCall.
type bridgeCall struct{ *sipbridge.Call }

// Media returns nil, not a nil *RTPLeg in an interface, until negotiated.
func (c bridgeCall) Media() MediaLeg {
	if l := c.Call.Media(); l != nil {
		return l
	}
	return nil
}

// TransferTo unwraps consult, which must be a call of the same bridge.
func (c bridgeCall) TransferTo(ctx context.Context, consult SIPCall) error {
	o, ok := consult.(bridgeCall)
	if !ok {
		return fmt.Errorf("transfer %s to %s: %w", c.ID(), consult.ID(), ErrNoSuchCall)
	}
	return c.Call.TransferTo(ctx, o.Call)
}
