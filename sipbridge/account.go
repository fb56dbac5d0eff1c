package sipbridge

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// account is one configured SIP account: its registration state and its
// calls' tracker.
type account struct {
	b       *Bridge
	cfg     AccountConfig
	tracker *monitor.Tracker
	lamp    *lamp // the account as an extension (lamp.go)
	// blf keeps the busy lamps the account watches (subscription.go).
	blf       *monitor.ExtensionTracker
	subs      []*subscription
	transport string // udp, tcp, tls
	// noRegID is set once the registrar refused reg-id (439): the
	// instance id then goes alone on this account's REGISTERs.
	noRegID  atomic.Bool
	host     string // registrar host (the AOR domain unless Domain is set)
	port     int
	password string

	// regCallID and cseq stay the same across all REGISTERs of this
	// account (RFC 3261 section 10.2: same Call-ID, CSeq increasing).
	regCallID string
	cseq      atomic.Uint32

	// trust is where the account takes requests from (trust.go).
	trust *trustSet
	// ringingCalls counts its incoming calls that ring now, unanswered.
	ringingCalls atomic.Int32

	mu         sync.Mutex
	st         monitor.SourceStatus
	registered bool
	// expires is what the next REGISTER asks for (raised by 423).
	expires int
}

func newAccount(b *Bridge, cfg AccountConfig) (*account, error) {
	transport, host, port, err := cfg.registrarTarget()
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", cfg.Name, err)
	}
	pw, err := cfg.secret()
	if err != nil {
		return nil, err
	}
	a := &account{
		b: b, cfg: cfg, transport: transport, host: host, port: port, password: pw,
		regCallID: sip.GenerateTagN(24),
		expires:   cfg.Expires,
	}
	own, err := parseSources(cfg.TrustedSIPSources)
	if err != nil {
		return nil, fmt.Errorf("account %s: %w", cfg.Name, err)
	}
	global, err := parseSources(b.cfg.TrustedSIPSources)
	if err != nil {
		return nil, err
	}
	proxyHost := ""
	if cfg.OutboundProxy != "" {
		proxyHost, _, _ = splitHostPortDefault(cfg.OutboundProxy, 5060)
	}
	a.trust = newTrustSet(host, proxyHost, own, global)
	a.lamp = newLamp(b.sink, cfg, "sip:"+cfg.Username+"@"+cfg.Domain)
	a.tracker = monitor.NewTracker(monitor.SourceName(cfg.Name), a.lamp)
	a.blf = monitor.NewExtensionTracker(monitor.SourceName(cfg.Name), b.sink)
	for _, t := range cfg.BLF {
		s, err := newSubscription(a, t)
		if err != nil {
			return nil, err
		}
		a.subs = append(a.subs, s)
	}
	a.cseq.Store(1)
	a.st = monitor.SourceStatus{
		Name:    monitor.SourceName(cfg.Name),
		Type:    "sip",
		State:   monitor.LinkRegistering,
		Address: a.registrarAddr(),
		Since:   time.Now(),
	}
	return a, nil
}

// takeRinging counts one more incoming call ringing; false when the
// account has MaxRingingCalls ringing already. Give it back with
// doneRinging.
func (a *account) takeRinging() bool {
	if a.ringingCalls.Add(1) > int32(a.cfg.MaxRingingCalls) {
		a.ringingCalls.Add(-1)
		return false
	}
	return true
}

// doneRinging ends what takeRinging counted.
func (a *account) doneRinging() { a.ringingCalls.Add(-1) }

// registrarAddr is host:port of the registrar.
func (a *account) registrarAddr() string { return net.JoinHostPort(a.host, strconv.Itoa(a.port)) }

// nextHop is where requests are sent: the outbound proxy, else the
// registrar.
func (a *account) nextHop() string {
	if a.cfg.OutboundProxy != "" {
		if h, p, err := splitHostPortDefault(a.cfg.OutboundProxy, 5060); err == nil {
			return net.JoinHostPort(h, strconv.Itoa(p))
		}
	}
	return a.registrarAddr()
}

// blfHop is where busy-lamp SUBSCRIBEs outside a dialog are sent: the
// BLF server when set, else nextHop.
func (a *account) blfHop() string {
	if a.cfg.BLFServer != "" {
		if h, p, err := splitHostPortDefault(a.cfg.BLFServer, 5060); err == nil {
			return net.JoinHostPort(h, strconv.Itoa(p))
		}
	}
	return a.nextHop()
}

// aor is the account's address of record, sip:user@domain.
func (a *account) aor() sip.Uri {
	return sip.Uri{Scheme: "sip", User: a.cfg.Username, Host: a.cfg.Domain}
}

// authUser is the digest user name.
func (a *account) authUser() string { return a.cfg.AuthUser }

// status returns the current registration status, with the busy-lamp
// subscriptions.
func (a *account) status() monitor.SourceStatus {
	a.mu.Lock()
	st := a.st
	a.mu.Unlock()
	st.Subscriptions = a.subStatuses()
	return st
}

// subStatuses returns the subscriptions' statuses, nil when it has none.
func (a *account) subStatuses() []monitor.SubscriptionStatus {
	if len(a.subs) == 0 {
		return nil
	}
	out := make([]monitor.SubscriptionStatus, 0, len(a.subs))
	for _, s := range a.subs {
		out = append(out, s.subStatus())
	}
	return out
}

// setState publishes a registration state change; msg is the error in
// plain words (kept for failed and retrying).
func (a *account) setState(state monitor.LinkState, msg string) {
	a.mu.Lock()
	if a.st.State == state && a.st.Error == msg {
		a.mu.Unlock()
		return
	}
	lost := a.st.State == monitor.LinkRetrying || a.st.State == monitor.LinkFailed
	a.st.State, a.st.Error, a.st.Since = state, msg, time.Now()
	a.registered = state == monitor.LinkRegistered
	st := a.st
	a.mu.Unlock()
	st.Subscriptions = a.subStatuses()
	if lost && state == monitor.LinkRegistered {
		for _, s := range a.subs {
			s.registeredAnew()
		}
	}
	switch state {
	case monitor.LinkFailed, monitor.LinkRetrying:
		a.b.log.Info("sip registration", "account", a.cfg.Name, "state", state, "error", msg)
	default:
		a.b.log.Debug("sip registration", "account", a.cfg.Name, "state", state)
	}
	if a.b.sink != nil {
		a.b.sink.SourceStatus(st)
	}
	a.lamp.registration(state)
}
