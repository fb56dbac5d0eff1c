package sipbridge

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// newCall returns a call of account a known by SIP Call-ID key.
func newCall(b *Bridge, a *account, key string, dir monitor.Direction, remote monitor.Party) *Call {
	tkey := key
	if b.cfg.NodeTag != "" {
		// In a cluster every node rings its own leg of a forked call,
		// with the same SIP Call-ID: the node's name keeps the legs apart
		// in the shared hub and history.
		tkey = key + "@" + b.cfg.NodeTag
	}
	return &Call{
		b: b, acct: a, key: key, tkey: tkey, dir: dir, remote: remote,
		id:     monitor.MakeCallID(monitor.SourceName(a.cfg.Name), tkey),
		events: make(chan CallEvent, eventBuffer),
		done:   make(chan struct{}),
		hangup: make(chan struct{}, 1),
	}
}

// emit records a state change and delivers it on Events. Repeated
// states are folded unless the event carries news (a codec, a media
// state, transfer progress, DTMF); ended closes Events and is delivered
// only once.
func (c *Call) emit(ev CallEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emitLocked(ev)
}

// carriesNews reports whether ev says more than its state, so that a
// repeated state is still delivered.
func (ev CallEvent) carriesNews() bool {
	return ev.Codec != nil || ev.Media != "" || ev.Transfer != nil || ev.DTMF != ""
}

// emitLocked is emit with c.mu held, for changes that must reach Events
// in the order they were made.
func (c *Call) emitLocked(ev CallEvent) {
	if c.ended || (ev.State == c.state && ev.State != StateEnded && !ev.carriesNews()) {
		return
	}
	c.state = ev.State
	select {
	case c.events <- ev:
	default:
		// The buffer holds far more steps than a call has; a consumer
		// that stopped reading loses progress, never the call.
		c.b.log.Info("sip call event dropped", "call", c.id, "state", ev.State)
	}
	if c.tr.observe != nil {
		c.tr.observe(ev)
	}
	if ev.State == StateEnded {
		c.ended = true
		close(c.events)
	}
}

// negotiated stores the media choice, opens nothing.
func (c *Call) negotiated(audio Codec, dtmf *Codec, leg *RTPLeg, remote netip.AddrPort) {
	leg.setRemote(remote)
	leg.setFormats(audio, dtmf)
	digit := c.digitReceived
	leg.onDigit.Store(&digit)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codec, c.hasCodec = audio, true
	if dtmf != nil {
		c.dtmf, c.hasDTMF = dtmf.PayloadType, true
	}
	c.media = leg
}

// finish ends the call once: ended event, monitor end, RTP socket closed,
// Done closed.
func (c *Call) finish(leg *RTPLeg, ev CallEvent) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	if c.tr.ending != "" && ev.Reason == monitor.ReasonCompleted {
		// A transfer moved the far end on; the BYE only followed.
		ev.Text = c.tr.ending
	}
	c.mu.Unlock()
	ev.State = StateEnded
	if ev.Reason == "" {
		ev.Reason = monitor.ReasonFailed
	}
	cause := ""
	if ev.Status != 0 {
		cause = strconv.Itoa(ev.Status)
	}
	c.acct.tracker.End(c.tkey, monitor.Ending{Reason: ev.Reason, Cause: cause})
	if leg != nil {
		leg.Close()
	}
	ev.Media = c.mediaEnded()
	c.emit(ev)
	close(c.done)
	c.b.log.Debug("sip call ended", "call", c.id, "reason", ev.Reason, "status", ev.Status, "text", ev.Text)
}

// mediaTimedOut reports whether the far end's RTP stopped: nothing for
// MediaStartTimeout after the leg opened, or for MediaTimeout after the
// last packet or the end of the last hold. It never fires while the call
// is held or the far end does not send.
func (c *Call) mediaTimedOut(leg *RTPLeg, now time.Time) bool {
	if leg == nil {
		return false
	}
	watched, since := c.mediaWatched()
	if !watched {
		// Held either way: a holding phone may send nothing at all.
		return false
	}
	idle, any := leg.idle(now)
	if !since.IsZero() && now.Sub(since) < idle {
		// The clock starts again where a hold ended.
		idle, any = now.Sub(since), true
	}
	if any {
		return idle > c.b.cfg.MediaTimeout
	}
	return idle > c.b.cfg.MediaStartTimeout
}

// mediaCheckInterval is how often a connected call checks for RTP.
func (c *Call) mediaCheckInterval() time.Duration {
	return max(min(c.b.cfg.MediaTimeout/4, time.Second), 10*time.Millisecond)
}

// failureText puts a final INVITE response into plain words and an end
// reason (RFC 3261 section 21).
func failureText(status int, phrase string) (monitor.Reason, string) {
	switch status {
	case sip.StatusBusyHere, 600:
		return monitor.ReasonBusy, "Busy — the other side is on another call"
	case sip.StatusGlobalDecline:
		return monitor.ReasonRejected, "Declined — the other side rejected the call"
	case sip.StatusNotFound, 604:
		return monitor.ReasonFailed, "Not found — no such number or user"
	case sip.StatusTemporarilyUnavailable:
		return monitor.ReasonFailed, "Unavailable — the other side cannot be reached now"
	case sip.StatusRequestTimeout:
		return monitor.ReasonNoAnswer, "No answer — the call timed out"
	case sip.StatusRequestTerminated:
		return monitor.ReasonCancelled, "Cancelled"
	case sip.StatusUnauthorized, sip.StatusProxyAuthRequired:
		return monitor.ReasonFailed, "Not allowed — the account's user name or password was refused"
	case sip.StatusForbidden:
		return monitor.ReasonFailed, "Forbidden — this account may not call that number"
	case 484:
		return monitor.ReasonFailed, "Incomplete number"
	case 488, 606:
		return monitor.ReasonFailed, "No common audio format with the other side"
	case 503:
		return monitor.ReasonFailed, "Service unavailable — the phone system cannot place the call"
	}
	return monitor.ReasonFailed, fmt.Sprintf("Call failed: %d %s", status, phrase)
}
