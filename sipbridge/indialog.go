package sipbridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Requests inside a call's dialog (RFC 3261 section 12.2): REFER, NOTIFY
// and INFO of ours, and matching the far end's to the call.

// inDialogTimeout bounds one request of ours inside a dialog when the
// caller gives no deadline (NOTIFY, BYE-like housekeeping).
const inDialogTimeout = 5 * time.Second

// dialogIdentity is what names the call's confirmed dialog: the local and
// remote tags and the far end's target (its Contact).
type dialogIdentity struct {
	localTag, remoteTag string
	target              sip.Uri
}

// identity returns the dialog of a connected call; before the answer it
// fails with ErrCallState (call control acts on confirmed dialogs only,
// and RFC 3891 section 3 has an early dialog of the far end's answered
// 481). An outgoing call's dialog is read only once it is connected: the
// INVITE's responses are written by the call's goroutine until then, and
// emitting the connected state under c.mu orders that before this read.
func (c *Call) identity() (dialogIdentity, error) {
	c.mu.Lock()
	state, ended := c.state, c.ended
	c.mu.Unlock()
	switch {
	case ended:
		return dialogIdentity{}, ErrCallEnded
	case state != StateConnected:
		return dialogIdentity{}, ErrCallState
	}
	var id dialogIdentity
	switch {
	case c.out != nil:
		id.localTag = fromTag(c.out.InviteRequest.From())
		if res := c.out.InviteResponse; res != nil {
			id.remoteTag = toTag(res.To())
			if ct := res.Contact(); ct != nil {
				id.target = ct.Address
			}
		}
	case c.in != nil:
		req := c.in.dss.InviteRequest
		id.localTag = toTag(req.To())
		id.remoteTag = fromTag(req.From())
		if ct := req.Contact(); ct != nil {
			id.target = ct.Address
		}
	default:
		return dialogIdentity{}, ErrCallState
	}
	if id.target.Host == "" || id.remoteTag == "" {
		return dialogIdentity{}, fmt.Errorf("call %s: %w: dialog without remote target", c.id, ErrCallState)
	}
	return id, nil
}

// fromTag and toTag return the tag parameter of a From or To header.
func fromTag(h *sip.FromHeader) string {
	if h == nil {
		return ""
	}
	t, _ := h.Params.Get("tag")
	return t
}

func toTag(h *sip.ToHeader) string {
	if h == nil {
		return ""
	}
	t, _ := h.Params.Get("tag")
	return t
}

// matches reports whether req, a request of the far end with c's Call-ID,
// belongs to c's dialog: its From tag is the remote tag, its To tag ours.
func (c *Call) matches(req *sip.Request) bool {
	id, err := c.identity()
	if err != nil {
		return false
	}
	return fromTag(req.From()) == id.remoteTag && toTag(req.To()) == id.localTag
}

// newInDialog returns a request of method to the far end's target, for
// sendInDialog.
func (c *Call) newInDialog(method sip.RequestMethod) (*sip.Request, error) {
	id, err := c.identity()
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(method, *id.target.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", c.b.cfg.UserAgent))
	return req, nil
}

// sendInDialog sends req inside c's dialog (From, To, Call-ID, CSeq and
// Route set by the dialog) and returns the final response. A request
// challenged for credentials inside a dialog is returned as it is.
func (c *Call) sendInDialog(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	var (
		res *sip.Response
		err error
	)
	switch {
	case c.out != nil:
		res, err = c.out.Do(ctx, req)
	case c.in != nil:
		res, err = c.in.dss.Do(ctx, req)
	default:
		return nil, ErrCallState
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.ToLower(string(req.Method)), err)
	}
	return res, nil
}
