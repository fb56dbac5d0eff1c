package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// statusFirstHopLacksOutbound is 439 First Hop Lacks Outbound Support
// (RFC 5626 section 11.5).
const statusFirstHopLacksOutbound = 439

// regError is a REGISTER that got a final non-2xx answer or none.
type regError struct {
	// Status is the SIP status, 0 when the registrar did not answer.
	Status int
	// Msg is the problem in plain words for the page.
	Msg string
	// Permanent marks answers that retrying will not fix without a
	// configuration change (wrong password, forbidden, unknown user): the
	// state is failed, not retrying. The loop still retries, slowly.
	Permanent bool
}

func (e *regError) Error() string { return e.Msg }

// classifyRegister turns a final REGISTER response into a regError;
// authTried says credentials were already sent.
func classifyRegister(res *sip.Response, authTried bool) *regError {
	line := strconv.Itoa(res.StatusCode) + " " + res.Reason
	switch res.StatusCode {
	case sip.StatusUnauthorized, sip.StatusProxyAuthRequired:
		if authTried {
			return &regError{Status: res.StatusCode, Msg: line + ": wrong user name or password", Permanent: true}
		}
		return &regError{Status: res.StatusCode, Msg: line + ": no digest challenge to answer", Permanent: true}
	case sip.StatusForbidden:
		return &regError{Status: res.StatusCode, Msg: line + ": the registrar refuses this account", Permanent: true}
	case sip.StatusNotFound:
		return &regError{Status: res.StatusCode, Msg: line + ": unknown user at this registrar", Permanent: true}
	}
	return &regError{Status: res.StatusCode, Msg: line, Permanent: res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != 408 && res.StatusCode != 423}
}

// refreshDelay is when to refresh a registration granted for d: at a
// random point between 50% and 80% of it (RFC 3261 section 10.2.4 asks
// for a refresh before expiry; the spread keeps many accounts from
// refreshing in step), and never later than 5 s before expiry.
func refreshDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Second
	}
	r := d/2 + time.Duration(rand.Int64N(int64(d*3/10)+1)) //nolint:gosec // jitter; math/rand/v2 is ChaCha8 seeded by the runtime
	if d > 10*time.Second && r > d-5*time.Second {
		r = d - 5*time.Second
	}
	return max(r, 500*time.Millisecond)
}

// minExpires reads Min-Expires from a 423 Interval Too Brief (RFC 3261
// section 10.3 step 7).
func minExpires(res *sip.Response) (int, bool) {
	h := res.GetHeader("Min-Expires")
	if h == nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// grantedExpires is the lifetime the registrar granted our contact: the
// expires parameter of our Contact in the 200, else its Expires header,
// else what we asked (RFC 3261 section 10.2.4).
func grantedExpires(res *sip.Response, ours sip.ContactHeader, asked int) int {
	var first string
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		v, ok := c.Params.Get("expires")
		if !ok {
			continue
		}
		if first == "" {
			first = v
		}
		if same, known := sameInstance(c, ours); known {
			if same {
				first = v
				break
			}
			// Another node's binding, maybe from the same address.
			continue
		}
		if strings.EqualFold(c.Address.Host, ours.Address.Host) && c.Address.Port == ours.Address.Port && c.Address.User == ours.Address.User {
			first = v
			break
		}
	}
	if first == "" {
		if h := res.GetHeader("Expires"); h != nil {
			first = strings.TrimSpace(h.Value())
		}
	}
	if v, err := strconv.Atoi(first); err == nil && v > 0 {
		return v
	}
	return asked
}

// sameInstance reports whether the registrar's Contact c carries the
// +sip.instance of ours; known is false when either has none. With
// instance ids, the other nodes' bindings may share our host and user.
func sameInstance(c *sip.ContactHeader, ours sip.ContactHeader) (same, known bool) {
	inst, ok := ours.Params.Get("+sip.instance")
	if !ok {
		return false, false
	}
	theirs, ok := c.Params.Get("+sip.instance")
	if !ok {
		return false, false
	}
	return strings.EqualFold(strings.Trim(theirs, `"<>`), strings.Trim(inst, `"<>`)), true
}

// newRegister builds a REGISTER for expires seconds. Expires 0 removes
// only our own binding (the same Contact, and with an instance id the same
// +sip.instance and reg-id, RFC 5626 section 6): never "Contact: *", which
// would take the other nodes' bindings of the account with it.
func (a *account) newRegister(expires int) (*sip.Request, sip.ContactHeader) {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: a.cfg.Domain})
	aor := a.aor()
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: aor}
	callID := sip.CallIDHeader(a.regCallID)
	cseq := &sip.CSeqHeader{SeqNo: a.cseq.Add(1), MethodName: sip.REGISTER}
	contact := registerContact(a.b.sip.contact(a.cfg.Username, a.transport), a.b.cfg.InstanceID, !a.noRegID.Load())
	exp := sip.ExpiresHeader(expires)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(cseq)
	req.AppendHeader(&contact)
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", a.b.cfg.UserAgent))
	if a.b.cfg.InstanceID != "" && !a.noRegID.Load() {
		// RFC 5626 section 4.2.1: a Contact with reg-id goes with the
		// outbound option tag.
		req.AppendHeader(sip.NewHeader("Supported", "outbound"))
	}
	req.SetTransport(strings.ToUpper(a.transport))
	req.SetDestination(a.nextHop())
	return req, contact
}

// register does one REGISTER exchange, answering a 401/407 challenge
// once, and returns the granted lifetime.
func (a *account) register(ctx context.Context, expires int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, a.b.cfg.RegisterTimeout)
	defer cancel()
	req, contact := a.newRegister(expires)
	cl := a.b.sip.client(a.transport)
	res, err := cl.Do(ctx, req)
	authTried := false
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
		authTried = true
		res, err = cl.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: a.authUser(), Password: a.password})
		if cs := req.CSeq(); cs != nil {
			a.cseq.Store(cs.SeqNo)
		}
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, &regError{Msg: "no answer from registrar " + a.nextHop()}
		}
		if errors.Is(err, context.Canceled) {
			return 0, err
		}
		return 0, &regError{Msg: fmt.Sprintf("cannot reach registrar %s: %v", a.nextHop(), err)}
	}
	if res.StatusCode == sip.StatusIntervalToBrief {
		re := classifyRegister(res, authTried)
		if v, ok := minExpires(res); ok {
			a.mu.Lock()
			a.expires = v
			a.mu.Unlock()
			re.Msg += " (registering again for " + strconv.Itoa(v) + " s)"
		}
		return 0, re
	}
	if res.StatusCode == statusFirstHopLacksOutbound && a.b.cfg.InstanceID != "" && !a.noRegID.Load() {
		// The registrar does outbound but a proxy before it does not
		// (RFC 5626 section 6): register with the instance alone, which
		// still keeps this node's binding apart from the others'.
		a.noRegID.Store(true)
		a.b.log.Info("sip registrar refused reg-id, registering with the instance id alone", "account", a.cfg.Name, "status", res.StatusCode)
		return 0, &regError{Status: res.StatusCode, Msg: strconv.Itoa(res.StatusCode) + " " + res.Reason + " (registering again without reg-id)"}
	}
	if !res.IsSuccess() {
		return 0, classifyRegister(res, authTried)
	}
	if expires == 0 {
		return 0, nil
	}
	return time.Duration(grantedExpires(res, contact, expires)) * time.Second, nil
}

// runRegistration keeps the account registered until ctx ends, then
// removes the binding. Failures are retried with capped backoff and
// jitter; a refresh that fails (registrar restarted or gone) drops the
// state to retrying until a REGISTER succeeds again.
func (a *account) runRegistration(ctx context.Context) {
	attempt := 0
	everRegistered := false
	for ctx.Err() == nil {
		a.mu.Lock()
		expires := a.expires
		a.mu.Unlock()
		// The registrar may have moved: its name (and the other trusted
		// names) are looked up again at every registration.
		if err := a.trust.resolve(ctx, net.DefaultResolver); err != nil {
			a.b.log.Info("sip trusted sources", "account", a.cfg.Name, "err", err)
		}
		granted, err := a.register(ctx, expires)
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		var re *regError
		switch {
		case err == nil:
			attempt, everRegistered = 0, true
			a.setState(monitor.LinkRegistered, "")
			wait = refreshDelay(granted)
		case errors.As(err, &re) && (re.Status == sip.StatusIntervalToBrief || re.Status == statusFirstHopLacksOutbound) && attempt < 2:
			// Honour Min-Expires at once (RFC 3261 section 10.2.8), or
			// register again without reg-id after a 439.
			attempt++
			continue
		default:
			state := monitor.LinkRetrying
			if errors.As(err, &re) && re.Permanent {
				state = monitor.LinkFailed
			}
			a.setState(state, err.Error())
			a.b.counters.Reconnects.Add(1)
			wait = monitor.Backoff(a.b.cfg.RetryMin, a.b.cfg.RetryMax, attempt)
			attempt++
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if everRegistered {
		// Un-REGISTER (Expires: 0, RFC 3261 section 10.2.2) on a context
		// of its own: ctx is already done. A forced shutdown cuts it short.
		uctx, cancel := context.WithTimeout(a.b.forceCtx, 3*time.Second)
		if _, err := a.register(uctx, 0); err != nil {
			a.b.log.Info("sip unregister failed", "account", a.cfg.Name, "err", err)
		}
		cancel()
	}
	a.setState(monitor.LinkStopped, "")
}
