package sipbridge

import (
	"slices"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A call's media state as the exchanges leave it (the pure machine is in
// mediastate.go): the RTP leg gated and re-pointed, the changes reported
// on Events, in the log and to the monitor.

// MediaState is the call's current media state.
func (c *Call) MediaState() MediaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctl.mm.state()
}

// applyMediaLocked applies a completed exchange with the far end's SDP
// theirs and the agreed codecs: the leg is re-pointed when their address
// moved, the directions gated, and a changed media state or codec is
// reported (one event, a log line, the monitor call held or not). c.mu
// held.
func (c *Call) applyMediaLocked(kind exchangeKind, ours Direction, theirs *SDP, audio Codec, dtmf *Codec, why string) {
	ctl := &c.ctl
	prev := ctl.mm
	null := theirs.Addr.IsUnspecified()
	ctl.mm = prev.next(mediaStep{exchange: true, kind: kind, ours: ours, theirs: theirs.Direction, null: null})
	leg := c.media
	if ap := theirs.RTPAddr(); !null && ap.IsValid() && ap != ctl.remoteAddr {
		if ctl.remoteAddr.IsValid() && leg != nil {
			leg.repoint(ap)
			c.b.log.Info("sip media moved", "call", c.id, "from", ctl.remoteAddr, "to", ap, "why", why)
		}
		ctl.remoteAddr = ap
	}
	codecChanged := c.hasCodec && c.codec != audio
	c.codec, c.hasCodec = audio, true
	c.dtmf, c.hasDTMF = 0, false
	if dtmf != nil {
		c.dtmf, c.hasDTMF = dtmf.PayloadType, true
	}
	if leg != nil {
		leg.setFlow(ctl.mm.forwardOut(), ctl.mm.forwardIn())
	}
	if ctl.mm.expectRTP() && !prev.expectRTP() && prev.phase == phaseLive {
		ctl.watchFrom = time.Now()
	}
	was, now := prev.state(), ctl.mm.state()
	if prev.phase == phaseNone {
		// The answer itself: the connected event reports it.
		return
	}
	ev := CallEvent{State: c.state}
	if now != was {
		ev.Media = now
		ev.Text = mediaText(now)
		c.b.log.Info("sip media state", "call", c.id, "from", was, "to", now, "why", why)
		c.trackHoldLocked(prev.held(), ctl.mm.held())
	}
	if codecChanged {
		cc := audio
		ev.Codec = &cc
		c.b.log.Info("sip codec changed", "call", c.id, "codec", audio.String(), "pt", audio.PayloadType, "why", why)
	}
	if ev.carriesNews() {
		c.emitLocked(ev)
	}
}

// trackHoldLocked shows a change of hold in the monitor. c.mu held, so
// that the monitor sees the changes in order.
func (c *Call) trackHoldLocked(was, now bool) {
	switch {
	case now && !was:
		c.acct.tracker.Hold(c.tkey)
	case was && !now:
		c.acct.tracker.Unhold(c.tkey)
	}
}

// mediaText puts a media state into plain words for the page.
func mediaText(s MediaState) string {
	switch s {
	case MediaActive:
		return "Audio flows both ways"
	case MediaLocalHold:
		return "On hold"
	case MediaRemoteHold:
		return "The other side put the call on hold"
	case MediaInactive:
		return "On hold on both sides"
	case MediaError:
		return "Audio lost"
	}
	return ""
}

// startMedia records the exchange that answered the call: what this side
// accepts on later offers, the far end's target, Allow and CSeq from
// dialogMsg (their INVITE, or their 200 to ours, whose session timer it
// takes on), and the media state the call starts in, which it returns
// for the connected event. audio and dtmf are the agreed codecs, ours the
// direction of our SDP and theirs the far end's.
func (c *Call) startMedia(accept []Codec, kind exchangeKind, ours Direction, theirs *SDP, audio Codec, dtmf *Codec, dialogMsg sipHeaders) MediaState {
	ctl := c.control()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	ctl.accept = slices.Clone(accept)
	c.noteTargetLocked(dialogMsg)
	switch m := dialogMsg.(type) {
	case *sip.Request:
		if m.CSeq() != nil {
			ctl.remoteCSeq = m.CSeq().SeqNo
		}
	case *sip.Response:
		t, err := uacTimer(m, now)
		if err != nil {
			c.b.log.Info("sip session-expires ignored", "call", c.id, "err", err)
		}
		ctl.timers = t
	}
	c.armLocked(now)
	c.local.direction = ours
	c.applyMediaLocked(kind, ours, theirs, audio, dtmf, "answer")
	s := ctl.mm.state()
	c.trackHoldLocked(false, ctl.mm.held())
	c.b.log.Info("sip media state", "call", c.id, "from", MediaNone, "to", s, "why", "answer", "session_interval", ctl.timers.interval)
	return s
}

// mediaLost reports media lost (MediaError) before the call ends.
func (c *Call) mediaLost(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.ctl.mm.state()
	c.ctl.mm = c.ctl.mm.next(mediaStep{lost: true})
	if now := c.ctl.mm.state(); now != was {
		c.b.log.Info("sip media state", "call", c.id, "from", was, "to", now, "why", text)
		c.emitLocked(CallEvent{State: c.state, Media: now, Text: text})
	}
}

// mediaEnded moves the media state to none at the call's end and returns
// MediaNone for the ended event when it was anything else.
func (c *Call) mediaEnded() MediaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.ctl.mm.state()
	c.ctl.mm = c.ctl.mm.next(mediaStep{ended: true})
	c.ctl.timers = sessionTimer{}
	c.control().timer.Stop()
	if was == MediaNone {
		return ""
	}
	return MediaNone
}

// mediaWatched reports whether the media timeout runs now and since when,
// when a hold ended it last (zero otherwise).
func (c *Call) mediaWatched() (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ctl.mm
	if m.phase != phaseLive {
		return true, time.Time{}
	}
	return m.expectRTP(), c.ctl.watchFrom
}
