package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028): a call's session is kept alive by a
// re-INVITE or UPDATE from the refresher at half the session interval;
// the other side ends it with BYE when no refresh came in time, so a call
// whose far end vanished without a BYE does not stay up for ever.

// maxSessionInterval bounds the intervals taken from a far end: a day is
// more than any real session timer, and keeps durations far from
// overflowing.
const maxSessionInterval = 24 * time.Hour

// sessionExpires is a Session-Expires header value (RFC 4028 section 4):
// the interval and who refreshes, from the view of the transaction that
// carries it ("uac" or "uas"; "" when not given).
type sessionExpires struct {
	interval  time.Duration
	refresher string
}

// String is the header value, "1800;refresher=uac".
func (se sessionExpires) String() string {
	v := strconv.FormatInt(int64(se.interval/time.Second), 10)
	if se.refresher != "" {
		v += ";refresher=" + se.refresher
	}
	return v
}

// parseDeltaSeconds parses the delta-seconds that start Session-Expires
// and Min-SE (RFC 4028 section 4, RFC 3261 section 25.1) and returns the
// parameters after them.
func parseDeltaSeconds(v string) (time.Duration, string, error) {
	v = strings.TrimSpace(v)
	num, params, _ := strings.Cut(v, ";")
	num = strings.TrimSpace(num)
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, "", fmt.Errorf("delta-seconds %q", clip(num))
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || time.Duration(n)*time.Second > maxSessionInterval {
		return 0, "", fmt.Errorf("delta-seconds %q out of range", clip(num))
	}
	return time.Duration(n) * time.Second, params, nil
}

// parseSessionExpires parses a Session-Expires value, e.g.
// "1800;refresher=uas". Unknown parameters are ignored; a refresher other
// than uac or uas, or a zero interval, is an error.
func parseSessionExpires(v string) (sessionExpires, error) {
	d, params, err := parseDeltaSeconds(v)
	if err != nil {
		return sessionExpires{}, fmt.Errorf("session-expires: %w", err)
	}
	if d == 0 {
		return sessionExpires{}, fmt.Errorf("session-expires: zero interval")
	}
	se := sessionExpires{interval: d}
	for p := range strings.SplitSeq(params, ";") {
		name, val, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "refresher") {
			continue
		}
		switch r := strings.ToLower(strings.TrimSpace(val)); r {
		case "uac", "uas":
			se.refresher = r
		default:
			return sessionExpires{}, fmt.Errorf("session-expires: refresher %q", clip(val))
		}
	}
	return se, nil
}

// parseMinSE parses a Min-SE value (RFC 4028 section 5), e.g. "90".
func parseMinSE(v string) (time.Duration, error) {
	d, _, err := parseDeltaSeconds(v)
	if err != nil {
		return 0, fmt.Errorf("min-se: %w", err)
	}
	return d, nil
}

// sipHeaders is what the header helpers read of a request or response.
type sipHeaders interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

// headerValue is the value of the first header named long or by its
// compact form ("x" for Session-Expires), "" when absent.
func headerValue(m sipHeaders, long, compact string) string {
	if h := m.GetHeader(long); h != nil {
		return h.Value()
	}
	if compact != "" {
		if h := m.GetHeader(compact); h != nil {
			return h.Value()
		}
	}
	return ""
}

// hasOption reports whether a Supported or Require header (long or
// compact form, any number of them, comma lists) names tag.
func hasOption(m sipHeaders, long, compact, tag string) bool {
	var hs []sip.Header
	hs = append(hs, m.GetHeaders(long)...)
	if compact != "" {
		hs = append(hs, m.GetHeaders(compact)...)
	}
	for _, h := range hs {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

// allows reports whether the Allow headers of m list method.
func allows(m sipHeaders, method sip.RequestMethod) bool {
	for _, h := range m.GetHeaders("Allow") {
		for t := range strings.SplitSeq(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), string(method)) {
				return true
			}
		}
	}
	return false
}

// supportsTimer reports whether m says "Supported: timer".
func supportsTimer(m sipHeaders) bool { return hasOption(m, "Supported", "k", "timer") }

// sessionTimer is the session timer of one call as the last refresh left
// it.
type sessionTimer struct {
	// interval is the session interval; 0 means no session timer.
	interval time.Duration
	// weRefresh is set when this side sends the refreshes.
	weRefresh bool
	// since is when the session was last refreshed.
	since time.Time
}

// sessionAction is what the session timer asks of the call now.
type sessionAction uint8

const (
	sessionWait sessionAction = iota
	// sessionRefresh: send a refresh now.
	sessionRefresh
	// sessionExpired: nobody refreshed; end the call with BYE.
	sessionExpired
)

// refreshAt is when the refresher sends its refresh: half the interval
// after the last one (RFC 4028 section 10).
func (s sessionTimer) refreshAt() time.Time { return s.since.Add(s.interval / 2) }

// expireAt is when a session nobody refreshed is ended: the interval less
// the lesser of 32 seconds and a third of it (RFC 4028 section 10), so the
// BYE comes before the far end gives up the session itself.
func (s sessionTimer) expireAt() time.Time {
	return s.since.Add(s.interval - min(32*time.Second, s.interval/3))
}

// due says what to do at now and when to look again (zero: never).
func (s sessionTimer) due(now time.Time, refreshing bool) (sessionAction, time.Time) {
	if s.interval <= 0 {
		return sessionWait, time.Time{}
	}
	exp := s.expireAt()
	if !now.Before(exp) {
		return sessionExpired, time.Time{}
	}
	if s.weRefresh && !refreshing {
		if r := s.refreshAt(); now.Before(r) {
			return sessionWait, r
		}
		return sessionRefresh, exp
	}
	return sessionWait, exp
}

// refresherParam is the refresher parameter for a transaction in which
// this side is the UAC (uac) or the UAS.
func (s sessionTimer) refresherParam(weAreUAC bool) string {
	if s.weRefresh == weAreUAC {
		return "uac"
	}
	return "uas"
}

// uasTimer is the session timer after a far end's INVITE, re-INVITE or
// UPDATE (RFC 4028 section 9), given the current one and this side's
// Min-SE. An interval below minSE returns tooSmall (answer 422 with
// Min-SE) when the far end supports timers, else it is raised to minSE
// (RFC 4028 section 9: a 422 would not be understood). A request without Session-Expires keeps a running timer (it
// still counts as a refresh) and starts none.
func uasTimer(req *sip.Request, cur sessionTimer, minSE time.Duration, now time.Time) (next sessionTimer, tooSmall bool, err error) {
	v := headerValue(req, "Session-Expires", "x")
	if v == "" {
		if cur.interval > 0 {
			cur.since = now
		}
		return cur, false, nil
	}
	se, err := parseSessionExpires(v)
	if err != nil {
		return cur, false, err
	}
	if se.interval < minSE {
		if supportsTimer(req) {
			return cur, true, nil
		}
		// A caller that does not know timers (a proxy asked for one)
		// would not understand a 422: take our minimum instead, and
		// refresh ourselves below.
		se.interval, se.refresher = minSE, "uas"
	}
	next = sessionTimer{interval: se.interval, since: now}
	switch se.refresher {
	case "uac":
	case "uas":
		next.weRefresh = true
	default:
		// Ours to choose: the far end when it can (RFC 4028 section 9).
		next.weRefresh = !supportsTimer(req)
	}
	return next, false, nil
}

// uacTimer is the session timer after the 2xx of our INVITE, re-INVITE
// or UPDATE (RFC 4028 section 7.2): none without Session-Expires, and
// this side refreshes unless the far end took it on (refresher=uas).
func uacTimer(res *sip.Response, now time.Time) (sessionTimer, error) {
	v := headerValue(res, "Session-Expires", "x")
	if v == "" {
		return sessionTimer{}, nil
	}
	se, err := parseSessionExpires(v)
	if err != nil {
		return sessionTimer{}, err
	}
	return sessionTimer{interval: se.interval, weRefresh: se.refresher != "uas", since: now}, nil
}

// responseHeaders are the session timer headers of our 2xx to a far
// end's request: Session-Expires naming the refresher, and Require:
// timer when that is the far end (RFC 4028 section 9).
func (s sessionTimer) responseHeaders() []sip.Header {
	hs := []sip.Header{sip.NewHeader("Supported", "timer")}
	if s.interval <= 0 {
		return hs
	}
	se := sessionExpires{interval: s.interval, refresher: s.refresherParam(false)}
	hs = append(hs, sip.NewHeader("Session-Expires", se.String()))
	if !s.weRefresh {
		hs = append(hs, sip.NewHeader("Require", "timer"))
	}
	return hs
}

// requestHeaders are the session timer headers of our mid-dialog
// re-INVITE or UPDATE: the running interval and refresher, and the
// largest Min-SE a 422 taught us (RFC 4028 section 7.4).
func (s sessionTimer) requestHeaders(minSE time.Duration) []sip.Header {
	hs := []sip.Header{sip.NewHeader("Supported", "timer")}
	if s.interval <= 0 {
		return hs
	}
	se := sessionExpires{interval: max(s.interval, minSE), refresher: s.refresherParam(true)}
	hs = append(hs, sip.NewHeader("Session-Expires", se.String()))
	if minSE > 0 {
		hs = append(hs, sip.NewHeader("Min-SE", strconv.FormatInt(int64(minSE/time.Second), 10)))
	}
	return hs
}

// minSEOf is the Min-SE of a 422 answer, 0 when it has none.
func minSEOf(res *sip.Response) time.Duration {
	d, err := parseMinSE(headerValue(res, "Min-SE", ""))
	if err != nil {
		return 0
	}
	return d
}

// refuseTimer answers an incoming INVITE whose Session-Expires cannot be
// taken: 422 with our Min-SE when it is too small, 400 when malformed. It
// reports whether it answered.
func (b *Bridge) refuseTimer(req *sip.Request, tx sip.ServerTransaction) bool {
	_, tooSmall, err := uasTimer(req, sessionTimer{}, b.cfg.MinSE, time.Now())
	switch {
	case err != nil:
		respond(tx, req, sip.StatusBadRequest, "Bad Session-Expires")
	case tooSmall:
		res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
		res.AppendHeader(sip.NewHeader("Min-SE", strconv.FormatInt(int64(b.cfg.MinSE/time.Second), 10)))
		_ = tx.Respond(res)
	default:
		return false
	}
	return true
}

// inviteHeaders are the session timer headers of our INVITE: we know
// timers and ask for our interval; the far end picks the refresher (RFC
// 4028 section 7.1).
func (b *Bridge) inviteHeaders() []sip.Header {
	se := sessionExpires{interval: b.cfg.SessionExpires}
	return []sip.Header{sip.NewHeader("Supported", "timer"), sip.NewHeader("Session-Expires", se.String())}
}

// retryTooSmall sends the INVITE of dcs again when err is a 422 naming a
// Min-SE (RFC 4028 section 7.3): the interval raised to it, Min-SE
// added, a new CSeq and branch. It reports whether it did.
func retryTooSmall(ctx context.Context, dcs *sipgo.DialogClientSession, err error) bool {
	var dr *sipgo.ErrDialogResponse
	if !errors.As(err, &dr) || dr.Res.StatusCode != 422 {
		return false
	}
	minSE := minSEOf(dr.Res)
	if minSE <= 0 {
		return false
	}
	req := dcs.InviteRequest
	se := sessionExpires{interval: minSE}
	if cur, perr := parseSessionExpires(headerValue(req, "Session-Expires", "x")); perr == nil && cur.interval > minSE {
		se.interval = cur.interval
	}
	for _, name := range []string{"Session-Expires", "x", "Min-SE", "Via"} {
		for req.RemoveHeader(name) {
		}
	}
	req.AppendHeader(sip.NewHeader("Session-Expires", se.String()))
	req.AppendHeader(sip.NewHeader("Min-SE", strconv.FormatInt(int64(minSE/time.Second), 10)))
	req.CSeq().SeqNo++
	return dcs.Invite(ctx) == nil
}

// inviteTimer takes the session timer of the far end's INVITE as the UAS
// answers it and returns the headers for our 200 (RFC 4028 section 9).
// onInvite refused a too small interval already.
func (c *Call) inviteTimer(req *sip.Request) []sip.Header {
	ctl := c.control()
	t, _, err := uasTimer(req, sessionTimer{}, c.b.cfg.MinSE, time.Now())
	if err != nil {
		t = sessionTimer{}
	}
	c.mu.Lock()
	ctl.timers = t
	c.mu.Unlock()
	return t.responseHeaders()
}

// armLocked sets the session timer for what it needs next. c.mu held.
func (c *Call) armLocked(now time.Time) {
	ctl := c.control()
	act, at := ctl.timers.due(now, ctl.refreshTried.Equal(ctl.timers.since))
	switch {
	case act != sessionWait:
		ctl.timer.Reset(0)
	case at.IsZero():
		ctl.timer.Stop()
	default:
		ctl.timer.Reset(at.Sub(now))
	}
}

// sessionDue is what the session timer asks of the call's goroutine at
// now; a refresh is asked for once per session period.
func (c *Call) sessionDue(now time.Time) sessionAction {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctl := &c.ctl
	act, _ := ctl.timers.due(now, ctl.refreshTried.Equal(ctl.timers.since))
	switch act {
	case sessionRefresh:
		ctl.refreshTried = ctl.timers.since
	case sessionExpired:
		c.b.log.Info("sip session expired", "call", c.id, "interval", ctl.timers.interval)
	}
	c.armLocked(now)
	return act
}

// refreshSession refreshes the session (RFC 4028 section 7.4): a bare
// UPDATE when the far end allows it, else a re-INVITE with the session as
// it is. A session whose refresh fails ends at its expiry.
func (c *Call) refreshSession() {
	if err := c.renegotiate(c.b.forceCtx, nil); err != nil {
		c.b.log.Info("sip session refresh failed", "call", c.id, "err", err)
	}
	c.mu.Lock()
	c.armLocked(time.Now())
	c.mu.Unlock()
}
