package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// A busy lamp is a subscription to the dialog event package (RFC 4235)
// of a target, through one account, kept alive by the subscriber side of
// RFC 6665: SUBSCRIBE (with digest authentication), refreshed before it
// expires, NOTIFYs answered and applied, a new SUBSCRIBE after the
// notifier forgot it (481 to a refresh, terminated by the notifier, the
// account registered anew after losing its registration), and an
// un-SUBSCRIBE on shutdown. sipgo has no subscription state machine;
// this is it. Each subscription has one goroutine (run), owned by the
// bridge's run; the NOTIFY handler shares its state under mu.

// notifyWait is how long a subscription waits after the 2xx to its
// SUBSCRIBE for the first NOTIFY: 64*T1 (RFC 6665 section 4.1.2.4), then
// it is given up and made anew after the backoff.
const notifyWait = 32 * time.Second

// unsubscribeWait bounds the un-SUBSCRIBE on shutdown.
const unsubscribeWait = 3 * time.Second

// Header values of a dialog subscription.
const (
	dialogEvent    = "dialog"
	dialogInfoType = "application/dialog-info+xml"
)

// subscription is one busy lamp of an account.
type subscription struct {
	a      *account
	target BLFTarget
	uri    sip.Uri
	key    string // the extension's key in the account's BLF tracker
	number string

	// wake carries news from the NOTIFY handler (terminated, a shorter
	// expires, a lost document) and from the account (registered anew);
	// one slot: the loop reads the state itself.
	wake chan struct{}

	mu sync.Mutex
	// The subscription's dialog (RFC 6665 section 4.1.2.4: made by the
	// 2xx to SUBSCRIBE or by the first NOTIFY, whichever comes first).
	callID     string
	localTag   string
	remoteTag  string
	remoteCSeq uint32
	remoteTgt  sip.Uri
	hasTarget  bool
	routes     []sip.Uri
	cseq       uint32
	dialogUp   bool // a 2xx or NOTIFY came for this dialog
	notified   bool // a NOTIFY came for this dialog
	dialogs    dialogSet
	expires    int // what the next SUBSCRIBE asks for (raised by 423)
	// News for the loop, set by the handler and the account.
	terminated *subState
	// finalAnswered: the 200 to a NOTIFY that ended the subscription has
	// been sent (what an un-SUBSCRIBE waits for before the stack goes).
	finalAnswered bool
	refreshNow    bool
	shorter       bool
	reregister    bool
	expiresAt     time.Time // as the last NOTIFY or 2xx said
	acceptedAt    time.Time // when the last 2xx to a SUBSCRIBE came
	// notifyAt and notifyEnds are when the last NOTIFY with an expires
	// came and the end it gave.
	notifyAt   time.Time
	notifyEnds time.Time
	status     monitor.SubscriptionStatus
}

func newSubscription(a *account, t BLFTarget) (*subscription, error) {
	u, err := t.blfURI(a.cfg.Domain)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", a.cfg.Name, err)
	}
	key := u.User
	if !strings.EqualFold(u.Host, a.cfg.Domain) {
		key += "@" + u.Host
	}
	s := &subscription{
		a: a, target: t, uri: u, key: "blf:" + key, number: u.User,
		wake:    make(chan struct{}, 1),
		expires: a.cfg.BLFExpires,
	}
	s.status = monitor.SubscriptionStatus{Target: u.String(), State: monitor.SubscriptionSubscribing, Since: time.Now()}
	return s, nil
}

// subError is a SUBSCRIBE that got a final non-2xx answer or none.
type subError struct {
	// Status is the SIP status, 0 when nobody answered.
	Status int
	// Msg is the problem in plain words.
	Msg string
	// Permanent marks answers a retry does not fix (forbidden, no such
	// user, the event package refused).
	Permanent bool
	// RetryAfter is the Retry-After of the answer, 0 when none.
	RetryAfter time.Duration
}

func (e *subError) Error() string { return e.Msg }

// classifySubscribe turns a final SUBSCRIBE response into a subError;
// authTried says credentials were already sent.
func classifySubscribe(res *sip.Response, authTried bool) *subError {
	line := strconv.Itoa(res.StatusCode) + " " + res.Reason
	e := &subError{Status: res.StatusCode, Msg: line}
	if h := res.GetHeader("Retry-After"); h != nil {
		v, _, _ := strings.Cut(h.Value(), ";")
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			e.RetryAfter = time.Duration(min(n, maxSubSeconds)) * time.Second
		}
	}
	switch res.StatusCode {
	case sip.StatusUnauthorized, sip.StatusProxyAuthRequired:
		e.Permanent = true
		if authTried {
			e.Msg += ": wrong user name or password"
		} else {
			e.Msg += ": no digest challenge to answer"
		}
	case sip.StatusForbidden:
		e.Msg, e.Permanent = line+": the notifier refuses to show this line", true
	case sip.StatusNotFound, 604:
		e.Msg, e.Permanent = line+": no such user to watch", true
	case 489:
		e.Msg, e.Permanent = line+": the server does not offer the dialog event package", true
	case sip.StatusMethodNotAllowed, sip.StatusNotImplemented:
		e.Msg, e.Permanent = line+": the server takes no SUBSCRIBE", true
	}
	return e
}

// subRefreshDelay is when to refresh a subscription granted for d: at a
// random point between 80 % and 90 % of it, and no later than 30 s
// before it ends when it is long enough for that (RFC 6665 section
// 4.1.2.2 asks for the refresh before expiry; the spread keeps many lamps
// from refreshing in step).
func subRefreshDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	r := d*8/10 + time.Duration(rand.Int64N(int64(d/10)+1)) //nolint:gosec // jitter; math/rand/v2 is ChaCha8 seeded by the runtime
	if d >= 2*time.Minute && r > d-30*time.Second {
		r = d - 30*time.Second
	}
	return max(r, 500*time.Millisecond)
}

// run keeps the subscription alive until ctx ends, then un-SUBSCRIBEs.
// due is when the next SUBSCRIBE goes out (a refresh when refresh is
// set, else a new subscription); notifyBy, when set, is when the first
// NOTIFY of a new one must have come.
func (s *subscription) run(ctx context.Context) {
	b := s.a.b
	s.publish(monitor.DeviceUnknown, nil)
	attempt := 0
	refresh := false
	due := time.Now()
	var notifyBy time.Time
	backoff := func() time.Duration {
		d := monitor.Backoff(b.cfg.RetryMin, b.cfg.RetryMax, attempt)
		attempt++
		return d
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		at := due
		if !notifyBy.IsZero() && notifyBy.Before(at) {
			at = notifyBy
		}
		timer.Reset(max(time.Until(at), 0))
		select {
		case <-ctx.Done():
			s.unsubscribe()
			return
		case <-s.wake:
			timer.Stop()
			next, ok := s.news()
			if !ok {
				continue
			}
			switch next.action {
			case subGiveUp:
				refresh, notifyBy = false, time.Time{}
				due = time.Now().Add(giveUpWait)
			case subNew:
				refresh, notifyBy = false, time.Time{}
				if next.wait < 0 {
					next.wait = backoff()
				}
				due = time.Now().Add(next.wait)
			case subRefresh:
				if at := time.Now().Add(next.wait); refresh && at.Before(due) {
					due = at
				}
			}
			s.planned(due)
			continue
		case <-timer.C:
		}
		now := time.Now()
		if !notifyBy.IsZero() && !now.Before(notifyBy) {
			notifyBy = time.Time{}
			s.mu.Lock()
			got := s.notified
			s.mu.Unlock()
			if !got {
				s.dropDialog()
				s.fail(false, "no NOTIFY came after the notifier accepted the subscription")
				refresh, due = false, now.Add(backoff())
				s.planned(due)
				continue
			}
		}
		if now.Before(due) {
			continue
		}
		granted, err := s.subscribe(ctx, refresh)
		if ctx.Err() != nil {
			s.unsubscribe()
			return
		}
		var se *subError
		switch {
		case err == nil:
			if !refresh {
				s.mu.Lock()
				if !s.notified {
					notifyBy = time.Now().Add(notifyWait)
				}
				s.mu.Unlock()
			}
			attempt, refresh = 0, true
			due = time.Now().Add(subRefreshDelay(granted))
		case errors.As(err, &se) && se.Status == sip.StatusIntervalToBrief && attempt < 2:
			// s.expires was raised to Min-Expires: ask again at once.
			attempt++
			due = time.Now()
		case refresh && errors.As(err, &se) && se.Status == sip.StatusCallTransactionDoesNotExists:
			// The notifier forgot the subscription (restarted, timed it
			// out): a new one at once (RFC 6665 section 4.1.2.2).
			b.log.Info("sip blf subscription lost, subscribing again", "account", s.a.cfg.Name, "target", s.status.Target, "err", err)
			s.dropDialog()
			refresh, notifyBy, due = false, time.Time{}, time.Now()
		default:
			permanent := errors.As(err, &se) && se.Permanent
			s.dropDialog()
			s.fail(permanent, err.Error())
			refresh, notifyBy = false, time.Time{}
			wait := backoff()
			if permanent {
				wait = max(wait, b.cfg.RetryMax)
			}
			if se != nil && se.RetryAfter > wait {
				wait = se.RetryAfter
			}
			due = time.Now().Add(wait)
		}
		s.planned(due)
	}
}

// giveUpWait is "never" for a subscription the notifier refused: only
// the account registering anew wakes it.
const giveUpWait = 100 * 365 * 24 * time.Hour

// subPlan is what the loop does next, from the news.
type subPlan struct {
	action subAction
	// wait before it; -1 means the backoff.
	wait time.Duration
}

type subAction int

const (
	subRefresh subAction = iota
	subNew
	subGiveUp
)

// news reads what the handler and the account left for the loop, and
// says what to do next; false when nothing changes the plan.
func (s *subscription) news() (subPlan, bool) {
	s.mu.Lock()
	term, refreshNow, rereg, shorter := s.terminated, s.refreshNow, s.reregister, s.shorter
	s.terminated, s.refreshNow, s.reregister, s.shorter = nil, false, false, false
	left := time.Until(s.expiresAt)
	s.mu.Unlock()
	log := s.a.b.log
	switch {
	case rereg:
		// The account lost its registration and has it again: the
		// registrar (often the notifier too) may have restarted.
		log.Info("sip blf subscribing anew after re-registration", "account", s.a.cfg.Name, "target", s.status.Target)
		s.dropDialog()
		return subPlan{action: subNew}, true
	case term != nil:
		return s.afterTerminated(*term), true
	case refreshNow:
		return subPlan{action: subRefresh}, true
	case shorter:
		// The notifier cut the lifetime short: refresh before its end.
		return subPlan{action: subRefresh, wait: subRefreshDelay(left)}, true
	}
	return subPlan{}, false
}

// afterTerminated decides on a subscription the notifier ended (RFC 6665
// section 4.1.3 and its reasons, section 4.2.2).
func (s *subscription) afterTerminated(st subState) subPlan {
	s.dropDialog()
	retry := time.Duration(-1)
	if st.RetryAfter >= 0 {
		retry = time.Duration(st.RetryAfter) * time.Second
	}
	why := "the notifier ended the subscription"
	if st.Reason != "" {
		why += " (" + st.Reason + ")"
	}
	switch st.Reason {
	case "deactivated", "timeout":
		// Subscribe again at once.
		s.a.b.log.Info("sip blf subscription ended, subscribing again", "account", s.a.cfg.Name, "target", s.status.Target, "reason", st.Reason)
		s.setStatus(monitor.SubscriptionSubscribing, "")
		return subPlan{action: subNew, wait: max(retry, 0)}
	case "rejected", "noresource", "invariant":
		s.fail(true, why+": not tried again until the account registers anew")
		return subPlan{action: subGiveUp}
	}
	// probation, giveup, none or unknown: later, after retry-after if
	// given, else the backoff.
	s.fail(false, why)
	return subPlan{action: subNew, wait: retry}
}

// planned notes when the loop acts next (for the log).
func (s *subscription) planned(due time.Time) {
	s.a.b.log.Debug("sip blf next subscribe", "account", s.a.cfg.Name, "target", s.status.Target, "in", time.Until(due).Round(time.Millisecond))
}

// dropDialog forgets the subscription's dialog: the next SUBSCRIBE makes
// a new one.
func (s *subscription) dropDialog() {
	s.mu.Lock()
	s.dialogUp = false
	s.mu.Unlock()
}

// subscribe sends one SUBSCRIBE: a refresh inside the dialog, else a new
// dialog (new Call-ID and tag, versions counted anew). Challenges are
// answered once. It returns the granted lifetime.
func (s *subscription) subscribe(ctx context.Context, refresh bool) (time.Duration, error) {
	s.mu.Lock()
	if !refresh || !s.dialogUp {
		refresh = false
		s.newDialogLocked()
	}
	expires := s.expires
	s.mu.Unlock()
	if !refresh {
		s.setStatus(monitor.SubscriptionSubscribing, "")
	}
	sent := time.Now()
	res, err := s.send(ctx, expires)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == sip.StatusIntervalToBrief {
		if v, ok := minExpires(res); ok {
			s.mu.Lock()
			s.expires = v
			s.mu.Unlock()
		}
		return 0, classifySubscribe(res, false)
	}
	if !res.IsSuccess() {
		return 0, classifySubscribe(res, false)
	}
	granted := expires
	if h := res.GetHeader("Expires"); h != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && v >= 0 {
			granted = min(v, maxSubSeconds)
		}
	}
	d := time.Duration(granted) * time.Second
	s.mu.Lock()
	if !s.dialogUp {
		// The 2xx makes the dialog unless a NOTIFY already did (RFC 6665
		// section 4.1.2.4); the route set of a UAC's dialog is the
		// Record-Route of the response, reversed (RFC 3261 section
		// 12.1.2).
		s.remoteTag = toTag(res.To())
		if ct := res.Contact(); ct != nil {
			s.remoteTgt, s.hasTarget = *ct.Address.Clone(), true
		}
		s.routes = s.routes[:0]
		for _, h := range res.GetHeaders("Record-Route") {
			if rr, ok := h.(*sip.RecordRouteHeader); ok {
				s.routes = append(s.routes, *rr.Address.Clone())
			}
		}
		slices.Reverse(s.routes)
		s.dialogUp = true
	}
	at := time.Now().Add(d)
	if s.notifyAt.After(sent) && !s.notifyEnds.IsZero() && s.notifyEnds.Before(at) {
		// A NOTIFY that overtook this 2xx already gave a shorter
		// lifetime: it is the later word.
		at = s.notifyEnds
		d = max(time.Until(at), 0)
	}
	s.expiresAt = at
	s.acceptedAt = time.Now()
	s.mu.Unlock()
	s.setStatusIf(monitor.SubscriptionPending, "", func() bool { return !s.notified })
	if granted == 0 {
		// A notifier that grants nothing ended the subscription with its
		// answer: the next attempt is a new one.
		s.dropDialog()
		return time.Second, nil
	}
	return d, nil
}

// newDialogLocked starts a new subscription dialog; s.mu held.
func (s *subscription) newDialogLocked() {
	b := s.a.b
	if s.callID != "" {
		b.forgetSub(s.callID, s)
	}
	s.callID = sip.GenerateTagN(24)
	s.localTag = sip.GenerateTagN(16)
	s.remoteTag, s.remoteCSeq, s.hasTarget, s.routes = "", 0, false, nil
	s.cseq, s.dialogUp, s.notified = 0, false, false
	s.dialogs.reset()
	s.expiresAt = time.Time{}
	b.addSub(s.callID, s)
}

// newSubscribe builds a SUBSCRIBE for the current dialog; s.mu held.
func (s *subscription) newSubscribeLocked(expires int) *sip.Request {
	a := s.a
	recipient := s.uri
	if s.dialogUp && s.hasTarget {
		recipient = s.remoteTgt
	}
	req := sip.NewRequest(sip.SUBSCRIBE, *recipient.Clone())
	from := &sip.FromHeader{Address: a.aor(), Params: sip.NewParams()}
	from.Params.Add("tag", s.localTag)
	to := &sip.ToHeader{Address: *s.uri.Clone(), Params: sip.NewParams()}
	if s.dialogUp && s.remoteTag != "" {
		to.Params.Add("tag", s.remoteTag)
	}
	callID := sip.CallIDHeader(s.callID)
	s.cseq++
	cseq := &sip.CSeqHeader{SeqNo: s.cseq, MethodName: sip.SUBSCRIBE}
	contact := a.b.sip.contact(a.cfg.Username, a.transport)
	exp := sip.ExpiresHeader(expires)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	if s.dialogUp {
		for _, r := range s.routes {
			req.AppendHeader(&sip.RouteHeader{Address: *r.Clone()})
		}
	}
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Event", dialogEvent))
	req.AppendHeader(sip.NewHeader("Accept", dialogInfoType))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", a.b.cfg.UserAgent))
	req.SetTransport(strings.ToUpper(a.transport))
	switch {
	case s.dialogUp && len(s.routes) > 0:
		// sipgo sends to the first Route.
	case s.dialogUp && s.hasTarget && a.cfg.OutboundProxy == "":
		req.SetDestination(hostPort(s.remoteTgt, a.transport))
	default:
		req.SetDestination(a.blfHop())
	}
	return req
}

// hostPort is u's host:port, the transport's default port when u has
// none.
func hostPort(u sip.Uri, transport string) string {
	p := u.Port
	if p == 0 {
		p = sip.DefaultPort(strings.ToUpper(transport))
	}
	return strings.Trim(u.Host, "[]") + ":" + strconv.Itoa(p)
}

// send does one SUBSCRIBE exchange for expires seconds, answering a
// 401/407 challenge once, and returns the final response.
func (s *subscription) send(ctx context.Context, expires int) (*sip.Response, error) {
	a := s.a
	st := a.b.sip
	if st == nil {
		return nil, &subError{Msg: "sip stack not running"}
	}
	ctx, cancel := context.WithTimeout(ctx, a.b.cfg.RegisterTimeout)
	defer cancel()
	s.mu.Lock()
	req := s.newSubscribeLocked(expires)
	s.mu.Unlock()
	cl := st.client(a.transport)
	res, err := cl.Do(ctx, req)
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
		res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: a.authUser(), Password: a.password})
		if cs := req.CSeq(); cs != nil {
			s.mu.Lock()
			s.cseq = max(s.cseq, cs.SeqNo)
			s.mu.Unlock()
		}
		if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
			return nil, classifySubscribe(res, true)
		}
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &subError{Msg: "no answer to SUBSCRIBE from " + req.Destination()}
		}
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, &subError{Msg: fmt.Sprintf("cannot send SUBSCRIBE to %s: %v", req.Destination(), err)}
	}
	return res, nil
}

// unsubscribe ends a live subscription (SUBSCRIBE with Expires: 0, RFC
// 6665 section 4.1.2.3) on a context of its own, bounded, and removes the
// lamp.
func (s *subscription) unsubscribe() {
	s.mu.Lock()
	up := s.dialogUp
	s.mu.Unlock()
	if up {
		s.mu.Lock()
		s.terminated, s.finalAnswered = nil, false
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(s.a.b.forceCtx, unsubscribeWait)
		res, err := s.send(ctx, 0)
		switch {
		case err != nil:
			s.a.b.log.Info("sip blf unsubscribe failed", "account", s.a.cfg.Name, "target", s.status.Target, "err", err)
		case !res.IsSuccess():
			s.a.b.log.Debug("sip blf unsubscribe refused", "account", s.a.cfg.Name, "target", s.status.Target, "status", res.StatusCode)
		default:
			s.awaitFinal(ctx)
		}
		cancel()
		s.dropDialog()
	}
	s.setStatus(monitor.SubscriptionStopped, "")
	s.a.blf.Remove(s.key)
}

// finalNotifyWait bounds waiting for the notifier's last NOTIFY after
// an un-SUBSCRIBE was accepted.
const finalNotifyWait = time.Second

// awaitFinal waits a little for the NOTIFY that ends the subscription
// after an un-SUBSCRIBE (RFC 6665 section 4.1.2.3) to be answered, so
// that the stack is still there to send the 200: waiting only for the
// NOTIFY to be read let a stopping bridge close its transport between
// the two.
func (s *subscription) awaitFinal(ctx context.Context) {
	t := time.NewTimer(finalNotifyWait)
	defer t.Stop()
	for {
		s.mu.Lock()
		done := s.finalAnswered
		s.mu.Unlock()
		if done {
			return
		}
		select {
		case <-s.wake:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// fail marks the subscription retrying (or failed when permanent) with
// why, and its lamp unknown.
func (s *subscription) fail(permanent bool, why string) {
	state := monitor.SubscriptionRetrying
	if permanent {
		state = monitor.SubscriptionFailed
	}
	s.setStatus(state, why)
	s.publish(monitor.DeviceUnknown, nil)
}

// setStatus changes the subscription's status and republishes the
// account's.
func (s *subscription) setStatus(state monitor.SubscriptionState, msg string) {
	s.setStatusIf(state, msg, nil)
}

// setStatusIf is setStatus when ok (nil: always), asked under s.mu: a
// word decided earlier must not overwrite one that came meanwhile (the
// 2xx of a SUBSCRIBE says pending only while no NOTIFY has come, and
// the first NOTIFY's active may arrive between the two).
func (s *subscription) setStatusIf(state monitor.SubscriptionState, msg string, ok func() bool) {
	s.mu.Lock()
	if (ok != nil && !ok()) || (s.status.State == state && s.status.Error == msg) {
		s.mu.Unlock()
		return
	}
	s.status.State, s.status.Error, s.status.Since = state, msg, time.Now()
	s.mu.Unlock()
	switch state {
	case monitor.SubscriptionFailed, monitor.SubscriptionRetrying:
		s.a.b.log.Info("sip blf subscription", "account", s.a.cfg.Name, "target", s.status.Target, "state", state, "error", msg)
	default:
		s.a.b.log.Debug("sip blf subscription", "account", s.a.cfg.Name, "target", s.status.Target, "state", state)
	}
	if s.a.b.sink != nil {
		s.a.b.sink.SourceStatus(s.a.status())
	}
}

// dialogCallID returns the Call-ID of the current subscription dialog.
func (s *subscription) dialogCallID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callID
}

// subStatus returns the subscription's status.
func (s *subscription) subStatus() monitor.SubscriptionStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// publish shows the lamp: state with the other parties of its calls.
func (s *subscription) publish(state monitor.DeviceState, peers []monitor.Party) {
	s.a.blf.Update(s.key, time.Time{}, func(e *monitor.Extension) {
		e.Number, e.Device, e.State, e.Peers = s.number, s.status.Target, state, peers
		e.Name, e.Group = s.target.Name, s.target.Group
	})
}

// poke wakes the loop.
func (s *subscription) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// registeredAnew tells the subscription that its account lost its
// registration and has it again.
func (s *subscription) registeredAnew() {
	s.mu.Lock()
	s.reregister = true
	s.mu.Unlock()
	s.poke()
}

// notify takes a NOTIFY of this subscription's dialog (RFC 6665 section
// 4.1.3) and returns the status to answer: 481 when it belongs to no
// dialog of ours, 400 without a valid Subscription-State, else 200 —
// also for a body it cannot read, which is logged and leaves the lamp as
// it was.
func (s *subscription) notify(req *sip.Request) (int, string) {
	log := s.a.b.log
	ss := req.GetHeader("Subscription-State")
	if ss == nil {
		return sip.StatusBadRequest, "Missing Subscription-State"
	}
	st, err := parseSubscriptionState(ss.Value())
	if err != nil {
		s.a.b.counters.ParseErrors.Add(1)
		log.Info("sip blf notify not understood", "account", s.a.cfg.Name, "target", s.status.Target, "err", err)
		return sip.StatusBadRequest, "Bad Subscription-State"
	}
	var cseq uint32
	if cs := req.CSeq(); cs != nil {
		cseq = cs.SeqNo
	}
	s.mu.Lock()
	if toTag(req.To()) != s.localTag || req.CallID().Value() != s.callID {
		s.mu.Unlock()
		log.Debug("sip blf notify of another dialog", "account", s.a.cfg.Name, "target", s.status.Target, "to", req.To().Value())
		return sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist"
	}
	ft := fromTag(req.From())
	switch {
	case !s.dialogUp && !s.notified:
		// The NOTIFY came before the 2xx and makes the dialog (RFC 6665
		// section 4.1.2.4); as its UAS, the route set is its
		// Record-Route in order (RFC 3261 section 12.1.1).
		s.remoteTag = ft
		s.routes = s.routes[:0]
		for _, h := range req.GetHeaders("Record-Route") {
			if rr, ok := h.(*sip.RecordRouteHeader); ok {
				s.routes = append(s.routes, *rr.Address.Clone())
			}
		}
		s.dialogUp = true
	case s.remoteTag != ft:
		// A second dialog of a forked SUBSCRIBE, or a stale one: only the
		// first is kept.
		s.mu.Unlock()
		log.Debug("sip blf notify of a second dialog", "account", s.a.cfg.Name, "target", s.status.Target, "from", req.From().Value(), "dialog", s.remoteTag)
		return sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist"
	case cseq != 0 && cseq < s.remoteCSeq:
		s.mu.Unlock()
		return sip.StatusInternalServerError, "CSeq Out Of Order"
	}
	s.remoteCSeq = cseq
	if ct := req.Contact(); ct != nil {
		// A NOTIFY may move the remote target (RFC 6665 section 4.1.3).
		s.remoteTgt, s.hasTarget = *ct.Address.Clone(), true
	}
	s.notified = true
	log.Debug("sip blf notify", "account", s.a.cfg.Name, "target", s.status.Target, "state", ss.Value(), "body", string(req.Body()[:min(len(req.Body()), 2048)]))
	var state monitor.DeviceState
	var peers []monitor.Party
	changed := false
	body := req.Body()
	switch {
	case st.State == subTerminated:
		s.terminated = &st
		s.dialogUp = false
	case len(body) == 0 && st.State == subActive:
		// An active subscription without a document: the entity is in no
		// dialog (kamailio's presence_dialoginfo sends no body then).
		s.dialogs.reset()
		s.dialogs.known = false
		state, changed = monitor.DeviceIdle, true
	case len(body) > 0:
		di, err := parseDialogInfo(body)
		if err != nil {
			s.a.b.counters.ParseErrors.Add(1)
			log.Info("sip blf notify body not understood", "account", s.a.cfg.Name, "target", s.status.Target, "err", err)
			break
		}
		applied, err := s.dialogs.apply(di)
		switch {
		case errors.Is(err, errVersionGap):
			// A document was lost: a refresh brings the full state.
			s.refreshNow = true
		case applied:
			state, peers = s.dialogs.deviceState()
			changed = true
		}
	}
	if st.State != subTerminated && st.Expires >= 0 {
		at := time.Now().Add(time.Duration(st.Expires) * time.Second)
		s.notifyAt, s.notifyEnds = time.Now(), at
		if s.expiresAt.IsZero() || at.Before(s.expiresAt.Add(-time.Second)) {
			s.expiresAt = at
			s.shorter = true
		}
	}
	wake := s.terminated != nil || s.refreshNow || s.shorter
	s.mu.Unlock()
	switch st.State {
	case subActive:
		s.setStatus(monitor.SubscriptionActive, "")
	case subPending:
		s.setStatus(monitor.SubscriptionPending, "")
	}
	if changed && st.State != subTerminated {
		s.publish(state, peers)
	}
	if wake {
		s.poke()
	}
	return sip.StatusOK, "OK"
}

// addSub, forgetSub and lookupSub keep the subscriptions by Call-ID, for
// the NOTIFY handler.
func (b *Bridge) addSub(callID string, s *subscription) {
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	b.subs[callID] = s
}

func (b *Bridge) forgetSub(callID string, s *subscription) {
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	if b.subs[callID] == s {
		delete(b.subs, callID)
	}
}

func (b *Bridge) lookupSub(callID string) *subscription {
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	return b.subs[callID]
}

// onDialogNotify answers a NOTIFY of the dialog event package: 481 when
// no subscription of ours has its Call-ID (RFC 6665 section 4.1.3).
func (b *Bridge) onDialogNotify(req *sip.Request, tx sip.ServerTransaction) {
	s := b.lookupSub(req.CallID().Value())
	if s == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	code, reason := s.notify(req)
	respond(tx, req, code, reason)
	s.mu.Lock()
	final := code == sip.StatusOK && s.terminated != nil
	s.finalAnswered = s.finalAnswered || final
	s.mu.Unlock()
	if final {
		s.poke()
	}
}
