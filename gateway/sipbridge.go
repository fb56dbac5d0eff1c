package gateway

import (
	"context"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// FromBridge adapts the SIP bridge to the gateway's SIP interface.
func FromBridge(b *sipbridge.Bridge) SIP { return bridgeSIP{b: b} }

var _ SIP = bridgeSIP{}

type bridgeSIP struct{ b *sipbridge.Bridge }

func (s bridgeSIP) Dial(ctx context.Context, account, target string, codecs []Codec) (SIPCall, error) {
	c, err := s.b.Dial(ctx, account, target, toBridgeCodecs(codecs))
	if err != nil {
		return nil, err
	}
	return wrapCall(c), nil
}

func (s bridgeSIP) OnIncoming(fn func(SIPCall)) {
	s.b.OnIncoming(func(c *sipbridge.Call) { fn(wrapCall(c)) })
}

func (s bridgeSIP) Statuses() []monitor.SourceStatus { return s.b.Statuses() }

// bridgeCall is a sipbridge call seen through SIPCall. Its events are
// converted by a goroutine that ends when the call's events are closed
// (after "ended").
type bridgeCall struct {
	c      *sipbridge.Call
	events chan CallEvent
}

func wrapCall(c *sipbridge.Call) *bridgeCall {
	w := &bridgeCall{c: c, events: make(chan CallEvent, 16)}
	go func() {
		defer close(w.events)
		for ev := range c.Events() {
			out := CallEvent{State: CallState(ev.State), Status: ev.Status, Text: ev.Text, Reason: ev.Reason}
			if ev.Codec != nil {
				k := fromBridgeCodec(*ev.Codec)
				out.Codec = &k
			}
			w.events <- out
		}
	}()
	return w
}

func (w *bridgeCall) ID() monitor.CallID             { return w.c.ID() }
func (w *bridgeCall) Account() string                { return w.c.Account() }
func (w *bridgeCall) Direction() monitor.Direction   { return w.c.Direction() }
func (w *bridgeCall) Remote() monitor.Party          { return w.c.Remote() }
func (w *bridgeCall) Events() <-chan CallEvent       { return w.events }
func (w *bridgeCall) DTMFPayloadType() (uint8, bool) { return w.c.DTMFPayloadType() }

func (w *bridgeCall) Offered() []Codec {
	in := w.c.Offered()
	out := make([]Codec, len(in))
	for i, k := range in {
		out[i] = fromBridgeCodec(k)
	}
	return out
}

func (w *bridgeCall) Codec() (Codec, bool) {
	k, ok := w.c.Codec()
	return fromBridgeCodec(k), ok
}

// Media returns nil, not a nil *RTPLeg in an interface, until negotiated.
func (w *bridgeCall) Media() MediaLeg {
	if l := w.c.Media(); l != nil {
		return l
	}
	return nil
}

func (w *bridgeCall) Answer(ctx context.Context, accept []Codec) (Codec, error) {
	k, err := w.c.Answer(ctx, toBridgeCodecs(accept))
	return fromBridgeCodec(k), err
}

func (w *bridgeCall) Reject(ctx context.Context, code int) error { return w.c.Reject(ctx, code) }
func (w *bridgeCall) Hangup(ctx context.Context) error           { return w.c.Hangup(ctx) }

func toBridgeCodecs(in []Codec) []sipbridge.Codec {
	out := make([]sipbridge.Codec, len(in))
	for i, k := range in {
		out[i] = sipbridge.Codec{Name: k.Name, ClockRate: k.ClockRate, Channels: k.Channels, PayloadType: k.PayloadType, Fmtp: k.Fmtp}
	}
	return out
}

func fromBridgeCodec(k sipbridge.Codec) Codec {
	return Codec{Name: k.Name, ClockRate: k.ClockRate, Channels: k.Channels, PayloadType: k.PayloadType, Fmtp: k.Fmtp}
}
