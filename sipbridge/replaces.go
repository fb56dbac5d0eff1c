package sipbridge

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// replaces is the value of a Replaces header (RFC 3891 section 6.1): the
// dialog an INVITE takes over, named by its Call-ID and tags as the
// recipient of the INVITE knows them — to-tag is the recipient's own
// (local) tag, from-tag the tag of the party it talks to.
type replaces struct {
	callID    string
	toTag     string
	fromTag   string
	earlyOnly bool
}

// maxReplaces bounds the header value accepted.
const maxReplaces = 1024

// parseReplaces parses "callid;to-tag=X;from-tag=Y[;early-only]". Both
// tags are required; a parameter given twice, an empty Call-ID or a
// character a Call-ID may not hold fail with ErrBadReplaces. Unknown
// parameters are ignored (RFC 3891 generic-param).
func parseReplaces(s string) (replaces, error) {
	if len(s) > maxReplaces {
		return replaces{}, fmt.Errorf("%w: %d bytes", ErrBadReplaces, len(s))
	}
	parts := strings.Split(s, ";")
	var r replaces
	r.callID = strings.TrimSpace(parts[0])
	if r.callID == "" || !isCallID(r.callID) {
		return replaces{}, fmt.Errorf("%w: call-id %q", ErrBadReplaces, clip(r.callID))
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if k == "" {
			return replaces{}, fmt.Errorf("%w: empty parameter", ErrBadReplaces)
		}
		if seen[k] {
			return replaces{}, fmt.Errorf("%w: %s given twice", ErrBadReplaces, clip(k))
		}
		seen[k] = true
		switch k {
		case "to-tag":
			r.toTag = v
		case "from-tag":
			r.fromTag = v
		case "early-only":
			r.earlyOnly = true
		}
	}
	if r.toTag == "" || r.fromTag == "" {
		return replaces{}, fmt.Errorf("%w: to-tag and from-tag are required", ErrBadReplaces)
	}
	if !isToken(r.toTag) || !isToken(r.fromTag) {
		return replaces{}, fmt.Errorf("%w: tag %q / %q", ErrBadReplaces, clip(r.toTag), clip(r.fromTag))
	}
	return r, nil
}

// String is the header value, "callid;to-tag=X;from-tag=Y".
func (r replaces) String() string {
	s := r.callID + ";to-tag=" + r.toTag + ";from-tag=" + r.fromTag
	if r.earlyOnly {
		s += ";early-only"
	}
	return s
}

// isCallID reports whether s is word ["@" word] (RFC 3261 section 25.1).
func isCallID(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isWordChar(s[i]) && s[i] != '@' {
			return false
		}
	}
	return true
}

// isWordChar: alphanum and the punctuation RFC 3261's word allows.
func isWordChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~()<>:\\\"/[]?{}", c) >= 0
}

// isToken reports whether s is a non-empty RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// escapeURIHeader escapes a header value for the headers part of a SIP
// URI (RFC 3261 section 19.1.1: hvalue is hnv-unreserved, unreserved or
// escaped): everything but alphanumerics and "-_.!~*'()" is %-escaped.
func escapeURIHeader(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// onReplacingInvite takes an INVITE with Replaces (RFC 3891 section 3):
// it names one of our connected calls by Call-ID and tags, and the new
// call takes that one over — answered here without ringing and without
// asking OnIncoming, with the codec of the old call when offered; then
// OnTransferred(old, new) is told and the old call ends with BYE. More
// than one Replaces or a malformed one gets 400, an unknown dialog (or
// one not yet answered) 481, an ended one 603, early-only on an answered
// call 486. Knowing the dialog's Call-ID and both tags is what
// authorises the take-over: they are only told to the parties of the
// call and the transferor it chose.
func (b *Bridge) onReplacingInvite(req *sip.Request, tx sip.ServerTransaction, hs []sip.Header) {
	if len(hs) > 1 {
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	r, err := parseReplaces(hs[0].Value())
	if err != nil {
		b.log.Info("sip replaces not understood", "err", err)
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	old := b.lookupCall(r.callID)
	if old == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	id, err := old.identity()
	switch {
	case errors.Is(err, ErrCallEnded):
		respond(tx, req, sip.StatusGlobalDecline, "Decline")
		return
	case err != nil, id.localTag != r.toTag, id.remoteTag != r.fromTag:
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	case r.earlyOnly:
		respond(tx, req, sip.StatusBusyHere, "Busy Here")
		return
	}
	offer, err := ParseSDP(req.Body())
	if err == nil {
		_, _, err = Negotiate(offer, supportedCodecs)
	}
	if err != nil {
		b.log.Info("sip replacing call refused", "call", old.id, "err", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	st := b.stack()
	if st == nil {
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	a := old.acct
	transport := strings.ToLower(req.Transport())
	dua := &sipgo.DialogUA{Client: st.client(transport), ContactHDR: st.contact(a.cfg.Username, transport)}
	dss, err := dua.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	defer dss.Close()
	remote := monitor.Party{}
	if from := req.From(); from != nil {
		remote = monitor.Party{Number: from.Address.User, Name: strings.Trim(from.DisplayName, `"`)}
	}
	key := req.CallID().Value()
	c := newCall(b, a, key, monitor.Inbound, remote)
	c.offered = offer.Codecs
	c.in = &inboundCall{dss: dss, offer: offer, decide: make(chan decision)}
	codecs := old.transferCodecs()
	c.tr.transferredFrom, c.tr.codecs = old.id, codecs
	if !b.addCall(c) {
		_ = dss.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	_ = dss.Respond(sip.StatusTrying, "Trying", nil)
	a.tracker.Start(c.tkey, monitor.Call{
		Direction: monitor.Inbound,
		From:      remote,
		To:        c.ourParty(),
		Line:      a.cfg.Name,
		Transfers: []monitor.Transfer{{Kind: monitor.TransferAttended, Transferer: old.remote, Transferred: remote, Targets: []monitor.Party{c.ourParty()}, At: time.Now()}},
	})
	accept := codecs
	if len(codecs) > 0 && slices.ContainsFunc(offer.Codecs, codecs[0].SameFormat) {
		// Keep the old call's codec: the page's track needs no change.
		accept = codecs[:1]
	}
	_, leg, err := c.acceptInbound(accept)
	if err != nil {
		b.removeCall(c)
		return
	}
	b.log.Info("sip call replaced", "call", old.id, "by", c.id)
	old.mu.Lock()
	old.tr.ending = "Replaced by a call from " + partyName(remote)
	old.mu.Unlock()
	b.transferred(old, c)
	old.askHangup()
	go func() {
		defer b.removeCall(c)
		c.inCall(leg, c.inboundBye, dss.Context())
	}()
}
