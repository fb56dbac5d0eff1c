package sipbridge

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Who may send this side requests. A SIP user agent registered at a
// registrar is reached through that registrar (or the outbound proxy):
// the registrar is the only party that knows our Contact and routes calls
// to it. An INVITE from any other address is someone who found the port,
// so requests that open something (a new dialog, an out-of-dialog
// OPTIONS, MESSAGE, REFER…) are taken only from the account's registrar
// and outbound proxy and the configured trusted_sip_sources. The others
// are dropped without an answer: no ring, no call on the wallboard, no
// history row, and nothing sent back to an address that may be forged
// (a UDP source is easy to spoof, and an answer would make us a
// reflector) or to a scanner looking for SIP servers. Requests inside a
// dialog of ours (BYE, re-INVITE, NOTIFY, INFO from the far phone, which
// may reach us directly when the proxy does not record-route) are matched
// to their call by Call-ID and passed on; one for no call of ours from an
// untrusted address is dropped too.

// resolveTimeout bounds resolving the host names of one account.
const resolveTimeout = 5 * time.Second

// sourceList is a parsed trusted_sip_sources list: addresses and prefixes
// as they are, host names to resolve.
type sourceList struct {
	prefixes []netip.Prefix
	hosts    []string
}

// parseSources reads trusted_sip_sources entries: an IP address
// ("192.0.2.10", "2001:db8::1", "[2001:db8::1]"), a prefix in CIDR
// notation ("10.0.0.0/8") or a host name ("pbx.example.net"). Requests are
// matched by address only, so an entry with a port is an error: a proxy
// sends over TCP from any port, and many send UDP from a port other than
// the one they listen on.
func parseSources(entries []string) (sourceList, error) {
	var l sourceList
	for _, e := range entries {
		s := strings.TrimSpace(e)
		if s == "" {
			return sourceList{}, fmt.Errorf("trusted_sip_sources: an empty entry")
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return sourceList{}, fmt.Errorf("trusted_sip_sources entry %.64q: not a prefix (want e.g. 10.0.0.0/8)", s)
			}
			l.prefixes = append(l.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
			if a.Zone() != "" {
				return sourceList{}, fmt.Errorf("trusted_sip_sources entry %.64q: an address with a zone", s)
			}
			a = a.Unmap()
			l.prefixes = append(l.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if _, port, err := net.SplitHostPort(s); err == nil && port != "" && strings.Trim(port, "0123456789") == "" {
			return sourceList{}, fmt.Errorf("trusted_sip_sources entry %.64q: give the address without a port (requests are matched by address)", s)
		}
		if !validHostName(s) {
			return sourceList{}, fmt.Errorf("trusted_sip_sources entry %.64q: not an address, a prefix or a host name", s)
		}
		if _, err := netip.ParseAddr(strings.TrimSuffix(s, ".")); err == nil {
			// "192.0.2.1." is no host name (a name's last label is never
			// all digits) and, looked up as one, would match nothing.
			return sourceList{}, fmt.Errorf("trusted_sip_sources entry %.64q: an address with a final dot (write it without the dot)", s)
		}
		l.hosts = append(l.hosts, strings.ToLower(strings.TrimSuffix(s, ".")))
	}
	return l, nil
}

// validHostName reports whether s is a DNS host name (RFC 1123 section
// 2.1: labels of letters, digits and hyphens, not starting or ending with
// a hyphen), with an optional final dot.
func validHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// trustSet is where an account takes requests from: its fixed prefixes
// and the addresses its host names resolved to, last time they resolved.
type trustSet struct {
	fixed []netip.Prefix
	hosts []string

	mu       sync.Mutex
	resolved map[string][]netip.Addr
}

// newTrustSet is the account's set: its registrar and outbound proxy
// hosts, its own trusted_sip_sources and the global ones.
func newTrustSet(registrar, proxy string, lists ...sourceList) *trustSet {
	t := &trustSet{resolved: map[string][]netip.Addr{}}
	add := func(host string) {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" {
			return
		}
		if a, err := netip.ParseAddr(host); err == nil {
			a = a.WithZone("").Unmap()
			t.fixed = append(t.fixed, netip.PrefixFrom(a, a.BitLen()))
			return
		}
		t.hosts = append(t.hosts, strings.ToLower(strings.TrimSuffix(host, ".")))
	}
	add(registrar)
	add(proxy)
	for _, l := range lists {
		t.fixed = append(t.fixed, l.prefixes...)
		for _, h := range l.hosts {
			add(h)
		}
	}
	return t
}

// resolve looks up the host names again. A name that does not resolve
// keeps the addresses it had: a DNS hiccup must not turn the registrar
// away. It returns the first lookup error.
func (t *trustSet) resolve(ctx context.Context, r *net.Resolver) error {
	if len(t.hosts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	var first error
	for _, h := range t.hosts {
		addrs, err := r.LookupNetIP(ctx, "ip", h)
		if err != nil || len(addrs) == 0 {
			if first == nil {
				first = fmt.Errorf("resolve %s: %w", h, err)
			}
			continue
		}
		for i := range addrs {
			addrs[i] = addrs[i].WithZone("").Unmap()
		}
		t.mu.Lock()
		t.resolved[h] = addrs
		t.mu.Unlock()
	}
	return first
}

// trusts reports whether a request from addr may open something.
func (t *trustSet) trusts(addr netip.Addr) bool {
	addr = addr.WithZone("").Unmap()
	for _, p := range t.fixed {
		if p.Contains(addr) {
			return true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, addrs := range t.resolved {
		for _, a := range addrs {
			if a == addr {
				return true
			}
		}
	}
	return false
}

// sourceAddr is the address a request came from: the UDP datagram's or
// the TCP connection's peer, never what its Via says (anyone can write
// that).
func sourceAddr(req *sip.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(req.MessageData.Source())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr(), true
}

// trusted reports whether req comes from a trusted source of a, or of
// any account when a is nil (the request names none of ours).
func (b *Bridge) trusted(req *sip.Request, a *account) bool {
	addr, ok := sourceAddr(req)
	if !ok {
		return false
	}
	if a != nil {
		return a.trust.trusts(addr)
	}
	for _, a := range b.accounts {
		if a.trust.trusts(addr) {
			return true
		}
	}
	return false
}

// guard wraps a request handler: a request that opens something (no To
// tag: outside any dialog) from an untrusted source, or one that names no
// call of ours from such a source, is dropped unanswered.
func (b *Bridge) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		inDialog := false
		if to := req.To(); to != nil && to.Params.Has("tag") {
			inDialog = true
		}
		if inDialog {
			// Inside a call's dialog, or a busy lamp's subscription (its
			// NOTIFYs come from the notifier, which need not be the
			// registrar): the dialog itself vouches for the request.
			if cid := req.CallID(); cid != nil && (b.lookupCall(cid.Value()) != nil || b.lookupSub(cid.Value()) != nil) {
				h(req, tx)
				return
			}
		}
		a := b.accountFor(req)
		if b.trusted(req, a) {
			h(req, tx)
			return
		}
		name := ""
		if a != nil {
			name = a.cfg.Name
		}
		b.metrics.refused(name, refusedStranger)
		b.log.Debug("sip request from an untrusted source dropped", "method", req.Method.String(), "source", clipLog(req.MessageData.Source()), "account", name)
	}
}

// clipLog bounds a value the sender chose in a log line.
func clipLog(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:limit], len(s))
}
