package sipbridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// DTMF both ways: RFC 4733 telephone-events in the call's RTP stream when
// the far end negotiated telephone-event, SIP INFO otherwise. Digits are
// never logged: they are often PINs.

// sendDTMF is SendDTMF.
func (c *Call) sendDTMF(ctx context.Context, digits string) error {
	keys := make([]uint8, 0, len(digits))
	for i := 0; i < len(digits); i++ {
		e, ok := digitEvent(digits[i])
		if !ok {
			return fmt.Errorf("send dtmf: %w: %q", ErrBadDigit, digits[i])
		}
		keys = append(keys, e)
	}
	if len(keys) == 0 {
		return nil
	}
	c.dtmfMu.Lock()
	defer c.dtmfMu.Unlock()
	c.mu.Lock()
	state, ended, leg, viaRTP := c.state, c.ended, c.media, c.hasDTMF
	c.mu.Unlock()
	switch {
	case ended:
		return fmt.Errorf("send dtmf: %w", ErrCallEnded)
	case state != StateConnected || leg == nil:
		return fmt.Errorf("send dtmf: %w", ErrCallState)
	}
	length := c.b.cfg.DTMFDuration
	for i, e := range keys {
		if i > 0 {
			if err := c.pause(ctx, length); err != nil {
				return fmt.Errorf("send dtmf: %w", err)
			}
		}
		var err error
		if viaRTP {
			err = leg.sendDTMFEvent(ctx, e, length)
		} else {
			err = c.sendInfoDigit(ctx, dtmfDigits[e], length)
		}
		if err != nil {
			return fmt.Errorf("send dtmf: %w", err)
		}
	}
	return nil
}

// pause waits d, unless ctx ends or the call does first.
func (c *Call) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrCallEnded
	}
}

// sendInfoDigit sends one key as SIP INFO application/dtmf-relay and
// waits for its answer.
func (c *Call) sendInfoDigit(ctx context.Context, d byte, length time.Duration) error {
	req, err := c.newInDialog(sip.INFO)
	if err != nil {
		return err
	}
	req.AppendHeader(sip.NewHeader("Content-Type", contentDTMFRelay))
	req.SetBody(dtmfRelayBody(d, length))
	rctx, cancel := context.WithTimeout(ctx, inDialogTimeout)
	defer cancel()
	res, err := c.sendInDialog(rctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("info: %w: %d %s", ErrRefused, res.StatusCode, res.Reason)
	}
	return nil
}

// digitReceived reports a key the far end pressed as a CallEvent. It is
// called from the RTP read path and from INFO requests.
func (c *Call) digitReceived(digit string) {
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	c.emit(CallEvent{State: state, DTMF: digit})
}

// onInfo takes SIP INFO inside a call: DTMF as application/dtmf-relay or
// application/dtmf becomes a CallEvent; an empty INFO (a keep-alive) is
// answered 200; other bodies get 415 with what is understood (RFC 6086
// section 4.2.2, RFC 3261 section 21.4.13).
func (b *Bridge) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	b.counters.Events.Add(1)
	c := b.lookupCall(req.CallID().Value())
	if c == nil || !c.matches(req) {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct, _, _ = strings.Cut(strings.ToLower(strings.TrimSpace(h.Value())), ";")
		ct = strings.TrimSpace(ct)
	}
	var (
		info dtmfInfo
		err  error
	)
	switch {
	case len(req.Body()) == 0:
		respond(tx, req, sip.StatusOK, "OK")
		return
	case ct == contentDTMFRelay:
		info, err = parseDTMFRelay(req.Body())
	case ct == contentDTMF:
		info, err = parseDTMFBody(req.Body())
	default:
		res := sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", contentDTMFRelay+", "+contentDTMF))
		_ = tx.Respond(res)
		return
	}
	if err != nil {
		b.log.Info("sip info not understood", "call", c.id, "err", err)
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	respond(tx, req, sip.StatusOK, "OK")
	c.digitReceived(info.digit)
}
